"""Clinical entry after randomization: baseline, dosing visit (→ the engine's dose decision), tumour
assessment (→ the RECIST 1.1 time-point response), adverse event, end of treatment, death.

Each form calls one use case of :mod:`trialtwin.services` (one transaction: load → engine → save + audit) and
shows what the engine decided. A bad value re-renders the form with the field named (422); a step the
subject's state forbids (e.g. a dose after the end of treatment) re-renders it with the reason (409).

Post/Redirect/Get: a saved form answers 303 to a page that reads the stored record
(``services.get_clinical_record``): the dose decision of the visit, the RECIST response of the scan, the
adverse event recorded. Reloading that page repeats a read, never the write (a reload of a POST would record
a second adverse event; RFC 9110 §15.4.4, 303 See Other).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import get_clinical_record, get_randomization, get_screening
from trialtwin.services.assessments import (
    NewLesion,
    NonTargetFinding,
    TargetMeasurement,
    TumourAssessmentIn,
    get_assessments,
    record_tumour_assessment,
)
from trialtwin.services.events import (
    DEATH_CAUSES,
    EOT_REASONS,
    AdverseEventIn,
    record_adverse_event,
    record_death,
    record_end_of_treatment,
)
from trialtwin.services.labs import LAB_UNITS
from trialtwin.services.schedule import get_schedule
from trialtwin.services.visits import BaselineIn, DosingVisitIn, record_baseline, record_dosing_visit
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, FormReader, service_errors
from trialtwin.web.pages._render import render, render_error
from trialtwin.web.pages._study import arm_label, arm_regimens, protocol_of

router = APIRouter()

SUBJECT = "/studies/{study_id}/subjects/{screening_id}"
VisitRecord = Annotated[Access, Depends(authorize("visit.record"))]
AssessmentRecord = Annotated[Access, Depends(authorize("assessment.record"))]
AeRecord = Annotated[Access, Depends(authorize("ae.record"))]
DispositionRecord = Annotated[Access, Depends(authorize("disposition.record"))]
SubjectRead = Annotated[Access, Depends(authorize("subject.read"))]

LAB_LABELS = {
    "anc": "Absolute neutrophil count",
    "platelets": "Platelets",
    "wbc": "White blood cells",
    "hemoglobin": "Haemoglobin",
    "bilirubin": "Total bilirubin",
    "ast": "AST",
    "alt": "ALT",
    "creatinine": "Creatinine",
    "bilirubin_mg_dl": "Total bilirubin",
    "creatinine_clearance": "Creatinine clearance",
}
TARGET_ROWS = 5  # RECIST 1.1 §3.3.1: at most five target lesions (two per organ)
NON_TARGET_ROWS = 5
NEW_LESION_ROWS = 3
NON_TARGET_STATUSES = ("present", "absent", "unequivocal_progression", "not_evaluated")
READERS = (("investigator", "Investigator"), ("BICR", "Blinded independent central review"))


def _today(clock: Callable[[], dt.datetime]) -> str:
    return clock().astimezone(dt.UTC).date().isoformat()


def _subject_context(db: Any, study_id: str, screening_id: str) -> dict[str, Any]:
    record = get_screening(db, study_id, screening_id)
    allocation = get_randomization(db, study_id, screening_id)
    protocol = protocol_of(db, study_id)
    return {
        "record": record,
        "allocation": allocation,
        "arm_label": arm_label(protocol, allocation.arm) if allocation is not None else "",
    }


def _page(
    request: Request,
    access: Access,
    db: Any,
    study_id: str,
    screening_id: str,
    template: str,
    title: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    result: Any = None,
    status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    context = _subject_context(db, study_id, screening_id)
    context.update(
        {"title": f"{screening_id} · {title}", "errors": errors or {}, "values": values or {}, "result": result}
    )
    context.update(extra or {})
    return render(request, template, context, principal=access.who, study_id=study_id, status_code=status_code)


def _done(study_id: str, screening_id: str, path: str = "", **query: Any) -> Response:
    """303 See Other to the subject's overview, or to ``path`` under it (Post/Redirect/Get)."""
    url = f"/studies/{study_id}/subjects/{screening_id}{path}"
    if query:
        url += "?" + urlencode(query)
    return RedirectResponse(url, status_code=303)


