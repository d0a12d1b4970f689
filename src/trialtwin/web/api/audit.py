"""The audit trail, read only (no PUT/PATCH/DELETE route exists: 405; 21 CFR 11.10(e), ICH E6(R3) 4.2.2(b),
requirement A5). Without ``subject`` the whole trail (policy ``audit.read``); with it, that subject's entries
(policy ``subject.audit``: site-scoped readers of that subject's site)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from trialtwin.services.browse import audit_entries
from trialtwin.web.deps import Access, DbDep, authorize
from trialtwin.web.schemas import AuditEntryOut

router = APIRouter(tags=["audit"])

AuditRead = Annotated[Access, Depends(authorize("audit.read", subject_query="subject", subject_action="subject.audit"))]


@router.get("/studies/{study_id}/audit", response_model=list[AuditEntryOut])
async def audit(
    study_id: str,
    _: AuditRead,
    db: DbDep,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntryOut]:
    """Audit entries in chain order after ``after``; concealed fields read ``"[concealed]"``."""
    entries = await run_in_threadpool(
        audit_entries, db, study_id, screening_id=subject or None, after=after, limit=limit
    )
    return [AuditEntryOut(**e) for e in entries]
