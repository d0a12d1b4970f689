"""Tumour assessments: lesion measurements in, the RECIST 1.1 time-point response out.

One reader's assessments of one subject form a RECIST record (``trialtwin.engine.recist``): the first is the
baseline (within the protocol's baseline window before randomization; RECIST 1.1 §3.1), each later one is
assessed by the engine against the baseline sum (PR) and the nadir (PD; RECIST 1.1 §4.3.1, Tables 1-2) over
everything stored for that reader. Readers (``investigator``, ``BICR``) are kept apart (RECIST 1.1 §7: central
review is a separate assessment). Lesions are stored as measured; the response row is the engine's.

Assessments are entered in date order per reader; a changed measurement is a correction with a reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from trialtwin.engine.recist.assess import assess_recist
from trialtwin.engine.recist.best_response import RecistRules
from trialtwin.engine.recist.lesions import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistInputError,
    RecistRecord,
    TargetLesion,
)
from trialtwin.services.clinical_common import (
    FieldError,
    SubjectContext,
    check_bool,
    check_date,
    check_number,
    check_text,
    load_randomized,
    staff_context,
)
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.tables import Lesion, Response

READERS = {"investigator": "investigator", "bicr": "BICR"}
TOO_SMALL_MM = 5.0  # RECIST 1.1 §4.2 (appendix): "too small to measure" counts as 5 mm
MAX_DIAMETER_MM = 1000.0


@dataclass(frozen=True, slots=True)
class TargetMeasurement:
    """A target lesion: longest diameter in mm (short axis for a node; 0 = disappeared; None = not measured),
    or ``too_small`` (present but too small to measure, counted as 5 mm)."""

    lesion_id: str
    organ: str
    nodal: bool
    diameter_mm: float | None
    too_small: bool = False


@dataclass(frozen=True, slots=True)
class NonTargetFinding:
    """A non-target lesion's status: present, absent, unequivocal_progression or not_evaluated."""

    lesion_id: str
    organ: str
    nodal: bool
    status: str


@dataclass(frozen=True, slots=True)
class NewLesion:
    """An unequivocal new lesion (RECIST 1.1 §4.3.2)."""

    lesion_id: str
    organ: str


@dataclass(frozen=True, slots=True)
class TumourAssessmentIn:
    """One scan read by ``reader`` ("investigator" or "BICR") on ``assessment_date``."""

    assessment_date: dt.date
    reader: str
    targets: tuple[TargetMeasurement, ...] = ()
    non_targets: tuple[NonTargetFinding, ...] = ()
    new_lesions: tuple[NewLesion, ...] = ()


@dataclass(frozen=True, slots=True)
class TimepointResult:
    """The engine's time-point response (``baseline`` true and responses None for the baseline scan)."""

    study_id: str
    screening_id: str
    assessment_date: dt.date
    reader: str
    baseline: bool
    target: str | None
    non_target: str | None
    new_lesions: bool
    overall: str | None
    sum_mm: float | None
    pct_from_baseline: float | None
    nadir_mm: float | None
    response_id: int | None


def record_tumour_assessment(
    db: Database, study_id: str, screening_id: str, assessment: TumourAssessmentIn, *, actor: int, clock: Clock
) -> TimepointResult:
    """Store the lesion measurements and the engine's RECIST 1.1 response (see the module docstring).
    Site staff only; after randomization; not dated after a recorded death."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return record_tumour_assessment_in(uow, study_id, screening_id, assessment)


def _reader(value: Any) -> str:
    if not isinstance(value, str) or value.strip().casefold() not in READERS:
        raise FieldError("reader", f"must be investigator or BICR (got {value!r})")
    return READERS[value.strip().casefold()]


def _lesion_fields(lesion: Any, where: str) -> tuple[str, str, bool]:
    return (
        check_text(getattr(lesion, "lesion_id", None), f"{where}.lesion_id", max_len=64),
        check_text(getattr(lesion, "organ", None), f"{where}.organ", max_len=64),
        bool(check_bool(getattr(lesion, "nodal", None), f"{where}.nodal")),
    )


def _engine_assessment(assessment: TumourAssessmentIn, when: dt.date) -> Assessment:
    targets = []
    for i, t in enumerate(assessment.targets):
        lid, organ, nodal = _lesion_fields(t, f"targets[{i}]")
        too_small = bool(check_bool(t.too_small, f"targets[{i}].too_small"))
        diameter = (
            None
            if t.diameter_mm is None
            else check_number(t.diameter_mm, f"targets[{i}].diameter_mm", 0.0, MAX_DIAMETER_MM)
        )
        if too_small and diameter is not None:
            raise FieldError(f"targets[{i}].diameter_mm", "leave it empty for a lesion too small to measure")
        targets.append(TargetLesion(lid, organ, nodal, diameter, too_small))
    non_targets = []
    for i, n in enumerate(assessment.non_targets):
        lid, organ, nodal = _lesion_fields(n, f"non_targets[{i}]")
        try:
            status = LesionStatus(n.status)
        except ValueError:
            known = ", ".join(s.value for s in LesionStatus)
            raise FieldError(f"non_targets[{i}].status", f"must be one of {known} (got {n.status!r})") from None
        non_targets.append(NonTargetLesion(lid, organ, nodal, status))
    for i, new in enumerate(assessment.new_lesions):
        check_text(getattr(new, "lesion_id", None), f"new_lesions[{i}].lesion_id", max_len=64)
        check_text(getattr(new, "organ", None), f"new_lesions[{i}].organ", max_len=64)
    return Assessment(when, tuple(targets), tuple(non_targets), bool(assessment.new_lesions))


def stored_record(session: Any, ctx: SubjectContext, assessor: str) -> list[Assessment]:
    """The reader's stored assessments of the subject, in date order, as engine assessments."""
    query = (
        select(Lesion)
        .where(Lesion.subject_id == ctx.subject.id, Lesion.assessor == assessor)
        .order_by(Lesion.date, Lesion.id)
    )
    by_date: dict[dt.date, list[Lesion]] = {}
    for row in session.execute(query).scalars():
        by_date.setdefault(row.date, []).append(row)
    out = []
    for date, rows in by_date.items():
        targets = tuple(
            TargetLesion(r.lesion_id, r.organ, r.nodal, None if r.too_small else r.diameter_mm, bool(r.too_small))
            for r in rows
            if r.kind == "target"
        )
        non_targets = tuple(
            NonTargetLesion(r.lesion_id, r.organ, r.nodal, LesionStatus(r.status or "present"))
            for r in rows
            if r.kind == "non_target"
        )
        out.append(Assessment(date, targets, non_targets, any(r.kind == "new" for r in rows)))
    return out


