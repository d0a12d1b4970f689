"""Studies, sites, subjects and the screening → randomization workflow (web-contract.md)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from starlette.concurrency import run_in_threadpool

from trialtwin.services import (
    enter_eligibility,
    get_eligibility,
    get_randomization,
    get_screening,
    record_consent,
    register_screening,
)
from trialtwin.services.browse import get_study_summary, list_sites, list_studies, list_subjects, preview_eligibility
from trialtwin.services.idempotency import randomize_idempotent
from trialtwin.services.randomize import randomize_async
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import (
    ConsentRequest,
    EligibilityOut,
    EligibilityRequest,
    PreviewRequest,
    RandomizationOut,
    RegisterRequest,
    SiteOut,
    StudyOut,
    SubjectOut,
)

router = APIRouter(tags=["studies"])

StudyRead = Annotated[Access, Depends(authorize("study.read"))]
SubjectRead = Annotated[Access, Depends(authorize("subject.read"))]

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"


def _d(value: Any) -> dict[str, Any]:
    return dataclasses.asdict(value)


@router.get("/studies", response_model=list[StudyOut])
def studies(access: StudyRead, db: DbDep) -> list[StudyOut]:
    """Studies loaded in this service (a token sees its own study only)."""
    bound = access.who.study_id
    return [StudyOut(**_d(s)) for s in list_studies(db) if bound is None or s.id == bound]


@router.get("/studies/{study_id}", response_model=StudyOut)
def study(study_id: str, _: StudyRead, db: DbDep) -> StudyOut:
    return StudyOut(**_d(get_study_summary(db, study_id)))


@router.get("/studies/{study_id}/sites", response_model=list[SiteOut])
def sites(study_id: str, _: StudyRead, db: DbDep) -> list[SiteOut]:
    return [SiteOut(**_d(s)) for s in list_sites(db, study_id)]


@router.get("/studies/{study_id}/subjects", response_model=list[SubjectOut])
def subjects(study_id: str, access: SubjectRead, db: DbDep) -> list[SubjectOut]:
    """The subjects of the sites the caller may see (site isolation, B3)."""
    return [SubjectOut(**_d(s)) for s in list_subjects(db, study_id, access.sites)]


@router.post("/studies/{study_id}/subjects", response_model=SubjectOut, status_code=201)
def register(
    study_id: str,
    body: RegisterRequest,
    access: Annotated[Access, Depends(authorize("subject.register"))],
    db: DbDep,
    clock: ClockDep,
) -> SubjectOut:
    """Register a person screened at ``site``; returns the new screening id."""
    access.require_site(body.site)
    record = register_screening(db, study_id, body.site, actor=access.who.user_id, clock=clock)
    return SubjectOut(**_d(record))


@router.get(SUBJECT, response_model=SubjectOut)
def subject(study_id: str, screening_id: str, _: SubjectRead, db: DbDep) -> SubjectOut:
    return SubjectOut(**_d(get_screening(db, study_id, screening_id)))


@router.post(SUBJECT + "/consent", response_model=SubjectOut)
def consent(
    study_id: str,
    screening_id: str,
    body: ConsentRequest,
    access: Annotated[Access, Depends(authorize("consent.record"))],
    db: DbDep,
    clock: ClockDep,
) -> SubjectOut:
    record = record_consent(
        db,
        study_id,
        screening_id,
        body.consent_date,
        form_version=body.form_version,
        actor=access.who.user_id,
        clock=clock,
    )
    return SubjectOut(**_d(record))


def _eligibility(record: Any) -> EligibilityOut:
    data = _d(record)
    return EligibilityOut(
        study_id=data["study_id"],
        screening_id=data.get("screening_id"),
        facts_version=data.get("facts_version"),
        status=str(data["status"]),
        criteria=list(data["criteria"]),
        strata=dict(data["strata"]),
        missing_facts=list(data["missing_facts"]),
    )


@router.put(SUBJECT + "/eligibility", response_model=EligibilityOut)
def eligibility(
    study_id: str,
    screening_id: str,
    body: EligibilityRequest,
    access: Annotated[Access, Depends(authorize("eligibility.record"))],
    db: DbDep,
    clock: ClockDep,
) -> EligibilityOut:
    """Store the facts (a new version; a correction needs ``reason``) and the engine's verdict with reasons."""
    record = enter_eligibility(
        db, study_id, screening_id, body.facts, reason=body.reason, actor=access.who.user_id, clock=clock
    )
    return _eligibility(record)


@router.get(SUBJECT + "/eligibility", response_model=EligibilityOut | None)
def eligibility_read(study_id: str, screening_id: str, _: SubjectRead, db: DbDep) -> EligibilityOut | None:
    record = get_eligibility(db, study_id, screening_id)
    return None if record is None else _eligibility(record)


@router.post("/studies/{study_id}/eligibility/preview", response_model=EligibilityOut)
def eligibility_preview(
    study_id: str,
    body: PreviewRequest,
    _: Annotated[Access, Depends(authorize("eligibility.preview"))],
    db: DbDep,
) -> EligibilityOut:
    """The verdict on ``facts`` without saving (the screening form's live reasons)."""
    return _eligibility(preview_eligibility(db, study_id, body.facts))


@router.post(SUBJECT + "/randomization", response_model=RandomizationOut)
async def randomization(
    study_id: str,
    screening_id: str,
    access: Annotated[Access, Depends(authorize("randomize"))],
    db: DbDep,
    clock: ClockDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RandomizationOut:
    """Allocate an eligible subject. With ``Idempotency-Key``, a retry returns the same allocation (G2)."""
    # Async: the allocation is awaited from the group-commit writer (no worker thread blocks on it); the
    # idempotent path reads the stored key first, so it runs in a worker thread.
    if idempotency_key:
        result, _replayed = await run_in_threadpool(
            randomize_idempotent,
            db,
            study_id,
            screening_id,
            key=idempotency_key,
            actor=access.who.user_id,
            clock=clock,
        )
    else:
        result = await randomize_async(db, study_id, screening_id, actor=access.who.user_id, clock=clock)
    return RandomizationOut(**_d(result))


@router.get(SUBJECT + "/randomization", response_model=RandomizationOut | None)
def randomization_read(study_id: str, screening_id: str, _: SubjectRead, db: DbDep) -> RandomizationOut | None:
    result = get_randomization(db, study_id, screening_id)
    return None if result is None else RandomizationOut(**_d(result))


@router.get(SUBJECT + "/schedule")
def schedule(
    study_id: str,
    screening_id: str,
    _: SubjectRead,
    db: DbDep,
    weeks: Annotated[int, Query(ge=1, le=520)] = 24,
    regimen: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The subject's planned dosing days and scans from the randomization date."""
    from trialtwin.services.schedule import get_schedule

    return _d(get_schedule(db, study_id, screening_id, weeks=weeks, regimen=regimen))
