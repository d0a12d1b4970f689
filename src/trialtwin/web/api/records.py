"""A subject's clinical record, read only (``services.records.get_clinical_record``): baseline, dosing visits
with the engine's dose decisions as recorded, administrations, labs with CTCAE grades, tumour assessments with
the stored RECIST 1.1 responses per reader, adverse events, disposition, death, survival contacts.

Policy action ``subject.read`` (site-scoped: another site's subject is 404, trial-system-requirements B3)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from trialtwin.services import get_clinical_record
from trialtwin.web.deps import Access, DbDep, authorize

router = APIRouter(tags=["clinical"])

SubjectRead = Annotated[Access, Depends(authorize("subject.read"))]


@router.get("/studies/{study_id}/subjects/{screening_id}/record")
async def clinical_record(study_id: str, screening_id: str, _: SubjectRead, db: DbDep) -> dict[str, Any]:
    """The subject's clinical record as stored (empty lists before randomization)."""
    record = await run_in_threadpool(get_clinical_record, db, study_id, screening_id)
    return dataclasses.asdict(record)