def record_tumour_assessment_in(
    uow: UnitOfWork, study_id: str, screening_id: str, assessment: TumourAssessmentIn
) -> TimepointResult:
    """:func:`record_tumour_assessment` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    assessor = _reader(assessment.reader)
    previous = stored_record(uow.session, ctx, assessor)
    today = uow.now.date()
    if previous:
        when = check_date(assessment.assessment_date, "assessment_date", ctx, today)
        if when <= previous[-1].date:
            raise FieldError(
                "assessment_date", f"{when} is not after this reader's last assessment on {previous[-1].date}"
            )
    else:
        window = ctx.protocol.tumour_assessment.baseline_window_days if ctx.protocol.tumour_assessment else 28
        earliest = ctx.start - dt.timedelta(days=window)
        when = check_date(assessment.assessment_date, "assessment_date", ctx, today, earliest=earliest)
        if when > ctx.start:
            raise FieldError(
                "assessment_date",
                f"this reader has no baseline yet: the baseline scan is dated from {earliest} to the randomization "
                f"date {ctx.start} (protocol baseline window, RECIST 1.1 §3.1); got {when}",
            )
    current = _engine_assessment(assessment, when)
    if not previous and not current.target and not current.non_target:
        raise FieldError("targets", "the baseline assessment needs at least one target or non-target lesion")
    record = RecistRecord(ctx.start, (*previous, current))
    rules = RecistRules.from_protocol(ctx.protocol.response_rules)
    try:
        result = assess_recist(record, rules=rules, check=True)
    except RecistInputError as exc:
        raise FieldError("lesions", str(exc)) from None
    _save_lesions(uow, ctx, assessment, current, assessor)
    if not previous:
        return TimepointResult(
            study_id,
            screening_id,
            when,
            assessor,
            True,
            None,
            None,
            False,
            None,
            result.baseline_sum_mm,
            None,
            None,
            None,
        )
    tp = result.timepoints[-1]
    assert uow.actor is not None
    row = Response(
        subject_id=ctx.subject.id,
        date=when,
        assessor=assessor,
        target=tp.target.value if tp.target is not None else None,
        non_target=tp.non_target.value if tp.non_target is not None else None,
        new_lesions=tp.new_lesions,
        overall=tp.overall.value,
        sum_mm=tp.sum_mm,
        pct_from_baseline=tp.pct_from_baseline,
        recorded_at=uow.now,
        recorded_by=uow.actor,
    )
    uow.audit.create(row)
    return TimepointResult(
        study_id,
        screening_id,
        when,
        assessor,
        False,
        row.target,
        row.non_target,
        row.new_lesions,
        row.overall,
        tp.sum_mm,
        tp.pct_from_baseline,
        tp.nadir_mm,
        row.id,
    )


def _save_lesions(
    uow: UnitOfWork, ctx: SubjectContext, raw: TumourAssessmentIn, current: Assessment, assessor: str
) -> None:
    assert uow.actor is not None
    common = {"subject_id": ctx.subject.id, "date": current.date, "assessor": assessor}
    stamp = {"recorded_at": uow.now, "recorded_by": uow.actor}
    for t in current.target:
        uow.audit.create(
            Lesion(
                **common,
                lesion_id=t.id,
                kind="target",
                organ=t.organ,
                nodal=t.nodal,
                diameter_mm=t.diameter_mm,
                status=None,
                too_small=t.too_small,
                **stamp,
            )
        )
    for n in current.non_target:
        uow.audit.create(
            Lesion(
                **common,
                lesion_id=n.id,
                kind="non_target",
                organ=n.organ,
                nodal=n.nodal,
                diameter_mm=None,
                status=n.status.value,
                too_small=False,
                **stamp,
            )
        )
    for new in raw.new_lesions:
        uow.audit.create(
            Lesion(
                **common,
                lesion_id=new.lesion_id.strip(),
                kind="new",
                organ=new.organ.strip(),
                nodal=False,
                diameter_mm=None,
                status="present",
                too_small=False,
                **stamp,
            )
        )


def get_assessments(db: Database, study_id: str, screening_id: str) -> dict[str, list[Assessment]]:
    """Every stored assessment of the subject by reader (read only)."""
    with db.read_session() as session:
        ctx = load_randomized(session, study_id, screening_id)
        return {r: stored_record(session, ctx, r) for r in READERS.values()}
