"""Corrections of entered clinical values (``services.correct_record``; policy action ``record.correct``).

The form names one stored record of the subject (lab, adverse event, lesion, disposition, death, baseline,
survival contact), the field, the new value and the reason. A reason is required and the old value is kept in
the audit trail (21 CFR 11.10(e); ICH E6(R3) 4.2.2(a)): the page lists the subject's corrections as the trail
recorded them, old → new, with who, when and why. The engine's outputs follow (a lab is re-graded, a lesion
re-assesses that reader's RECIST responses); dose decisions are never rewritten. A saved correction answers
303 to this page (Post/Redirect/Get), which shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import ClinicalRecordView, correct_record, get_clinical_record, get_screening
from trialtwin.services.browse import audit_entries
from trialtwin.services.records import CorrectableField, correctable_fields
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, FormReader, service_errors
from trialtwin.web.pages._render import render

router = APIRouter()

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
Correct = Annotated[Access, Depends(authorize("record.correct"))]
AUDIT_PAGE = 500
TABLE_LABELS = {
    "labs": "Lab result",
    "adverse_events": "Adverse event",
    "lesions": "Lesion",
    "disposition": "Disposition",
    "deaths": "Death",
    "subject_baselines": "Baseline",
    "survival_followup": "Survival contact",
}


def _mm(value: float | None, too_small: bool) -> str:
    return "too small" if too_small else ("NE" if value is None else f"{value:g} mm")


def record_options(rec: ClinicalRecordView) -> list[tuple[str, str]]:
    """``("table:id", label)`` for every correctable record of the subject, by kind then date."""
    out: list[tuple[str, str]] = []
    if rec.baseline is not None:
        b = rec.baseline
        out.append((f"subject_baselines:{b.id}", f"Baseline: {b.weight_kg:g} kg, {b.height_cm:g} cm, ECOG {b.ecog}"))
    out += [(f"labs:{x.id}", f"Lab {x.date} {x.test} {x.value:g} {x.unit} (grade {x.grade})") for x in rec.labs]
    out += [(f"adverse_events:{e.id}", f"AE {e.onset} {e.term}, grade {e.grade}") for e in rec.adverse_events]
    for reader, scans in rec.assessments.items():
        for scan in scans:
            out += [
                (f"lesions:{x.id}", f"Lesion {x.lesion_id} {x.organ} ({reader} {scan.date}): {_lesion_value(x)}")
                for x in scan.lesions
            ]
    out += [(f"disposition:{d.id}", f"{d.event.replace('_', ' ')} {d.date}: {d.reason}") for d in rec.disposition]
    if rec.death is not None:
        out.append((f"deaths:{rec.death.id}", f"Death {rec.death.date}: {rec.death.cause}"))
    out += [(f"survival_followup:{c.id}", f"Survival contact {c.date}") for c in rec.survival_contacts]
    return out


def _lesion_value(lesion: Any) -> str:
    if lesion.kind == "target":
        return _mm(lesion.diameter_mm, lesion.too_small)
    return f"{lesion.kind.replace('_', '-')} {lesion.status or ''}".strip()


def subject_updates(
    db: Any, study_id: str, screening_id: str, keep: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The subject's audited updates for which ``keep(entry)`` holds, newest first (read page by page): the
    history of the corrections page and of the redactions page."""
    updates: list[dict[str, Any]] = []
    after = 0
    while True:
        entries = audit_entries(db, study_id, screening_id=screening_id, after=after, limit=AUDIT_PAGE)
        updates += [e for e in entries if e["action"] == "update" and keep(e)]
        if len(entries) < AUDIT_PAGE:
            return updates[::-1]
        after = int(entries[-1]["seq"])


def _history(db: Any, study_id: str, screening_id: str) -> list[dict[str, Any]]:
    """The subject's corrections (audited updates of clinical records, and the RECIST responses they
    re-derived) from the audit trail, newest first."""
    tables = {*correctable_fields(), "responses"}
    return subject_updates(db, study_id, screening_id, lambda e: e["table"] in tables)


def _page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    corrected: str | None = None,
    status_code: int = 200,
) -> Response:
    fields = correctable_fields()
    history = _history(db, study_id, screening_id)
    shown = None
    if corrected:
        table, _, rid = corrected.partition(":")
        shown = next((e for e in history if e["table"] == table and e["record_id"] == rid), None)
    context = {
        "title": f"{screening_id} · corrections",
        "record": get_screening(db, study_id, screening_id),
        "records": record_options(get_clinical_record(db, study_id, screening_id)),
        "field_groups": [(TABLE_LABELS.get(t, t), t, [f.name for f in fs]) for t, fs in fields.items()],
        "history": history,
        "shown": shown,
        "errors": errors or {},
        "values": values or {},
    }
    return render(
        request, "corrections.html", context, principal=access.who, study_id=study_id, status_code=status_code
    )


@router.get(SUBJECT + "/corrections")
def corrections_form(
    request: Request, study_id: str, screening_id: str, access: Correct, db: DbDep, corrected: str | None = None
) -> Response:
    """The form and the subject's corrections (``?corrected=table:id`` after a save shows that one)."""
    return _page(request, access, db, study_id, screening_id, corrected=corrected)


def _value(reader: FormReader, spec: CorrectableField) -> Any:
    """The new value typed as the field's kind; empty is "no value" for a field that may be emptied."""
    required = not spec.optional
    if spec.kind == "number":
        return reader.number("value", required=required)
    if spec.kind == "integer":
        return reader.integer("value", required=required)
    if spec.kind == "date":
        return reader.date("value", required=required)
    if spec.kind == "boolean":
        return reader.boolean("value", required=required)
    return reader.text("value", required=required)


def _target(reader: FormReader) -> tuple[str | None, int | None, CorrectableField | None]:
    choice = reader.text("record", max_len=100)
    field = reader.text("field", max_len=64)
    if choice is None:
        return None, None, None
    table, _, rid = choice.partition(":")
    fields = correctable_fields()
    if table not in fields or not rid.isdigit():
        reader.fail("record", f"choose one of the subject's records (got {choice!r})")
        return None, None, None
    if field is None:
        return table, int(rid), None
    spec = next((f for f in fields[table] if f.name == field), None)
    if spec is None:
        names = ", ".join(f.name for f in fields[table])
        reader.fail("field", f"a {TABLE_LABELS.get(table, table).lower()} has no correctable field {field!r} ({names})")
    return table, int(rid), spec


@router.post(SUBJECT + "/corrections")
def corrections_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: Correct,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    table, record_id, spec = _target(reader)
    value = _value(reader, spec) if spec is not None else None
    reason = reader.text("reason", max_len=2000)
    if reader.errors or table is None or record_id is None or spec is None or reason is None:
        return _page(request, access, db, study_id, screening_id, errors=reader.errors, values=form, status_code=422)
    try:
        correct_record(
            db,
            study_id,
            screening_id,
            table,
            record_id,
            {spec.name: value},
            reason=reason,
            actor=access.who.user_id,
            clock=clock,
        )
    except TrialtwinError as exc:
        names = {"reason": "reason", "record_id": "record", "table": "record", "changes": "value"}
        status, errors = service_errors(exc, names)
        return _page(request, access, db, study_id, screening_id, errors=errors, values=form, status_code=status)
    url = f"/studies/{study_id}/subjects/{screening_id}/corrections?corrected={table}:{record_id}"
    return RedirectResponse(url, status_code=303)
