"""IRT routes beyond allocation (trial-system-requirements E7, E9; services in :mod:`trialtwin.services.irt`).

* ``POST …/randomization/invalidation``: a data manager invalidates a mistaken randomization with a reason
  (policy ``randomization.invalidate``); the allocation is never changed and the subject stays in the ITT
  population (E7). There is no route that updates or deletes an allocation.
* ``POST …/randomization/manual``: site staff enter an allocation made from the sealed emergency list while
  the IRT was down (policy ``randomize``, the same people who randomize); the ledger row is marked manual (E9).

No route shows the randomization list, its hash or the next slot (E2/G5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from trialtwin.services.irt import invalidate_randomization, reconcile_manual_allocation
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import RandomizationOut, Request

router = APIRouter(tags=["randomization"])

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"


class InvalidationRequest(Request):
    reason: str = Field(min_length=1, max_length=2000, description="why the randomization was a mistake")


class InvalidationOut(BaseModel):
    study_id: str
    screening_id: str
    subject_number: str
    sequence: int
    reason: str
    invalidated_at: dt.datetime


class ManualAllocationRequest(Request):
    arm: str = Field(min_length=1, max_length=64, description="the arm the emergency list gave")
    emergency_ref: str = Field(min_length=1, max_length=200, description="the sealed envelope's reference")
    allocated_at: AwareDatetime = Field(description="when the site allocated from the emergency list (with offset)")


class ManualAllocationOut(BaseModel):
    allocation: RandomizationOut
    emergency_ref: str
    allocated_at: dt.datetime
    source: str


@router.post(SUBJECT + "/randomization/invalidation", response_model=InvalidationOut, status_code=201)
async def invalidation(
    study_id: str,
    screening_id: str,
    body: InvalidationRequest,
    access: Annotated[Access, Depends(authorize("randomization.invalidate"))],
    db: DbDep,
    clock: ClockDep,
) -> InvalidationOut:
    """Invalidate the subject's randomization with a reason (once; the allocation itself never changes)."""
    result = await run_in_threadpool(
        invalidate_randomization, db, study_id, screening_id, body.reason, actor=access.who.user_id, clock=clock
    )
    return InvalidationOut(**dataclasses.asdict(result))


@router.post(SUBJECT + "/randomization/manual", response_model=ManualAllocationOut, status_code=201)
async def manual_allocation(
    study_id: str,
    screening_id: str,
    body: ManualAllocationRequest,
    access: Annotated[Access, Depends(authorize("randomize"))],
    db: DbDep,
    clock: ClockDep,
) -> ManualAllocationOut:
    """Reconcile an allocation made from the emergency list; the arm must be the list slot's arm."""
    result = await run_in_threadpool(
        lambda: reconcile_manual_allocation(
            db,
            study_id,
            screening_id,
            arm=body.arm,
            emergency_ref=body.emergency_ref,
            allocated_at=body.allocated_at,
            actor=access.who.user_id,
            clock=clock,
        )
    )
    return ManualAllocationOut(
        allocation=RandomizationOut(**dataclasses.asdict(result.allocation)),
        emergency_ref=result.emergency_ref,
        allocated_at=result.allocated_at,
        source=result.source,
    )
