"""Redaction of a free-text value entered by mistake (``services.redaction.redact_value``; policy action
``record.correct``, like corrections: site staff at the subject's site; another site's subject is 404).

Trial-system-requirements A5 ("rare redactions are themselves logged with a justification");
EMA/INS/GCP/112288/2023 §6; ICH E6(R3) 4.2.2. The form lists the subject's redactable values (the free-text
fields of :data:`~trialtwin.services.redaction.REDACTABLE`: an adverse event's term, a disposition's detail),
asks for a justification and, optionally, clean text to show instead of ``[redacted]``. A redaction writes one
new audit entry; earlier entries are never altered, and the screens mask the old value. The page lists the
subject's redactions (who, when, why) from the audit trail. A saved redaction answers 303 to this page
(Post/Redirect/Get).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import ClinicalRecordView, get_clinical_record, get_screening
from trialtwin.services.redaction import REDACTABLE, REDACTION_PREFIX, redact_value
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, FormReader, service_errors
from trialtwin.web.pages._render import render
from trialtwin.web.pages.corrections import subject_updates

router = APIRouter()

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
Redact = Annotated[Access, Depends(authorize("record.correct"))]


def value_options(rec: ClinicalRecordView) -> list[tuple[str, str]]:
    """``("table:id:field", label)`` for every redactable value of the subject (already redacted ones too)."""
    out: list[tuple[str, str]] = []
    if "term" in REDACTABLE.get("adverse_events", ()):
        out += [
            (f"adverse_events:{e.id}:term", f"AE {e.onset} (grade {e.grade}), term: {e.term}")
            for e in rec.adverse_events
        ]
    if "detail" in REDACTABLE.get("disposition", ()):
        out += [
            (f"disposition:{d.id}:detail", f"{d.event.replace('_', ' ')} {d.date}, detail: {d.detail}")
            for d in rec.disposition
            if d.detail
        ]
    return out


def _history(db: Any, study_id: str, screening_id: str) -> list[dict[str, Any]]:
    """The subject's redaction entries from the audit trail, newest first."""
    prefix = REDACTION_PREFIX
    return subject_updates(db, study_id, screening_id, lambda e: str(e.get("reason") or "").startswith(prefix))


def _page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    redacted: bool = False,
    status_code: int = 200,
) -> Response:
    context = {
        "title": f"{screening_id} · redactions",
        "record": get_screening(db, study_id, screening_id),
        "options": value_options(get_clinical_record(db, study_id, screening_id)),
        "history": _history(db, study_id, screening_id),
        "redacted": redacted,
        "prefix": REDACTION_PREFIX,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "redactions.html", context, principal=access.who, study_id=study_id, status_code=status_code)


@router.get(SUBJECT + "/redactions")
def redactions_form(
    request: Request, study_id: str, screening_id: str, access: Redact, db: DbDep, redacted: str | None = None
) -> Response:
    """The form and the subject's redactions (``?redacted=1`` after a save says so)."""
    return _page(request, access, db, study_id, screening_id, redacted=redacted == "1")


def _target(reader: FormReader) -> tuple[str, int, str] | None:
    choice = reader.text("value", max_len=200)
    if choice is None:
        return None
    table, _, rest = choice.partition(":")
    rid, _, field = rest.partition(":")
    if table not in REDACTABLE or not rid.isdigit() or field not in REDACTABLE[table]:
        reader.fail("value", f"choose one of the subject's free-text values (got {choice[:100]!r})")
        return None
    return table, int(rid), field


@router.post(SUBJECT + "/redactions")
def redactions_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: Redact,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    target = _target(reader)
    justification = reader.text("justification", max_len=2000)
    replacement = reader.text("replacement", required=False, max_len=2000)
    if reader.errors or target is None or justification is None:
        return _page(request, access, db, study_id, screening_id, errors=reader.errors, values=form, status_code=422)
    table, record_id, field = target
    options: dict[str, Any] = {} if replacement is None else {"replacement": replacement}
    try:
        redact_value(
            db,
            study_id,
            screening_id,
            table,
            record_id,
            field,
            justification=justification,
            actor=access.who.user_id,
            clock=clock,
            **options,
        )
    except TrialtwinError as exc:
        status, errors = service_errors(exc, {"table": "value", "field": "value", "record_id": "value"})
        if status == 404:
            errors = {"value": str(exc)}
            status = 422
        return _page(request, access, db, study_id, screening_id, errors=errors, values=form, status_code=status)
    return RedirectResponse(f"/studies/{study_id}/subjects/{screening_id}/redactions?redacted=1", status_code=303)