# ---- dosing visit -------------------------------------------------------------------------------------------


def _visit_extra(db: Any, study_id: str, screening_id: str) -> dict[str, Any]:
    """The regimen choice (physician's-choice arm before the first visit) and the lab fields."""
    allocation = get_randomization(db, study_id, screening_id)
    regimens: tuple[tuple[str, str], ...] = ()
    planned: Any = None
    if allocation is not None:
        try:
            planned = get_schedule(db, study_id, screening_id, weeks=6)
        except TrialtwinError:
            regimens = arm_regimens(protocol_of(db, study_id), allocation.arm)
    labs = [(name, LAB_LABELS.get(name, name), unit) for name, unit in LAB_UNITS.items()]
    baseline = get_clinical_record(db, study_id, screening_id).baseline
    return {"regimens": regimens, "planned": planned, "labs": labs, "baseline": baseline}


@router.get(SUBJECT + "/visits/new")
def visit_form(
    request: Request, study_id: str, screening_id: str, access: VisitRecord, db: DbDep, clock: ClockDep
) -> Response:
    values = {"cycle": "1", "day": "1", "visit_date": _today(clock)}
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        "visit.html",
        "dosing visit",
        values=values,
        extra=_visit_extra(db, study_id, screening_id),
    )


@router.post(SUBJECT + "/visits")
def visit_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: VisitRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    cycle = reader.integer("cycle", low=1, high=1000)
    day = reader.integer("day", low=1, high=366)
    visit_date = reader.date("visit_date")
    weight = reader.number("weight_kg")
    regimen = reader.text("regimen", required=False, max_len=100)
    labs: dict[str, float] = {}
    for name in LAB_UNITS:
        value = reader.number(f"lab_{name}", required=False)
        if value is not None:
            labs[name] = value
    extra = _visit_extra(db, study_id, screening_id)
    if reader.errors or cycle is None or day is None or visit_date is None or weight is None:
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "visit.html",
            "dosing visit",
            errors=reader.errors,
            values=form,
            status_code=422,
            extra=extra,
        )
    visit = DosingVisitIn(cycle, day, visit_date, weight, labs, regimen)
    try:
        result = record_dosing_visit(db, study_id, screening_id, visit, actor=access.who.user_id, clock=clock)
    except TrialtwinError as exc:
        fields = {f"labs.{name}": f"lab_{name}" for name in LAB_UNITS}
        fields["labs"] = ""
        status, errors = service_errors(exc, fields)
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "visit.html",
            "dosing visit",
            errors=errors,
            values=form,
            status_code=status,
            extra=extra,
        )
    return _done(study_id, screening_id, "/visits/result", visit_id=result.visit_id)


@router.get(SUBJECT + "/visits/result")
def visit_result(
    request: Request, study_id: str, screening_id: str, access: SubjectRead, db: DbDep, visit_id: int | None = None
) -> Response:
    """The dose decision of a recorded visit, as stored (where the visit form redirects)."""
    if visit_id is None:
        return render_error(request, 422, "visit_id: is required (the visit to show)")
    result = get_clinical_record(db, study_id, screening_id).visit(visit_id)
    if result is None:
        raise HTTPException(404, f"subject {screening_id} has no visit {visit_id}")
    return _page(request, access, db, study_id, screening_id, "visit_result.html", "dose decision", result=result)


@router.post(SUBJECT + "/baseline")
def baseline_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: VisitRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    weight = reader.number("baseline_weight_kg")
    height = reader.number("height_cm")
    ecog = reader.integer("ecog", low=0, high=5)
    extra = _visit_extra(db, study_id, screening_id)
    values = {"cycle": "1", "day": "1", "visit_date": _today(clock), **form}
    if reader.errors or weight is None or height is None or ecog is None:
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "visit.html",
            "dosing visit",
            errors=reader.errors,
            values=values,
            status_code=422,
            extra=extra,
        )
    try:
        record_baseline(
            db, study_id, screening_id, BaselineIn(weight, height, ecog), actor=access.who.user_id, clock=clock
        )
    except TrialtwinError as exc:
        status, errors = service_errors(exc, {"weight_kg": "baseline_weight_kg"})
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "visit.html",
            "dosing visit",
            errors=errors,
            values=values,
            status_code=status,
            extra=extra,
        )
    return _done(study_id, screening_id, "/visits/new")


