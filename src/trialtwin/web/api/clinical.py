"""Clinical use cases of a randomized subject (services by helper-clinical; see docs/service/clinical.md):
baseline, dosing visits (the engine's dose decision), labs, tumour assessments (RECIST 1.1), adverse events,
end of treatment, new anticancer therapy, withdrawal, death, corrections."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from trialtwin.services.assessments import (
    NewLesion,
    NonTargetFinding,
    TargetMeasurement,
    TumourAssessmentIn,
    get_assessments,
    record_tumour_assessment,
)
from trialtwin.services.corrections import correct_record
from trialtwin.services.events import (
    AdverseEventIn,
    record_adverse_event,
    record_death,
    record_end_of_treatment,
    record_new_anticancer_therapy,
    record_survival_contact,
    record_withdrawal,
    resolve_adverse_event,
)
from trialtwin.services.labs import record_labs
from trialtwin.services.visits import BaselineIn, DosingVisitIn, record_baseline, record_dosing_visit
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import Request

router = APIRouter(tags=["clinical"])

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=64)]


def _d(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class BaselineBody(Request):
    weight_kg: float = Field(gt=0, le=500)
    height_cm: float = Field(gt=0, le=300)
    ecog: int = Field(ge=0, le=5)


class VisitBody(Request):
    cycle: int = Field(ge=1, le=1000)
    day: int = Field(ge=1, le=366)
    visit_date: dt.date
    weight_kg: float = Field(gt=0, le=500)
    labs: dict[str, Any] = Field(default_factory=dict)
    regimen: str | None = Field(default=None, max_length=64)


class LabsBody(Request):
    sample_date: dt.date
    labs: dict[str, Any]


class Target(Request):
    lesion_id: Name
    organ: Name
    nodal: bool = False
    diameter_mm: float | None = Field(default=None, ge=0, le=1000)
    too_small: bool = False


class NonTarget(Request):
    lesion_id: Name
    organ: Name
    nodal: bool = False
    status: Literal["present", "absent", "unequivocal_progression", "not_evaluated"]


class NewLesionBody(Request):
    lesion_id: Name
    organ: Name


class AssessmentBody(Request):
    assessment_date: dt.date
    reader: Literal["investigator", "BICR", "bicr"] = "investigator"
    targets: list[Target] = Field(default_factory=list, max_length=50)
    non_targets: list[NonTarget] = Field(default_factory=list, max_length=100)
    new_lesions: list[NewLesionBody] = Field(default_factory=list, max_length=100)


class AdverseEventBody(Request):
    term: str = Field(min_length=1, max_length=200)
    onset: dt.date
    grade: int | None = Field(default=None, ge=1, le=5)
    resolution: dt.date | None = None
    serious: bool = False
    related: bool | None = None
    febrile: bool | None = None
    infection: bool | None = None
    controlled: bool | None = None
    duration_days: int | None = Field(default=None, ge=0, le=100000)
    cycle: int | None = Field(default=None, ge=1, le=1000)
    cycle_day: int | None = Field(default=None, ge=1, le=366)
    lab_value: float | None = Field(default=None, ge=0, le=1e9)
    lab_unit: str | None = Field(default=None, max_length=32)
    lab_lln: float | None = Field(default=None, ge=0, le=1e9)
    lab_uln: float | None = Field(default=None, ge=0, le=1e9)


class ResolutionBody(Request):
    resolution: dt.date


class EndOfTreatmentBody(Request):
    eot_date: dt.date
    reason: str = Field(min_length=1, max_length=64)
    detail: str | None = Field(default=None, max_length=2000)


class NewTherapyBody(Request):
    start_date: dt.date
    detail: str = Field(min_length=1, max_length=2000)


class WithdrawalBody(Request):
    withdrawal_date: dt.date
    detail: str | None = Field(default=None, max_length=2000)


class SurvivalContactBody(Request):
    contact_date: dt.date


class DeathBody(Request):
    death_date: dt.date
    cause: str = Field(min_length=1, max_length=64)
    detail: str | None = Field(default=None, max_length=2000)


class CorrectionBody(Request):
    table: str = Field(min_length=1, max_length=64)
    record_id: Id
    changes: dict[str, Any] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=2000)


VisitRec = Annotated[Access, Depends(authorize("visit.record"))]
AssessmentRec = Annotated[Access, Depends(authorize("assessment.record"))]
AeRec = Annotated[Access, Depends(authorize("ae.record"))]
DispositionRec = Annotated[Access, Depends(authorize("disposition.record"))]


@router.post(SUBJECT + "/baseline", status_code=201)
def baseline(study_id: str, screening_id: str, body: BaselineBody, a: VisitRec, db: DbDep, clock: ClockDep) -> Any:
    """Baseline weight, height and ECOG."""
    data = BaselineIn(body.weight_kg, body.height_cm, body.ecog)
    return _d(record_baseline(db, study_id, screening_id, data, actor=a.who.user_id, clock=clock))


@router.post(SUBJECT + "/visits", status_code=201)
def visit(study_id: str, screening_id: str, body: VisitBody, a: VisitRec, db: DbDep, clock: ClockDep) -> Any:
    """A dosing visit: weight and labs in, the engine's dose decision and the administration out."""
    data = DosingVisitIn(body.cycle, body.day, body.visit_date, body.weight_kg, body.labs, body.regimen)
    return _d(record_dosing_visit(db, study_id, screening_id, data, actor=a.who.user_id, clock=clock))


