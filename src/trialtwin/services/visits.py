"""Baseline and dosing visits: weight and labs in, the engine's dose decision and the administration out.

A dosing visit (cycle ``c``, day ``d`` of the regimen, on ``visit_date``) is one transaction (DESIGN.md
"services"): the labs are stored with their CTCAE v5.0 grades (:mod:`trialtwin.services.labs`), the engine
decides the dose (``trialtwin.engine.dose_modification.evaluate_dose``: give / reduce / hold / omit /
discontinue, citing the label rule) from the subject's stored history, the amount is computed
(``trialtwin.engine.dosing.compute_dose``) and the exposure row is written, all audited.

The history the engine sees is what the site has recorded before the visit, nothing later (so a decision can
be re-derived from the record; ICH E6(R3) 4.2.1):

* current level: the level of the last administered dose (0 before any);
* toxicity history: every adverse event with onset on or before the visit date, attributed to the
  administration it follows (its ``cycle``/``cycle_day``), with its grade today = 0 once resolved (end date on
  or before the visit) and its worst grade while ongoing;
* delay: days since the first evaluation of the same (cycle, day) (a re-evaluation after a hold);
* consecutive holds: administrations held or omitted in a row just before this one.

Refused (nothing written): before randomization, a dose after discontinuation or after the end of treatment,
a visit after a recorded death, a (cycle, day) already given, a date before the previous evaluation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from trialtwin.engine.dose_modification import (
    GIVEN_ACTIONS,
    DoseAction,
    DoseDecision,
    DoseModificationError,
    ToxicityEvent,
    evaluate_dose,
)
from trialtwin.engine.dosing import DosingError, compute_dose
from trialtwin.engine.schedule import ScheduleError, choose_regimen
from trialtwin.engine.toxicity_history import AdverseEpisode, ToxicityHistory
from trialtwin.protocol.model import Regimen
from trialtwin.services.clinical_common import (
    FieldError,
    SubjectContext,
    check_date,
    check_int,
    check_number,
    staff_context,
    subject_regimen,
)
from trialtwin.services.errors import WorkflowError
from trialtwin.services.labs import LabResult, lab_rows, parse_labs
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.tables import AdverseEvent, Disposition, Exposure, SubjectBaseline, Visit

WEIGHT_RANGE_KG = (20.0, 300.0)
HEIGHT_RANGE_CM = (100.0, 250.0)
GIVEN = GIVEN_ACTIONS
NOT_GIVEN = (DoseAction.HOLD.value, DoseAction.OMIT.value)


@dataclass(frozen=True, slots=True)
class BaselineIn:
    """Baseline measurements: weight (kg), height (cm), ECOG performance status (0-5)."""

    weight_kg: float
    height_cm: float
    ecog: int


@dataclass(frozen=True, slots=True)
class DosingVisitIn:
    """A dosing visit as entered.

    ``labs``: ``{test: value}`` or ``{test: {"value", "unit"[, "uln"][, "lln"]}}`` (see
    :mod:`trialtwin.services.labs`); the regimen's required labs (ANC, and platelets for some drugs) must be
    present. ``regimen`` (id or drug) is needed at the first visit of a physician's-choice arm.
    """

    cycle: int
    day: int
    visit_date: dt.date
    weight_kg: float
    labs: Mapping[str, Any] = field(default_factory=dict)
    regimen: str | None = None


@dataclass(frozen=True, slots=True)
class DosingVisitResult:
    """The engine's decision and the administration recorded.

    ``action``: give / reduce / hold / omit / discontinue; ``level``: level after the decision; ``dose`` in
    ``unit`` and ``dose_mg`` per day (0 when not given); ``reason`` and ``source``: the rules applied and the
    label sections they come from; ``findings``: one ``{rule, effect, reason, source}`` per rule.
    """

    study_id: str
    screening_id: str
    visit_id: int
    exposure_id: int
    visit: str
    visit_date: dt.date
    cycle: int
    day: int
    regimen: str
    drug: str
    action: str
    previous_level: int
    level: int
    dose: float
    unit: str
    percent: float
    dose_mg: float
    reason: str
    source: str
    findings: tuple[dict[str, str], ...]
    delay_days: int
    labs: tuple[LabResult, ...]


@dataclass(frozen=True, slots=True)
class BaselineRecord:
    study_id: str
    screening_id: str
    weight_kg: float
    height_cm: float
    ecog: int


def record_baseline(
    db: Database, study_id: str, screening_id: str, baseline: BaselineIn, *, actor: int, clock: Clock
) -> BaselineRecord:
    """Record the subject's baseline weight, height and ECOG status (once; a change is a correction with a
    reason, :func:`trialtwin.services.corrections.correct_record`). Site staff only, after randomization."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return record_baseline_in(uow, study_id, screening_id, baseline)