# ---- tumour assessment --------------------------------------------------------------------------------------


def _lesion_prefill(db: Any, study_id: str, screening_id: str) -> dict[str, str]:
    """Follow-up scans re-measure the baseline's lesions (RECIST 1.1 §4.3): the rows start with their ids."""
    values: dict[str, str] = {}
    try:
        stored = get_assessments(db, study_id, screening_id)
    except TrialtwinError:
        return values
    baseline = next((items[0] for items in stored.values() if items), None)
    if baseline is None:
        return values
    for i, t in enumerate(baseline.target[:TARGET_ROWS]):
        values.update({f"t{i}_id": t.id, f"t{i}_organ": t.organ, f"t{i}_nodal": "on" if t.nodal else ""})
    for i, n in enumerate(baseline.non_target[:NON_TARGET_ROWS]):
        nodal = "on" if n.nodal else ""
        values.update({f"n{i}_id": n.id, f"n{i}_organ": n.organ, f"n{i}_nodal": nodal, f"n{i}_status": "present"})
    return values


def _assessment_from_form(reader: FormReader) -> tuple[TumourAssessmentIn | None, dict[str, str]]:
    """The assessment and the map from the service's field names to the form's (``targets[0].organ`` →
    ``t2_organ`` when rows 0-1 were left empty)."""
    when = reader.date("assessment_date")
    reader_name = reader.choice("reader", tuple(r for r, _ in READERS))
    fields: dict[str, str] = {"assessment_date": "assessment_date", "reader": "reader", "targets": "", "lesions": ""}
    targets: list[TargetMeasurement] = []
    for i in range(TARGET_ROWS):
        row = [reader.raw(f"t{i}_{k}") for k in ("id", "organ", "diameter")]
        too_small = reader.raw(f"t{i}_too_small") == "on"
        if not any(row) and not too_small:
            continue
        n = len(targets)
        fields.update(
            {
                f"targets[{n}].{k}": f"t{i}_{f}"
                for k, f in (
                    ("lesion_id", "id"),
                    ("organ", "organ"),
                    ("diameter_mm", "diameter"),
                    ("too_small", "diameter"),
                )
            }
        )
        lesion_id = reader.text(f"t{i}_id", max_len=64)
        organ = reader.text(f"t{i}_organ", max_len=64)
        diameter = reader.number(f"t{i}_diameter", required=not too_small, low=0, high=1000)
        targets.append(
            TargetMeasurement(lesion_id or "", organ or "", reader.raw(f"t{i}_nodal") == "on", diameter, too_small)
        )
    non_targets: list[NonTargetFinding] = []
    for i in range(NON_TARGET_ROWS):
        if not (reader.raw(f"n{i}_id") or reader.raw(f"n{i}_organ")):
            continue
        n = len(non_targets)
        fields.update(
            {
                f"non_targets[{n}].{k}": f"n{i}_{f}"
                for k, f in (
                    ("lesion_id", "id"),
                    ("organ", "organ"),
                    ("status", "status"),
                )
            }
        )
        lesion_id = reader.text(f"n{i}_id", max_len=64)
        organ = reader.text(f"n{i}_organ", max_len=64)
        status = reader.choice(f"n{i}_status", NON_TARGET_STATUSES)
        non_targets.append(
            NonTargetFinding(lesion_id or "", organ or "", reader.raw(f"n{i}_nodal") == "on", status or "present")
        )
    new: list[NewLesion] = []
    for i in range(NEW_LESION_ROWS):
        if not (reader.raw(f"x{i}_id") or reader.raw(f"x{i}_organ")):
            continue
        n = len(new)
        fields.update({f"new_lesions[{n}].lesion_id": f"x{i}_id", f"new_lesions[{n}].organ": f"x{i}_organ"})
        new.append(NewLesion(reader.text(f"x{i}_id", max_len=64) or "", reader.text(f"x{i}_organ", max_len=64) or ""))
    if reader.errors or when is None or reader_name is None:
        return None, fields
    return TumourAssessmentIn(when, reader_name, tuple(targets), tuple(non_targets), tuple(new)), fields