@router.post(SUBJECT + "/labs", status_code=201)
def labs(study_id: str, screening_id: str, body: LabsBody, a: VisitRec, db: DbDep, clock: ClockDep) -> Any:
    """Laboratory results outside a dosing visit, graded (CTCAE v5.0)."""
    results = record_labs(db, study_id, screening_id, body.sample_date, body.labs, actor=a.who.user_id, clock=clock)
    return [_d(r) for r in results]


@router.post(SUBJECT + "/assessments", status_code=201)
def assessment(
    study_id: str, screening_id: str, body: AssessmentBody, a: AssessmentRec, db: DbDep, clock: ClockDep
) -> Any:
    """A tumour assessment: lesion measurements in, the RECIST 1.1 time-point response out."""
    data = TumourAssessmentIn(
        body.assessment_date,
        body.reader,
        tuple(TargetMeasurement(t.lesion_id, t.organ, t.nodal, t.diameter_mm, t.too_small) for t in body.targets),
        tuple(NonTargetFinding(n.lesion_id, n.organ, n.nodal, n.status) for n in body.non_targets),
        tuple(NewLesion(n.lesion_id, n.organ) for n in body.new_lesions),
    )
    return _d(record_tumour_assessment(db, study_id, screening_id, data, actor=a.who.user_id, clock=clock))


@router.get(SUBJECT + "/assessments")
def assessments(
    study_id: str, screening_id: str, _: Annotated[Access, Depends(authorize("subject.read"))], db: DbDep
) -> Any:
    """Stored assessments by reader."""
    return {reader: [_d(x) for x in items] for reader, items in get_assessments(db, study_id, screening_id).items()}


@router.post(SUBJECT + "/adverse-events", status_code=201)
def adverse_event(
    study_id: str, screening_id: str, body: AdverseEventBody, a: AeRec, db: DbDep, clock: ClockDep
) -> Any:
    """An adverse event with its CTCAE grade (given, or derived from a lab value)."""
    data = AdverseEventIn(**body.model_dump())
    return _d(record_adverse_event(db, study_id, screening_id, data, actor=a.who.user_id, clock=clock))


@router.post(SUBJECT + "/adverse-events/{event_id}/resolution")
def adverse_event_resolution(
    study_id: str, screening_id: str, event_id: int, body: ResolutionBody, a: AeRec, db: DbDep, clock: ClockDep
) -> Any:
    """Record the resolution date of an ongoing adverse event."""
    return _d(
        resolve_adverse_event(db, study_id, screening_id, event_id, body.resolution, actor=a.who.user_id, clock=clock)
    )


@router.post(SUBJECT + "/end-of-treatment", status_code=201)
def end_of_treatment(
    study_id: str, screening_id: str, body: EndOfTreatmentBody, a: DispositionRec, db: DbDep, clock: ClockDep
) -> Any:
    return _d(
        record_end_of_treatment(
            db,
            study_id,
            screening_id,
            body.eot_date,
            body.reason,
            detail=body.detail,
            actor=a.who.user_id,
            clock=clock,
        )
    )


@router.post(SUBJECT + "/new-therapy", status_code=201)
def new_therapy(
    study_id: str, screening_id: str, body: NewTherapyBody, a: DispositionRec, db: DbDep, clock: ClockDep
) -> Any:
    return _d(
        record_new_anticancer_therapy(
            db, study_id, screening_id, body.start_date, detail=body.detail, actor=a.who.user_id, clock=clock
        )
    )


@router.post(SUBJECT + "/withdrawal", status_code=201)
def withdrawal(
    study_id: str, screening_id: str, body: WithdrawalBody, a: DispositionRec, db: DbDep, clock: ClockDep
) -> Any:
    return _d(
        record_withdrawal(
            db, study_id, screening_id, body.withdrawal_date, detail=body.detail, actor=a.who.user_id, clock=clock
        )
    )


@router.post(SUBJECT + "/survival-contacts", status_code=204)
def survival_contact(
    study_id: str, screening_id: str, body: SurvivalContactBody, a: DispositionRec, db: DbDep, clock: ClockDep
) -> None:
    """Record that the subject was known alive on ``contact_date`` (long-term follow-up for overall survival)."""
    record_survival_contact(db, study_id, screening_id, body.contact_date, actor=a.who.user_id, clock=clock)


@router.post(SUBJECT + "/death", status_code=201)
def death(study_id: str, screening_id: str, body: DeathBody, a: DispositionRec, db: DbDep, clock: ClockDep) -> Any:
    return _d(
        record_death(
            db,
            study_id,
            screening_id,
            body.death_date,
            body.cause,
            detail=body.detail,
            actor=a.who.user_id,
            clock=clock,
        )
    )


@router.post(SUBJECT + "/corrections")
def correction(
    study_id: str,
    screening_id: str,
    body: CorrectionBody,
    a: Annotated[Access, Depends(authorize("record.correct"))],
    db: DbDep,
    clock: ClockDep,
) -> Any:
    """Correct an entered value (audited, old value kept, reason required; engine outputs re-derived)."""
    return _d(
        correct_record(
            db,
            study_id,
            screening_id,
            body.table,
            body.record_id,
            body.changes,
            reason=body.reason,
            actor=a.who.user_id,
            clock=clock,
        )
    )