def record_baseline_in(uow: UnitOfWork, study_id: str, screening_id: str, baseline: BaselineIn) -> BaselineRecord:
    """:func:`record_baseline` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    weight = check_number(baseline.weight_kg, "weight_kg", *WEIGHT_RANGE_KG)
    height = check_number(baseline.height_cm, "height_cm", *HEIGHT_RANGE_CM)
    ecog = check_int(baseline.ecog, "ecog", 0, 5)
    if _baseline(uow, ctx) is not None:
        raise WorkflowError(f"subject {screening_id}: baseline is recorded already; correct it with a reason")
    assert uow.actor is not None
    row = SubjectBaseline(
        subject_id=ctx.subject.id,
        weight_kg=weight,
        height_cm=height,
        ecog=ecog,
        recorded_at=uow.now,
        recorded_by=uow.actor,
    )
    uow.audit.create(row)
    return BaselineRecord(study_id, screening_id, weight, height, ecog)


def _baseline(uow: UnitOfWork, ctx: SubjectContext) -> SubjectBaseline | None:
    query = select(SubjectBaseline).where(SubjectBaseline.subject_id == ctx.subject.id)
    return uow.session.execute(query).scalar_one_or_none()


def record_dosing_visit(
    db: Database, study_id: str, screening_id: str, visit: DosingVisitIn, *, actor: int, clock: Clock
) -> DosingVisitResult:
    """Record a dosing visit and return the engine's dose decision (see the module docstring)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return record_dosing_visit_in(uow, study_id, screening_id, visit)


def _regimen(uow: UnitOfWork, ctx: SubjectContext, asked: str | None) -> Regimen:
    known = subject_regimen(uow.session, ctx)
    if asked is not None and not isinstance(asked, str):
        raise FieldError("regimen", f"must be text (got {asked!r})")
    arm = ctx.protocol.arm(ctx.arm)
    try:
        chosen = choose_regimen(ctx.protocol, arm, asked or known)
    except ScheduleError as exc:
        raise FieldError("regimen", str(exc)) from None
    if known is not None and chosen.id != known:
        raise FieldError("regimen", f"the subject is dosed with {known}; the regimen cannot change at a visit")
    return chosen


def _history(uow: UnitOfWork, ctx: SubjectContext, visit_date: dt.date) -> list[ToxicityEvent]:
    """The toxicity history the dose rules read at a visit on ``visit_date``: the stored adverse events as the
    site knows them that day (:class:`trialtwin.engine.toxicity_history.ToxicityHistory`, the twin's rule too)."""
    query = (
        select(AdverseEvent)
        .where(AdverseEvent.subject_id == ctx.subject.id, AdverseEvent.start_date <= visit_date)
        .order_by(AdverseEvent.start_date, AdverseEvent.id)
    )
    history = ToxicityHistory(
        AdverseEpisode(
            term=ae.term,
            grade=ae.grade,
            onset=ae.start_date,
            resolution=ae.end_date,
            cycle=ae.cycle,
            day=ae.cycle_day,
            febrile=bool(ae.febrile),
            infection=bool(ae.infection),
            controlled=bool(ae.controlled),
            duration_days=ae.duration_days,
        )
        for ae in uow.session.execute(query).scalars()
    )
    return list(history.on(visit_date))


def _exposure(uow: UnitOfWork, ctx: SubjectContext) -> list[Exposure]:
    query = select(Exposure).where(Exposure.subject_id == ctx.subject.id).order_by(Exposure.date, Exposure.id)
    return list(uow.session.execute(query).scalars())


def _consecutive_holds(rows: Sequence[Exposure], cycle: int, day: int) -> int:
    held: set[tuple[int, int]] = set()
    for row in reversed(rows):
        if (row.cycle, row.cycle_day) == (cycle, day):
            continue
        if row.action not in NOT_GIVEN:
            break
        held.add((row.cycle, row.cycle_day))
    return len(held)


