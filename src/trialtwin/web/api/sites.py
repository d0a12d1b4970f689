"""Site activation (trial-system-requirements D3; services in :mod:`trialtwin.services.sites`): an administrator
adds a site, inactive, and activates it once its approvals are in (policy ``site.manage``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from trialtwin.services.sites import activate_site, add_site
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import Request

router = APIRouter(tags=["sites"])

SiteManage = Annotated[Access, Depends(authorize("site.manage"))]


class AddSiteRequest(Request):
    code: str = Field(min_length=1, max_length=64, description="site code, e.g. CN-099")
    facility: str = Field(min_length=1, max_length=2000)
    city: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=1, max_length=200)


class ActivationRequest(Request):
    approval_ref: str = Field(min_length=1, max_length=200, description="the approval's reference (e.g. ethics)")
    approved_on: dt.date = Field(description="date of the approval (not after today)")


class SiteStatusOut(BaseModel):
    study_id: str
    code: str
    facility: str
    city: str
    country: str
    active: bool
    approval_ref: str | None = None
    approved_on: dt.date | None = None
    activated_at: dt.datetime | None = None


@router.post("/studies/{study_id}/sites", response_model=SiteStatusOut, status_code=201)
async def new_site(
    study_id: str, body: AddSiteRequest, access: SiteManage, db: DbDep, clock: ClockDep
) -> SiteStatusOut:
    """Add a site; it is inactive (registers no one) until activated with its approval."""
    result = await run_in_threadpool(
        lambda: add_site(
            db,
            study_id,
            body.code,
            facility=body.facility,
            city=body.city,
            country=body.country,
            actor=access.who.user_id,
            clock=clock,
        )
    )
    return SiteStatusOut(**dataclasses.asdict(result))


@router.post("/studies/{study_id}/sites/{site_code}/activation", response_model=SiteStatusOut)
async def activation(
    study_id: str, site_code: str, body: ActivationRequest, access: SiteManage, db: DbDep, clock: ClockDep
) -> SiteStatusOut:
    """Activate an inactive site after its approvals (reference and date recorded, audited)."""
    result = await run_in_threadpool(
        lambda: activate_site(
            db,
            study_id,
            site_code,
            approval_ref=body.approval_ref,
            approved_on=body.approved_on,
            actor=access.who.user_id,
            clock=clock,
        )
    )
    return SiteStatusOut(**dataclasses.asdict(result))
