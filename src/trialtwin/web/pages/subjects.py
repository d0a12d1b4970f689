"""The site dashboard (subjects of the user's sites, by status), registering a screened person, and the
subject overview (screening, eligibility verdict with reasons, allocation, the clinical record as stored: dosing
visits with the dose decisions, RECIST responses per reader, adverse events, disposition and death; the schedule).

Site isolation (trial-system-requirements B3; 21 CFR 11.10(d)): the dashboard lists only the subjects of the
sites where the user holds a subject-reading role; a subject of another site is a 404 (``authorize``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import get_eligibility, get_randomization, get_screening, register_screening
from trialtwin.services.browse import get_study_summary, list_sites, list_subjects
from trialtwin.web.deps import Access, ClockDep, DbDep, Principal, allowed_sites, authorize
from trialtwin.web.pages import _clinical_view
from trialtwin.web.pages._forms import FormData, service_errors
from trialtwin.web.pages._render import may, render
from trialtwin.web.pages._study import arm_label, protocol_of
from trialtwin.web.pages._verdict import verdict_view
from trialtwin.web.policy import POLICY

router = APIRouter()

StudyRead = Annotated[Access, Depends(authorize("study.read"))]
SubjectRead = Annotated[Access, Depends(authorize("subject.read"))]
Register = Annotated[Access, Depends(authorize("subject.register"))]

STATUS_ORDER = ("registered", "consented", "incomplete", "not_eligible", "eligible", "randomized")


@dataclass(frozen=True, slots=True)
class SiteScope:
    """Where a principal may do an action: nowhere (``allowed`` false), at ``sites``, or everywhere (``None``)."""

    allowed: bool
    sites: frozenset[str] | None

    def covers(self, site: str) -> bool:
        return self.allowed and (self.sites is None or site in self.sites)

    @property
    def text(self) -> str:
        return "all sites" if self.sites is None else ", ".join(sorted(self.sites))


def sites_for(principal: Principal, action: str, study_id: str) -> SiteScope:
    """The sites where ``principal`` may do ``action`` (the policy table's rule, as ``authorize`` applies it)."""
    try:
        return SiteScope(True, allowed_sites(principal, POLICY[action], study_id))
    except HTTPException:
        return SiteScope(False, frozenset())


def _dashboard(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    principal = access.who
    study = get_study_summary(db, study_id)
    readable = sites_for(principal, "subject.read", study_id)
    subjects = list_subjects(db, study_id, readable.sites) if readable.allowed else []
    writable = sites_for(principal, "subject.register", study_id)
    register_sites = [s for s in list_sites(db, study_id) if s.active and writable.covers(s.code)]
    counts = Counter(str(s.status) for s in subjects)
    context = {
        "title": f"{study.id} · subjects",
        "study": study,
        "subjects": subjects,
        "can_read_subjects": readable.allowed,
        "scope_text": readable.text,
        "register_sites": [(s.code, f"{s.code} · {s.facility}, {s.city}") for s in register_sites],
        "counts": [(k, counts[k]) for k in STATUS_ORDER if counts.get(k)],
        "errors": errors or {},
        "values": values or ({"site": register_sites[0].code} if len(register_sites) == 1 else {}),
    }
    return render(request, "dashboard.html", context, principal=principal, study_id=study_id, status_code=status_code)


@router.get("/studies/{study_id}")
def dashboard(request: Request, study_id: str, access: StudyRead, db: DbDep) -> Response:
    return _dashboard(request, access, db, study_id)


@router.post("/studies/{study_id}/subjects")
def register(request: Request, study_id: str, access: Register, db: DbDep, clock: ClockDep, form: FormData) -> Response:
    site = form.get("site", "").strip()
    if not site:
        return _dashboard(request, access, db, study_id, errors={"site": "choose the site"}, status_code=422)
    if not access.may_use_site(site):
        return _dashboard(
            request,
            access,
            db,
            study_id,
            values={"site": site},
            status_code=403,
            errors={"site": f"your roles do not allow registering at site {site!r}"},
        )
    try:
        record = register_screening(db, study_id, site, actor=access.who.user_id, clock=clock)
    except TrialtwinError as exc:
        status, errors = service_errors(exc, {"site": "site"})
        if status == 404:
            errors = {"site": str(exc)}
            status = 422
        return _dashboard(request, access, db, study_id, errors=errors, values={"site": site}, status_code=status)
    return RedirectResponse(f"/studies/{study_id}/subjects/{record.screening_id}", status_code=303)


@router.get("/studies/{study_id}/subjects/{screening_id}")
def overview(request: Request, study_id: str, screening_id: str, access: SubjectRead, db: DbDep) -> Response:
    principal = access.who
    record = get_screening(db, study_id, screening_id)
    eligibility = get_eligibility(db, study_id, screening_id)
    allocation = get_randomization(db, study_id, screening_id)
    protocol = protocol_of(db, study_id)
    site = record.site
    staff = _may_at(principal, "subject.register", study_id, site)
    clinical = _clinical_view.clinical_record(db, study_id, screening_id) if allocation is not None else None
    context = {
        "title": f"{screening_id}",
        "record": record,
        "status": str(record.status),
        "eligibility": eligibility,
        "verdict": verdict_view(eligibility) if eligibility is not None else None,
        "schedule_weeks": _clinical_view.SCHEDULE_WEEKS,
        "allocation": allocation,
        "arm_label": arm_label(protocol, allocation.arm) if allocation is not None else "",
        "clinical": clinical,
        "signatures": _clinical_view.signatures_of(db, study_id, screening_id),
        "staff": staff,
        "may_sign": _may_at(principal, "sign", study_id, site),
        "may_correct": _may_at(principal, "record.correct", study_id, site),
        "event_labels": _clinical_view.EVENT_LABELS,
        "may_audit": may(principal, "subject.audit"),
    }
    return render(request, "subject.html", context, principal=principal, study_id=study_id)


def _may_at(principal: Principal, action: str, study_id: str, site: str) -> bool:
    return sites_for(principal, action, study_id).covers(site)
