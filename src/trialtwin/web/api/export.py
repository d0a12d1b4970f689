"""The analysis frames as JSON (``{frame: [rows]}``), the same frames ``trialtwin export`` writes and
``trialtwin analyze`` reads. Data managers, statisticians and the sponsor with a role at every site; never
site roles (the export covers every site; allocation concealment does not apply to the open-label arms but
site isolation does, B3)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from trialtwin.services.export import export_frames
from trialtwin.web.deps import Access, DbDep, authorize

router = APIRouter(tags=["export"])


@router.get("/studies/{study_id}/export")
def export(
    study_id: str,
    _: Annotated[Access, Depends(authorize("export"))],
    db: DbDep,
    cutoff: Annotated[dt.date | None, Query(description="data cut-off date (inclusive)")] = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every analysis frame of the study as a list of rows (dates ISO 8601)."""
    frames = export_frames(db, study_id, cutoff=cutoff)
    return {name: json.loads(frame.to_json(orient="records", date_format="iso")) for name, frame in frames.items()}