def _assessment_extra() -> dict[str, Any]:
    return {
        "target_rows": range(TARGET_ROWS),
        "non_target_rows": range(NON_TARGET_ROWS),
        "new_rows": range(NEW_LESION_ROWS),
        "non_target_statuses": NON_TARGET_STATUSES,
        "readers": READERS,
    }


@router.get(SUBJECT + "/assessments/new")
def assessment_form(
    request: Request, study_id: str, screening_id: str, access: AssessmentRecord, db: DbDep, clock: ClockDep
) -> Response:
    values = {"assessment_date": _today(clock), "reader": "investigator", **_lesion_prefill(db, study_id, screening_id)}
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        "assessment.html",
        "tumour assessment",
        values=values,
        extra=_assessment_extra(),
    )


@router.post(SUBJECT + "/assessments")
def assessment_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: AssessmentRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    assessment, fields = _assessment_from_form(reader)
    if assessment is None:
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "assessment.html",
            "tumour assessment",
            errors=reader.errors,
            values=form,
            status_code=422,
            extra=_assessment_extra(),
        )
    try:
        result = record_tumour_assessment(db, study_id, screening_id, assessment, actor=access.who.user_id, clock=clock)
    except TrialtwinError as exc:
        status, errors = service_errors(exc, fields)
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "assessment.html",
            "tumour assessment",
            errors=errors,
            values=form,
            status_code=status,
            extra=_assessment_extra(),
        )
    return _done(study_id, screening_id, "/assessments/result", reader=result.reader, date=result.assessment_date)


@router.get(SUBJECT + "/assessments/result")
def assessment_result(
    request: Request,
    study_id: str,
    screening_id: str,
    access: SubjectRead,
    db: DbDep,
    reader: str | None = None,
    date: str | None = None,
) -> Response:
    """One reader's scan with its stored RECIST 1.1 response (where the assessment form redirects)."""
    when = FormReader({"date": date or ""}).date("date", required=False)
    if not reader or when is None:
        return render_error(request, 422, "reader and date (YYYY-MM-DD): are required (the scan to show)")
    scan = get_clinical_record(db, study_id, screening_id).assessment(reader, when)
    if scan is None:
        raise HTTPException(404, f"subject {screening_id} has no {reader} scan on {when}")
    response = scan.response
    result = {
        "assessment_date": scan.date,
        "reader": scan.reader,
        "baseline": scan.baseline,
        "sum_mm": scan.sum_mm,
        "overall": response.overall if response else None,
        "target": response.target if response else None,
        "non_target": response.non_target if response else None,
        "new_lesions": bool(scan.new),
        "pct_from_baseline": response.pct_from_baseline if response else None,
        "nadir_mm": response.nadir_mm if response else None,
    }
    return _page(
        request, access, db, study_id, screening_id, "assessment_result.html", "RECIST response", result=result
    )


# ---- adverse event ------------------------------------------------------------------------------------------


@router.get(SUBJECT + "/adverse-events/new")
def ae_form(
    request: Request,
    study_id: str,
    screening_id: str,
    access: AeRecord,
    db: DbDep,
    clock: ClockDep,
    recorded: int | None = None,
) -> Response:
    """The form; after a save (``?recorded=<id>``) it shows the event as stored above an empty form."""
    result = get_clinical_record(db, study_id, screening_id).adverse_event(recorded) if recorded else None
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        "adverse_event.html",
        "adverse event",
        result=result,
        values={"onset": _today(clock)},
    )


