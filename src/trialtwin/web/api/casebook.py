"""A subject's casebook for inspectors: record, audit entries and e-signatures as JSON, CSV or PDF (21 CFR
11.10(b), 11.50; trial-system-requirements A8, C1, G18; see ``trialtwin.services.casebook``). Policy
``subject.read``: the subject readers of the subject's site (a subject of another site is a 404)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from trialtwin.services.casebook import MEDIA_TYPES, SCHEMA, build_casebook, filename, render
from trialtwin.services.uow import server_time
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize

router = APIRouter(tags=["casebook"])

_DOC = {
    "json": f"the document {SCHEMA!r}: record, signatures with manifestation, audit entries as stored",
    "csv": "one row per signature, record field and audit entry (column 'kind')",
    "pdf": "title, subject header, signature block, record sections, audit table",
}


@router.get(
    "/studies/{study_id}/subjects/{screening_id}/casebook",
    response_class=Response,
    responses={
        200: {
            "description": "the casebook as an attachment",
            "content": {MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string"}} for f in MEDIA_TYPES},
        }
    },
)
def casebook(
    study_id: str,
    screening_id: str,
    _: Annotated[Access, Depends(authorize("subject.read"))],
    db: DbDep,
    clock: ClockDep,
    format: Annotated[
        Literal["json", "csv", "pdf"], Query(description="; ".join(f"{k}: {v}" for k, v in _DOC.items()))
    ] = "json",
) -> Response:
    """The subject's casebook: the clinical record, its audit entries and its e-signatures (printed name, UTC
    date-time, meaning, valid or broken) as a download."""
    book = build_casebook(db, study_id, screening_id, now=server_time(clock))
    return Response(
        render(book, format),
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename(book, format)}"',
            "Cache-Control": "no-store",
        },
    )
