"""Screening: informed consent, the eligibility form with live reasons, and randomization (IRT).

Operational order (21 CFR 11.10(f); trial-system-requirements B8): consent → eligibility → randomize; the
services refuse a step out of order (409, the form shows why). The eligibility form is generated from the
protocol's declared facts; while the user types, HTMX posts it to the preview route, which re-renders the
engine's verdict with one reason per failed or unknown criterion without saving anything
(``services.browse.preview_eligibility``). Saving stores the facts and the verdict
(``services.enter_eligibility``); a later entry is a correction and needs a reason (ICH E6(R3) 4.2.2(a)).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol
from trialtwin.protocol.rules import FactType
from trialtwin.services import (
    AlreadyRandomized,
    enter_eligibility,
    get_eligibility,
    get_randomization,
    get_screening,
    randomize,
    record_consent,
)
from trialtwin.services.browse import preview_eligibility
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, FormReader, service_errors
from trialtwin.web.pages._render import render
from trialtwin.web.pages._study import (
    arm_label,
    fact_fields,
    fact_kinds,
    facts_to_form,
    judgement_criteria,
    protocol_of,
    stored_facts,
)
from trialtwin.web.pages._verdict import verdict_view

router = APIRouter()

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
SubjectRead = Annotated[Access, Depends(authorize("subject.read"))]
Consent = Annotated[Access, Depends(authorize("consent.record"))]
Eligibility = Annotated[Access, Depends(authorize("eligibility.record"))]
Preview = Annotated[Access, Depends(authorize("eligibility.preview"))]
Randomize = Annotated[Access, Depends(authorize("randomize"))]

OVERRIDE_PREFIX = "override_"
RESERVED = frozenset({"csrf_token", "reason"})


# ---- consent ------------------------------------------------------------------------------------------------


def _consent_page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    record = get_screening(db, study_id, screening_id)
    context = {
        "title": f"{screening_id} · consent",
        "record": record,
        "errors": errors or {},
        "values": values if values is not None else {},
    }
    return render(request, "consent.html", context, principal=access.who, study_id=study_id, status_code=status_code)


@router.get(SUBJECT + "/consent")
def consent_form(
    request: Request, study_id: str, screening_id: str, access: Consent, db: DbDep, clock: ClockDep
) -> Response:
    today = clock().astimezone(dt.UTC).date()
    return _consent_page(request, access, db, study_id, screening_id, values={"consent_date": today.isoformat()})


@router.post(SUBJECT + "/consent")
def consent_submit(
    request: Request, study_id: str, screening_id: str, access: Consent, db: DbDep, clock: ClockDep, form: FormData
) -> Response:
    reader = FormReader(form)
    consent_date = reader.date("consent_date")
    form_version = reader.text("form_version", max_len=64)
    if reader.errors or consent_date is None or form_version is None:
        return _consent_page(
            request, access, db, study_id, screening_id, errors=reader.errors, values=form, status_code=422
        )
    try:
        record_consent(
            db, study_id, screening_id, consent_date, form_version=form_version, actor=access.who.user_id, clock=clock
        )
    except TrialtwinError as exc:
        status, errors = service_errors(exc)
        if "" in errors and status == 409 and "date" in errors[""]:
            errors = {"consent_date": errors[""]}
        return _consent_page(
            request, access, db, study_id, screening_id, errors=errors, values=form, status_code=status
        )
    return RedirectResponse(f"/studies/{study_id}/subjects/{screening_id}", status_code=303)


# ---- eligibility --------------------------------------------------------------------------------------------


def facts_from_form(protocol: Protocol, reader: FormReader) -> dict[str, Any]:
    """The facts document of the form: blank fields are missing facts (unknown), numbers parsed, yes/no as
    booleans; judgement selects become ``criteria_overrides``. Unparseable values go to ``reader.errors``."""
    facts: dict[str, Any] = {}
    for name, kind in fact_kinds(protocol).items():
        if not reader.raw(name):
            continue
        value: Any
        if kind is FactType.INTEGER:
            value = reader.integer(name, required=False)
        elif kind is FactType.NUMBER:
            value = reader.number(name, required=False)
        elif kind is FactType.BOOLEAN:
            value = reader.boolean(name, required=False)
        else:  # enum and date: the engine checks the level or the ISO date and names the field
            value = reader.raw(name)
        if value is not None:
            facts[name] = value
    overrides: dict[str, bool] = {}
    for criterion_id, _ in judgement_criteria(protocol):
        judged = reader.boolean(OVERRIDE_PREFIX + criterion_id, required=False)
        if judged is not None:
            overrides[criterion_id] = judged
    if overrides:
        facts["criteria_overrides"] = overrides
    return facts


def _field_names(protocol: Protocol) -> dict[str, str]:
    names = {name: name for name in fact_kinds(protocol)}
    names.update({f"criteria_overrides.{cid}": OVERRIDE_PREFIX + cid for cid, _ in judgement_criteria(protocol)})
    names["criteria_overrides"] = ""
    names["reason"] = "reason"
    return names


def _eligibility_page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    verdict: Any = None,
    status_code: int = 200,
) -> Response:
    protocol = protocol_of(db, study_id)
    record = get_screening(db, study_id, screening_id)
    stored = get_eligibility(db, study_id, screening_id)
    context = {
        "title": f"{screening_id} · eligibility",
        "record": record,
        "fields": fact_fields(protocol),
        "judgements": judgement_criteria(protocol),
        "override_prefix": OVERRIDE_PREFIX,
        "correction": stored is not None,
        "stored": verdict_view(stored) if stored is not None else None,
        "verdict": verdict,
        "errors": errors or {},
        "values": values if values is not None else {},
    }
    return render(
        request, "eligibility.html", context, principal=access.who, study_id=study_id, status_code=status_code
    )


@router.get(SUBJECT + "/eligibility")
def eligibility_form(request: Request, study_id: str, screening_id: str, access: Eligibility, db: DbDep) -> Response:
    """The form, filled with the latest saved facts when there are some (a correction starts from them)."""
    values = facts_to_form(stored_facts(db, study_id, screening_id), OVERRIDE_PREFIX)
    return _eligibility_page(request, access, db, study_id, screening_id, values=values)


@router.post(SUBJECT + "/eligibility")
def eligibility_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: Eligibility,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    protocol = protocol_of(db, study_id)
    reader = FormReader(form)
    facts = facts_from_form(protocol, reader)
    reason = reader.text("reason", required=False, max_len=2000)
    if reader.errors:
        return _eligibility_page(
            request, access, db, study_id, screening_id, errors=reader.errors, values=form, status_code=422
        )
    try:
        enter_eligibility(db, study_id, screening_id, facts, reason=reason, actor=access.who.user_id, clock=clock)
    except TrialtwinError as exc:
        status, errors = service_errors(exc, _field_names(protocol))
        if "" in errors and "needs a reason" in errors[""]:
            errors = {"reason": errors[""]}
            status = 422
        return _eligibility_page(
            request, access, db, study_id, screening_id, errors=errors, values=form, status_code=status
        )
    return RedirectResponse(f"/studies/{study_id}/subjects/{screening_id}", status_code=303)


@router.post("/studies/{study_id}/eligibility/preview")
def eligibility_preview(request: Request, study_id: str, access: Preview, db: DbDep, form: FormData) -> Response:
    """The live verdict fragment (HTMX): nothing is saved. Bad values give 422 with the fields named (the
    pages' htmx configuration swaps 422 responses in, so the user sees them at once)."""
    protocol = protocol_of(db, study_id)
    reader = FormReader(form)
    facts = facts_from_form(protocol, reader)
    errors = dict(reader.errors)
    verdict = None
    if not errors:
        try:
            verdict = verdict_view(preview_eligibility(db, study_id, facts))
        except TrialtwinError as exc:
            _, errors = service_errors(exc, _field_names(protocol))
    context = {"verdict": verdict, "errors": errors, "title": "Eligibility preview"}
    return render(
        request,
        "eligibility_preview.html",
        context,
        principal=access.who,
        study_id=study_id,
        status_code=422 if errors else 200,
    )


# ---- randomization ------------------------------------------------------------------------------------------


@router.get(SUBJECT + "/randomization")
def randomization_page(request: Request, study_id: str, screening_id: str, access: SubjectRead, db: DbDep) -> Response:
    """The allocation when randomized; otherwise the confirmation step before the IRT allocates."""
    record = get_screening(db, study_id, screening_id)
    allocation = get_randomization(db, study_id, screening_id)
    stored = get_eligibility(db, study_id, screening_id)
    protocol = protocol_of(db, study_id)
    context = {
        "title": f"{screening_id} · randomization",
        "record": record,
        "status": str(record.status),
        "allocation": allocation,
        "arm_label": arm_label(protocol, allocation.arm) if allocation is not None else "",
        "verdict": verdict_view(stored) if stored is not None else None,
        "error": None,
    }
    return render(request, "randomization.html", context, principal=access.who, study_id=study_id)


@router.post(SUBJECT + "/randomization")
def randomization_submit(
    request: Request, study_id: str, screening_id: str, access: Randomize, db: DbDep, clock: ClockDep
) -> Response:
    try:
        randomize(db, study_id, screening_id, actor=access.who.user_id, clock=clock)
    except AlreadyRandomized:
        pass  # a second click: show the allocation made by the first
    except TrialtwinError as exc:
        status, errors = service_errors(exc)
        record = get_screening(db, study_id, screening_id)
        stored = get_eligibility(db, study_id, screening_id)
        context = {
            "title": f"{screening_id} · randomization",
            "record": record,
            "status": str(record.status),
            "allocation": None,
            "arm_label": "",
            "verdict": verdict_view(stored) if stored is not None else None,
            "error": "; ".join(errors.values()),
        }
        return render(
            request, "randomization.html", context, principal=access.who, study_id=study_id, status_code=status
        )
    return RedirectResponse(f"/studies/{study_id}/subjects/{screening_id}/randomization", status_code=303)