@router.post(SUBJECT + "/adverse-events")
def ae_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: AeRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    reader = FormReader(form)
    term = reader.text("term", max_len=200)
    grade = reader.integer("grade", low=1, high=5)
    onset = reader.date("onset")
    resolution = reader.date("resolution", required=False)
    serious = reader.boolean("serious", required=False) or False
    related = reader.boolean("related", required=False)
    if reader.errors or term is None or grade is None or onset is None:
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "adverse_event.html",
            "adverse event",
            errors=reader.errors,
            values=form,
            status_code=422,
        )
    event = AdverseEventIn(term, onset, grade=grade, resolution=resolution, serious=serious, related=related)
    try:
        result = record_adverse_event(db, study_id, screening_id, event, actor=access.who.user_id, clock=clock)
    except TrialtwinError as exc:
        status, errors = service_errors(exc)
        return _page(
            request,
            access,
            db,
            study_id,
            screening_id,
            "adverse_event.html",
            "adverse event",
            errors=errors,
            values=form,
            status_code=status,
        )
    return _done(study_id, screening_id, "/adverse-events/new", recorded=result.id)


# ---- end of treatment, death --------------------------------------------------------------------------------


@router.get(SUBJECT + "/end-of-treatment")
def eot_form(
    request: Request, study_id: str, screening_id: str, access: DispositionRecord, db: DbDep, clock: ClockDep
) -> Response:
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        "end_of_treatment.html",
        "end of treatment",
        values={"eot_date": _today(clock)},
        extra={"reasons": EOT_REASONS},
    )


def _save_disposition(
    request: Request,
    study_id: str,
    screening_id: str,
    access: Access,
    db: Any,
    form: Any,
    *,
    page: tuple[str, str],
    date_field: str,
    choice: tuple[str, tuple[str, ...], str],
    record: Callable[[dt.date, str, str | None], object],
) -> Response:
    """Read a disposition form (a date, one choice from a list, optional detail), save it with ``record``, then
    redirect to the overview; the form again with each field's error (422, or the service's 4xx) otherwise."""
    template, title = page
    field, options, options_key = choice
    reader = FormReader(form)
    when = reader.date(date_field)
    chosen = reader.choice(field, options)
    detail = reader.text("detail", required=False, max_len=2000)
    status, errors = 422, reader.errors
    if not reader.errors and when is not None and chosen is not None:
        try:
            record(when, chosen, detail)
        except TrialtwinError as exc:
            status, errors = service_errors(exc)
        else:
            return _done(study_id, screening_id)
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        template,
        title,
        errors=errors,
        values=form,
        status_code=status,
        extra={options_key: options},
    )


@router.post(SUBJECT + "/end-of-treatment")
def eot_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: DispositionRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    def record(when: dt.date, reason: str, detail: str | None) -> object:
        return record_end_of_treatment(
            db, study_id, screening_id, when, reason, detail=detail, actor=access.who.user_id, clock=clock
        )

    return _save_disposition(
        request,
        study_id,
        screening_id,
        access,
        db,
        form,
        page=("end_of_treatment.html", "end of treatment"),
        date_field="eot_date",
        choice=("reason", EOT_REASONS, "reasons"),
        record=record,
    )


@router.get(SUBJECT + "/death")
def death_form(
    request: Request, study_id: str, screening_id: str, access: DispositionRecord, db: DbDep, clock: ClockDep
) -> Response:
    return _page(
        request,
        access,
        db,
        study_id,
        screening_id,
        "death.html",
        "death",
        values={"death_date": _today(clock)},
        extra={"causes": DEATH_CAUSES},
    )


@router.post(SUBJECT + "/death")
def death_submit(
    request: Request,
    study_id: str,
    screening_id: str,
    access: DispositionRecord,
    db: DbDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    def record(when: dt.date, cause: str, detail: str | None) -> object:
        return record_death(
            db, study_id, screening_id, when, cause, detail=detail, actor=access.who.user_id, clock=clock
        )

    return _save_disposition(
        request,
        study_id,
        screening_id,
        access,
        db,
        form,
        page=("death.html", "death"),
        date_field="death_date",
        choice=("cause", DEATH_CAUSES, "causes"),
        record=record,
    )
