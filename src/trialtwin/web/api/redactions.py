"""Redaction of a free-text value entered by mistake that must not be shown (``services.redaction``;
trial-system-requirements A5; EMA/INS/GCP/112288/2023 §6; ICH E6(R3) 4.2.2).

``POST /studies/{study_id}/subjects/{screening_id}/redactions`` with ``{table, record_id, field, justification,
replacement?}``: the same shape and policy as a correction (``record.correct``: site staff at the subject's
site; another site's subject is the same 404 as an unknown one, B3). The value is replaced by ``[redacted]`` or
the given clean text, and one new audit entry records who, when and the justification; no earlier entry is
altered, and the readers mask the old value. Answers: 200 with the redaction; 422 naming ``justification``,
``table``, ``field`` or ``replacement`` (only :data:`~trialtwin.services.redaction.REDACTABLE` free-text fields
can be redacted); 404 when the subject has no such record.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from trialtwin.services.redaction import redact_value
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import Request

router = APIRouter(tags=["clinical"])

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
Redact = Annotated[Access, Depends(authorize("record.correct"))]


class RedactionBody(Request):
    table: str = Field(min_length=1, max_length=64, description="adverse_events or disposition")
    record_id: int = Field(ge=1, le=2**31 - 1, description="id of the subject's record (as the record API lists it)")
    field: str = Field(min_length=1, max_length=64, description="adverse_events: term; disposition: detail")
    justification: str = Field(min_length=1, max_length=2000, description="why (goes into the audit trail)")
    replacement: str | None = Field(
        default=None, min_length=1, max_length=2000, description="clean text shown instead (default [redacted])"
    )


@router.post(SUBJECT + "/redactions")
async def redaction(
    study_id: str, screening_id: str, body: RedactionBody, a: Redact, db: DbDep, clock: ClockDep
) -> Any:
    """Redact a free-text value entered by mistake (a new, justified audit entry; earlier entries masked)."""
    options: dict[str, Any] = {} if body.replacement is None else {"replacement": body.replacement}
    result = await run_in_threadpool(
        partial(
            redact_value,
            db,
            study_id,
            screening_id,
            body.table,
            body.record_id,
            body.field,
            justification=body.justification,
            actor=a.who.user_id,
            clock=clock,
            **options,
        )
    )
    return dataclasses.asdict(result)
