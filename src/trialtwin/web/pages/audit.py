"""Read-only audit trail (study and subject), the export page, and the investigator's e-signature.

* Audit view: the hash-chained entries as stored (who, when in UTC, what, old → new, reason; 21 CFR
  11.10(e)); allocation-concealing fields are replaced by ``[concealed]`` in the service. No page changes an
  entry: there is no form here.
* Export: statisticians, the sponsor and data managers download the analysis frames from the API
  (``GET /api/v1/studies/{study_id}/export``); site roles never see this page (ICH E9 §2.3).
* E-signature (21 CFR 11.200(a)(1), 11.50, 11.70): password (and the user id at the first signing of a
  session) plus a meaning; the manifestation shows printed name, UTC time and meaning; a later change of the
  signed record shows the signature as broken.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import get_screening
from trialtwin.services.browse import audit_entries, get_study_summary
from trialtwin.services.signatures import MEANINGS, list_signatures, sign
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, FormReader, service_errors
from trialtwin.web.pages._render import render

router = APIRouter()

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
AuditRead = Annotated[Access, Depends(authorize("audit.read"))]
SubjectAudit = Annotated[Access, Depends(authorize("subject.audit"))]
Export = Annotated[Access, Depends(authorize("export"))]
Sign = Annotated[Access, Depends(authorize("sign"))]
PAGE = 100


def _audit_page(
    request: Request,
    access: Access,
    study_id: str,
    entries: list[dict[str, Any]],
    after: int,
    screening_id: str | None,
) -> Response:
    context = {
        "title": f"audit trail{f' · {screening_id}' if screening_id else ''}",
        "entries": entries,
        "after": after,
        "next_after": entries[-1]["seq"] if len(entries) == PAGE else None,
        "screening_id": screening_id,
    }
    return render(request, "audit.html", context, principal=access.who, study_id=study_id)


@router.get("/studies/{study_id}/audit")
def study_audit(request: Request, study_id: str, access: AuditRead, db: DbDep, after: int = 0) -> Response:
    entries = audit_entries(db, study_id, after=max(after, 0), limit=PAGE)
    return _audit_page(request, access, study_id, entries, after, None)


@router.get(SUBJECT + "/audit")
def subject_audit(
    request: Request, study_id: str, screening_id: str, access: SubjectAudit, db: DbDep, after: int = 0
) -> Response:
    entries = audit_entries(db, study_id, screening_id=screening_id, after=max(after, 0), limit=PAGE)
    return _audit_page(request, access, study_id, entries, after, screening_id)


@router.get("/studies/{study_id}/export")
def export_page(request: Request, study_id: str, access: Export, db: DbDep) -> Response:
    study = get_study_summary(db, study_id)
    context = {"title": f"{study_id} · export", "study": study, "api_url": f"/api/v1/studies/{study_id}/export"}
    return render(request, "export.html", context, principal=access.who, study_id=study_id)


def _sign_page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    visit_id: int | None = None,
) -> Response:
    principal = access.who
    context = {
        "title": f"{screening_id} · e-signature",
        "record": get_screening(db, study_id, screening_id),
        "signatures": list_signatures(db, study_id, screening_id),
        "meanings": MEANINGS,
        "needs_username": principal.signer_verified_at is None,
        "visit_id": visit_id,
        "errors": errors or {},
        "values": values or {"username": principal.username},
    }
    return render(request, "sign.html", context, principal=principal, study_id=study_id, status_code=status_code)


@router.get(SUBJECT + "/sign")
def sign_form(
    request: Request, study_id: str, screening_id: str, access: Sign, db: DbDep, visit_id: int | None = None
) -> Response:
    """The casebook signature, or one visit's with ``?visit_id=`` (the visit is checked when signing)."""
    return _sign_page(request, access, db, study_id, screening_id, visit_id=visit_id)


@router.post(SUBJECT + "/sign")
def sign_submit(
    request: Request, study_id: str, screening_id: str, access: Sign, db: DbDep, clock: ClockDep, form: FormData
) -> Response:
    reader = FormReader(form)
    meaning = reader.choice("meaning", MEANINGS)
    password = form.get("password", "")
    if not password:
        reader.fail("password", "is required: re-enter your password to sign (21 CFR 11.200(a)(1))")
    username = reader.text("username", required=False, max_len=150)
    visit_id = reader.integer("visit_id", required=False, low=1)
    values = {"username": form.get("username", ""), "meaning": form.get("meaning", "")}
    if reader.errors or meaning is None:
        return _sign_page(
            request,
            access,
            db,
            study_id,
            screening_id,
            errors=reader.errors,
            values=values,
            status_code=422,
            visit_id=visit_id,
        )
    principal = access.who
    try:
        sign(
            db,
            study_id,
            screening_id,
            meaning=meaning,
            password=password,
            username=username,
            scope="casebook" if visit_id is None else "visit",
            visit_id=visit_id,
            session_pk=principal.session_id,
            actor=principal.user_id,
            clock=clock,
        )
    except TrialtwinError as exc:
        status, errors = service_errors(exc)
        if status == 422 and set(errors) & {"username", "password"}:
            status = 401 if "password" in errors else 422
        return _sign_page(
            request,
            access,
            db,
            study_id,
            screening_id,
            errors=errors,
            values=values,
            status_code=status,
            visit_id=visit_id,
        )
    return RedirectResponse(f"/studies/{study_id}/subjects/{screening_id}", status_code=303)
