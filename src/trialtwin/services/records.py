"""Read use cases of one subject's record: the clinical record as stored, and the latest eligibility facts.

Nothing here writes, and nothing is re-decided: dose decisions are the engine's as recorded at each visit
(action, level, dose, the rule and label section cited; ICH E6(R3) 4.2.1: a decision is traceable to the data
known when it was made), RECIST 1.1 responses are the stored time-point rows per reader (RECIST 1.1 §7: the
investigator's and the central review's assessments are kept apart), labs carry their stored CTCAE v5.0
grades. Like the other reads, these take no actor: the caller applies the access policy (site isolation,
trial-system-requirements B3) before calling.

* :func:`get_clinical_record`: baseline, dosing visits with their decisions and labs, administrations, labs,
  tumour assessments with responses per reader, adverse events, disposition, death, survival contacts. A
  subject not (yet) randomized has an empty record (nothing clinical is recorded before randomization, B8).
* :func:`get_facts`: the latest saved version of the eligibility facts (a correction is the next version,
  21 CFR 11.10(e)), or None before any.
* :func:`correctable_fields`: what ``correct_record`` accepts, with each field's kind (for forms).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.engine.dose_modification import GIVEN_ACTIONS
from trialtwin.engine.recist.lesions import TargetLesion
from trialtwin.engine.recist.sums import compute_sum_of_diameters
from trialtwin.services.assessments import READERS
from trialtwin.services.corrections import CORRECTABLE
from trialtwin.store.db import Database
from trialtwin.store.repositories import get_subject, latest_facts, ledger_entry_for
from trialtwin.store.tables import (
    AdverseEvent,
    Death,
    Disposition,
    Exposure,
    Lab,
    Lesion,
    Response,
    Subject,
    SubjectBaseline,
    SurvivalContact,
    Visit,
)

GIVEN = GIVEN_ACTIONS


@dataclass(frozen=True, slots=True)
class BaselineView:
    id: int
    weight_kg: float
    height_cm: float
    ecog: int


@dataclass(frozen=True, slots=True)
class LabView:
    """A stored result: value and unit of the frame, CTCAE v5.0 grade, the value and unit as entered."""

    id: int
    date: dt.date
    test: str
    value: float
    unit: str
    grade: int
    entered_value: float | None
    entered_unit: str | None
    lln: float | None
    uln: float | None
    visit_id: int | None


@dataclass(frozen=True, slots=True)
class AdministrationView:
    """An exposure row: the dose given (or held/omitted/discontinued) at a visit."""

    id: int
    date: dt.date
    cycle: int
    day: int
    drug: str
    regimen: str | None
    action: str
    level: int
    dose: float
    unit: str
    percent: float | None
    dose_mg: float
    visit_id: int | None

    @property
    def given(self) -> bool:
        return self.action in GIVEN


@dataclass(frozen=True, slots=True)
class DosingVisitView:
    """A dosing visit with the engine's decision as recorded: ``action``, ``previous_level`` → ``level``, the
    dose, ``reason`` (the rules applied; empty for a routine full dose) and ``source`` (label sections)."""

    visit_id: int
    exposure_id: int | None
    visit: str
    visit_date: dt.date
    cycle: int | None
    day: int | None
    weight_kg: float | None
    regimen: str | None
    drug: str | None
    delay_days: int
    action: str | None
    previous_level: int
    level: int | None
    dose: float | None
    unit: str | None
    percent: float | None
    dose_mg: float | None
    reason: str
    source: str
    labs: tuple[LabView, ...]


@dataclass(frozen=True, slots=True)
class LesionView:
    id: int
    lesion_id: str
    kind: str  # target, non_target, new
    organ: str
    nodal: bool
    diameter_mm: float | None
    too_small: bool
    status: str | None


@dataclass(frozen=True, slots=True)
class ResponseView:
    """A stored RECIST 1.1 time-point response; ``nadir_mm``: the smallest complete sum before it, baseline
    included (the PD reference, RECIST 1.1 §4.3.1)."""

    id: int
    target: str | None
    non_target: str | None
    new_lesions: bool
    overall: str
    sum_mm: float | None
    pct_from_baseline: float | None
    nadir_mm: float | None


@dataclass(frozen=True, slots=True)
class AssessmentView:
    """One scan of one reader: its lesions and, after the baseline, the stored response."""

    reader: str
    date: dt.date
    baseline: bool
    sum_mm: float | None
    lesions: tuple[LesionView, ...]
    response: ResponseView | None

    @property
    def targets(self) -> tuple[LesionView, ...]:
        return tuple(x for x in self.lesions if x.kind == "target")

    @property
    def non_targets(self) -> tuple[LesionView, ...]:
        return tuple(x for x in self.lesions if x.kind == "non_target")

    @property
    def new(self) -> tuple[LesionView, ...]:
        return tuple(x for x in self.lesions if x.kind == "new")


@dataclass(frozen=True, slots=True)
class AdverseEventView:
    id: int
    term: str
    grade: int
    onset: dt.date
    resolution: dt.date | None
    serious: bool
    related: bool | None
    cycle: int | None
    cycle_day: int | None
    febrile: bool | None
    infection: bool | None
    controlled: bool | None
    duration_days: int | None
    lab_value: float | None


@dataclass(frozen=True, slots=True)
class DispositionView:
    id: int
    event: str
    date: dt.date
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class DeathView:
    id: int
    date: dt.date
    cause: str


@dataclass(frozen=True, slots=True)
class SurvivalContactView:
    id: int
    date: dt.date
    status: str


@dataclass(frozen=True, slots=True)
class ClinicalRecordView:
    """Everything clinical recorded for one subject (lists in date order; ``assessments`` by reader)."""

    study_id: str
    screening_id: str
    subject_number: str | None
    arm: str | None
    randomized_on: dt.date | None
    baseline: BaselineView | None
    visits: tuple[DosingVisitView, ...]
    administrations: tuple[AdministrationView, ...]
    labs: tuple[LabView, ...]
    assessments: dict[str, tuple[AssessmentView, ...]]
    adverse_events: tuple[AdverseEventView, ...]
    disposition: tuple[DispositionView, ...]
    death: DeathView | None
    survival_contacts: tuple[SurvivalContactView, ...]

    def visit(self, visit_id: int) -> DosingVisitView | None:
        return next((v for v in self.visits if v.visit_id == visit_id), None)

    def assessment(self, reader: str, date: dt.date) -> AssessmentView | None:
        return next((a for a in self.assessments.get(reader, ()) if a.date == date), None)

    def adverse_event(self, event_id: int) -> AdverseEventView | None:
        return next((e for e in self.adverse_events if e.id == event_id), None)


@dataclass(frozen=True, slots=True)
class FactsRecord:
    """The latest saved eligibility facts (``version`` 1 is the first entry; later ones are corrections)."""

    study_id: str
    screening_id: str
    version: int
    facts: dict[str, Any]
    entered_at: dt.datetime
    entered_by: int


@dataclass(frozen=True, slots=True)
class CorrectableField:
    """A field ``correct_record`` accepts: ``kind`` is number, integer, date, boolean or text; ``optional``
    when it may be emptied."""

    name: str
    kind: str
    optional: bool


# ---- reads ------------------------------------------------------------------------------------------------------


def _rows(session: Session, model: Any, subject_pk: int, *order: Any) -> list[Any]:
    query = select(model).where(model.subject_id == subject_pk).order_by(*order, model.id)
    return list(session.execute(query).scalars())


def _lab(row: Lab) -> LabView:
    return LabView(
        row.id,
        row.date,
        row.test,
        row.value,
        row.unit,
        row.grade,
        row.entered_value,
        row.entered_unit,
        row.lln,
        row.uln,
        row.visit_id,
    )


def _administration(row: Exposure) -> AdministrationView:
    return AdministrationView(
        row.id,
        row.date,
        row.cycle,
        row.cycle_day,
        row.drug,
        row.regimen,
        row.action,
        row.dose_level,
        row.dose,
        row.unit,
        row.percent,
        row.dose_mg,
        row.visit_id,
    )


def _visits(visits: list[Visit], exposure: list[Exposure], labs: list[LabView]) -> tuple[DosingVisitView, ...]:
    """Each visit with its decision; ``previous_level`` is the level of the last dose given before it (0
    before any), the level the engine started from (``services.visits``)."""
    by_visit = {e.visit_id: e for e in exposure if e.visit_id is not None}
    out = []
    for v in visits:
        e = by_visit.get(v.id)
        before = [x for x in exposure if x.action in GIVEN and e is not None and (x.date, x.id) < (e.date, e.id)]
        out.append(
            DosingVisitView(
                v.id,
                e.id if e is not None else None,
                v.visit,
                v.date,
                v.cycle,
                v.cycle_day,
                v.weight_kg,
                v.regimen,
                e.drug if e is not None else None,
                v.delay_days or 0,
                e.action if e is not None else None,
                before[-1].dose_level if before else 0,
                e.dose_level if e is not None else None,
                e.dose if e is not None else None,
                e.unit if e is not None else None,
                e.percent if e is not None else None,
                e.dose_mg if e is not None else None,
                e.reason if e is not None else "",
                (e.source or "") if e is not None else "",
                tuple(lab for lab in labs if lab.visit_id == v.id),
            )
        )
    return tuple(out)


def _lesion(row: Lesion) -> LesionView:
    return LesionView(
        row.id, row.lesion_id, row.kind, row.organ, row.nodal, row.diameter_mm, bool(row.too_small), row.status
    )


def _baseline_sum(lesions: list[Lesion]) -> float | None:
    targets = [
        TargetLesion(r.lesion_id, r.organ, r.nodal, None if r.too_small else r.diameter_mm, bool(r.too_small))
        for r in lesions
        if r.kind == "target"
    ]
    if not targets or any(t.diameter_mm is None and not t.too_small for t in targets):
        return None
    return round(compute_sum_of_diameters(targets), 4)


def _assessments(lesions: list[Lesion], responses: list[Response]) -> dict[str, tuple[AssessmentView, ...]]:
    out: dict[str, tuple[AssessmentView, ...]] = {}
    for reader in READERS.values():
        by_date: dict[dt.date, list[Lesion]] = {}
        for row in lesions:
            if row.assessor == reader:
                by_date.setdefault(row.date, []).append(row)
        stored = {r.date: r for r in responses if r.assessor == reader}
        views: list[AssessmentView] = []
        baseline_sum: float | None = None
        nadir: float | None = None
        for i, (date, rows) in enumerate(sorted(by_date.items())):
            response = stored.get(date)
            if i == 0:
                baseline_sum = nadir = _baseline_sum(rows)
                views.append(AssessmentView(reader, date, True, baseline_sum, tuple(map(_lesion, rows)), None))
                continue
            view = None
            if response is not None:
                view = ResponseView(
                    response.id,
                    response.target,
                    response.non_target,
                    response.new_lesions,
                    response.overall,
                    response.sum_mm,
                    response.pct_from_baseline,
                    nadir,
                )
                if response.sum_mm is not None and nadir is not None and response.sum_mm < nadir:
                    nadir = response.sum_mm
            total = response.sum_mm if response is not None else None
            views.append(AssessmentView(reader, date, False, total, tuple(map(_lesion, rows)), view))
        out[reader] = tuple(views)
    return out


def _empty(subject: Subject) -> ClinicalRecordView:
    return ClinicalRecordView(
        subject.study_id,
        subject.screening_id,
        subject.subject_number,
        None,
        None,
        None,
        (),
        (),
        (),
        dict.fromkeys(READERS.values(), ()),
        (),
        (),
        None,
        (),
    )


def get_clinical_record(db: Database, study_id: str, screening_id: str) -> ClinicalRecordView:
    """The subject's clinical record as stored (read only; see the module docstring). ``RecordNotFound`` for
    an unknown study or subject."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        entry = ledger_entry_for(session, subject.id)
        if entry is None:
            return _empty(subject)
        pk = subject.id
        labs = [_lab(r) for r in _rows(session, Lab, pk, Lab.date)]
        exposure = _rows(session, Exposure, pk, Exposure.date)
        baseline = session.execute(select(SubjectBaseline).where(SubjectBaseline.subject_id == pk)).scalar_one_or_none()
        death = session.execute(select(Death).where(Death.subject_id == pk)).scalar_one_or_none()
        return ClinicalRecordView(
            study_id,
            screening_id,
            subject.subject_number,
            entry.arm,
            entry.randomized_at.astimezone(dt.UTC).date(),
            BaselineView(baseline.id, baseline.weight_kg, baseline.height_cm, baseline.ecog) if baseline else None,
            _visits(_rows(session, Visit, pk, Visit.date), exposure, labs),
            tuple(map(_administration, exposure)),
            tuple(labs),
            _assessments(_rows(session, Lesion, pk, Lesion.date), _rows(session, Response, pk, Response.date)),
            tuple(
                AdverseEventView(
                    r.id,
                    r.term,
                    r.grade,
                    r.start_date,
                    r.end_date,
                    r.serious,
                    r.related,
                    r.cycle,
                    r.cycle_day,
                    r.febrile,
                    r.infection,
                    r.controlled,
                    r.duration_days,
                    r.lab_value,
                )
                for r in _rows(session, AdverseEvent, pk, AdverseEvent.start_date)
            ),
            tuple(
                DispositionView(r.id, r.event, r.date, r.reason, r.detail or "")
                for r in _rows(session, Disposition, pk, Disposition.date)
            ),
            DeathView(death.id, death.date, death.cause) if death is not None else None,
            tuple(
                SurvivalContactView(r.id, r.date, r.status)
                for r in _rows(session, SurvivalContact, pk, SurvivalContact.date)
            ),
        )


def get_facts(db: Database, study_id: str, screening_id: str) -> FactsRecord | None:
    """The subject's latest saved eligibility facts (read only), or None before any."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        row = latest_facts(session, subject.id)
        if row is None:
            return None
        return FactsRecord(study_id, screening_id, row.version, dict(row.facts), row.entered_at, row.entered_by)


_KINDS = {float: "number", int: "integer", dt.date: "date", bool: "boolean", str: "text"}


def correctable_fields() -> dict[str, tuple[CorrectableField, ...]]:
    """Per table, the fields :func:`trialtwin.services.corrections.correct_record` accepts, with their kind
    (from the column type) and whether they may be emptied (nullable column)."""
    out: dict[str, tuple[CorrectableField, ...]] = {}
    for table, (model, checks) in CORRECTABLE.items():
        columns = model.__table__.columns
        fields = []
        for name in checks:
            column = columns[name]
            kind = _KINDS.get(column.type.python_type, "text")
            fields.append(CorrectableField(name, kind, bool(column.nullable)))
        out[table] = tuple(fields)
    return out