def record_dosing_visit_in(
    uow: UnitOfWork, study_id: str, screening_id: str, visit: DosingVisitIn
) -> DosingVisitResult:
    """:func:`record_dosing_visit` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    cycle = check_int(visit.cycle, "cycle", 1, 1000)
    day = check_int(visit.day, "day", 1, 366)
    visit_date = check_date(visit.visit_date, "visit_date", ctx, uow.now.date())
    weight = check_number(visit.weight_kg, "weight_kg", *WEIGHT_RANGE_KG)
    regimen = _regimen(uow, ctx, visit.regimen)
    if day not in regimen.dosing_days:
        days = ", ".join(str(d) for d in regimen.dosing_days)
        raise FieldError("day", f"{regimen.drug} is given on day(s) {days} of each cycle (got {day})")
    parsed = parse_labs(visit.labs)
    if ctx.death is not None:
        raise WorkflowError(f"subject {screening_id} died on {ctx.death.date}; no dosing visit can be recorded")
    eot = uow.session.execute(
        select(Disposition).where(Disposition.subject_id == ctx.subject.id, Disposition.event == "end_of_treatment")
    ).scalar_one_or_none()
    if eot is not None:
        raise WorkflowError(f"subject {screening_id}: treatment ended on {eot.date}; no further dosing visit")
    rows = _exposure(uow, ctx)
    if rows:
        last = rows[-1]
        if last.action == DoseAction.DISCONTINUE.value:
            raise WorkflowError(f"subject {screening_id}: {last.drug} was discontinued on {last.date}")
        if visit_date <= last.date:
            raise FieldError("visit_date", f"{visit_date} is not after the previous evaluation on {last.date}")
        if (cycle, day) < (last.cycle, last.cycle_day):
            raise FieldError("cycle", f"C{cycle}D{day} comes before the last recorded C{last.cycle}D{last.cycle_day}")
    if any((r.cycle, r.cycle_day) == (cycle, day) and r.action in GIVEN for r in rows):
        raise WorkflowError(f"subject {screening_id}: the C{cycle}D{day} dose is recorded already")
    same = [r for r in rows if (r.cycle, r.cycle_day) == (cycle, day)]
    delay = (visit_date - same[0].date).days if same else 0
    given = [r for r in rows if r.action in GIVEN]
    current = given[-1].dose_level if given else 0
    baseline = _baseline(uow, ctx)
    try:
        decision = evaluate_dose(
            regimen,
            cycle,
            day,
            parsed.labs,
            _history(uow, ctx, visit_date),
            current,
            delay_days=delay,
            consecutive_holds=_consecutive_holds(rows, cycle, day),
        )
    except DoseModificationError as exc:
        raise FieldError("labs", str(exc)) from None
    dose_mg = _dose_mg(regimen, decision, weight, baseline)
    return _save(uow, ctx, visit, regimen, decision, parsed, weight, delay, dose_mg, visit_date)


def _dose_mg(regimen: Regimen, decision: DoseDecision, weight: float, baseline: SubjectBaseline | None) -> float:
    if not decision.given or decision.level is None:
        return 0.0
    height = baseline.height_cm if baseline is not None else None
    try:
        amount = compute_dose(regimen, weight, height, level=decision.level, percent=decision.percent)
    except DosingError as exc:
        if height is None:
            raise WorkflowError(f"{exc}: record the subject's baseline (height) first") from None
        raise FieldError("weight_kg", str(exc)) from None
    return round(amount.per_day_mg, 1)


def _save(
    uow: UnitOfWork,
    ctx: SubjectContext,
    visit: DosingVisitIn,
    regimen: Regimen,
    decision: DoseDecision,
    parsed: Any,
    weight: float,
    delay: int,
    dose_mg: float,
    visit_date: dt.date,
) -> DosingVisitResult:
    assert uow.actor is not None
    label = f"C{decision.cycle}D{decision.day}"
    visit_row = Visit(
        subject_id=ctx.subject.id,
        visit=label,
        date=visit_date,
        cycle=decision.cycle,
        cycle_day=decision.day,
        weight_kg=weight,
        regimen=regimen.id,
        delay_days=delay,
        recorded_at=uow.now,
        recorded_by=uow.actor,
    )
    uow.audit.create(visit_row)
    for lab in lab_rows(
        parsed, visit.labs, subject_pk=ctx.subject.id, sample_date=visit_date, visit_id=visit_row.id, uow=uow
    ):
        uow.audit.create(lab)
    level = decision.level if decision.level is not None else decision.previous_level
    routine = decision.action is DoseAction.GIVE and decision.percent >= 100
    exposure = Exposure(
        subject_id=ctx.subject.id,
        date=visit_date,
        cycle=decision.cycle,
        cycle_day=decision.day,
        drug=regimen.drug,
        action=decision.action.value,
        dose_level=level,
        planned_dose=regimen.dose.amount,
        dose=decision.dose,
        unit=regimen.dose.unit.value,
        dose_mg=dose_mg,
        reason="" if routine else decision.reason,
        visit_id=visit_row.id,
        regimen=regimen.id,
        percent=decision.percent,
        source=decision.source,
        recorded_at=uow.now,
        recorded_by=uow.actor,
    )
    uow.audit.create(exposure)
    data = decision.to_data()
    return DosingVisitResult(
        ctx.subject.study_id,
        ctx.subject.screening_id,
        visit_row.id,
        exposure.id,
        label,
        visit_date,
        decision.cycle,
        decision.day,
        regimen.id,
        regimen.drug,
        decision.action.value,
        decision.previous_level,
        level,
        decision.dose,
        regimen.dose.unit.value,
        decision.percent,
        dose_mg,
        decision.reason,
        decision.source,
        tuple(data["findings"]),
        delay,
        parsed.results,
    )
