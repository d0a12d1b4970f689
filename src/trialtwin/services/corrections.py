"""Corrections of clinical records: an audited update with a reason, the old value kept in the audit trail.

21 CFR 11.10(e) and ICH E6(R3) 4.2.2: a change after the first save names who, when, why, and keeps the old
value (:meth:`trialtwin.store.audit.AuditRecorder.update` writes old → new with the reason). Nothing is deleted.

Only entered values can be corrected; the engine's outputs follow from them:

* a lab value is re-graded (CTCAE v5.0);
* a lesion measurement re-assesses that reader's RECIST responses from that date on (each changed response is
  an audited update with the same reason);
* dose decisions (``exposure``) are never rewritten: they were made on the data known at the visit, and the
  correction stays visible next to them in the audit trail.

After a recorded death only death-related records (the death, the disposition, adverse events) can be
corrected (B8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from trialtwin.engine.recist.assess import assess_recist
from trialtwin.engine.recist.best_response import RecistRules
from trialtwin.engine.recist.lesions import LesionStatus, RecistInputError, RecistRecord
from trialtwin.engine.toxicity import CtcaeError, grade_lab
from trialtwin.services.assessments import MAX_DIAMETER_MM, stored_record
from trialtwin.services.clinical_common import (
    FieldError,
    SubjectContext,
    check_bool,
    check_date,
    check_int,
    check_number,
    check_text,
    staff_context,
)
from trialtwin.services.errors import WorkflowError
from trialtwin.services.events import DEATH_CAUSES, EOT_REASONS, latest_clinical_date
from trialtwin.services.labs import LAB_TERMS, LAB_UNITS
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.services.visits import HEIGHT_RANGE_CM, WEIGHT_RANGE_KG
from trialtwin.store.audit import to_jsonable
from trialtwin.store.db import Database
from trialtwin.store.tables import (
    AdverseEvent,
    Base,
    Death,
    Disposition,
    Lab,
    Lesion,
    Response,
    SubjectBaseline,
    SurvivalContact,
)

Check = Callable[[Any, str, SubjectContext, dt.date], Any]


def _date(value: Any, field: str, ctx: SubjectContext, today: dt.date) -> dt.date:
    return check_date(value, field, ctx, today)


def _date_or_none(value: Any, field: str, ctx: SubjectContext, today: dt.date) -> dt.date | None:
    return None if value is None else check_date(value, field, ctx, today, after_death=True)


def _death_date(value: Any, field: str, ctx: SubjectContext, today: dt.date) -> dt.date:
    return check_date(value, field, ctx, today, after_death=True)


def _num(low: float, high: float) -> Check:
    return lambda v, f, c, t: check_number(v, f, low, high)


def _optional_num(low: float, high: float) -> Check:
    return lambda v, f, c, t: None if v is None else check_number(v, f, low, high)


def _int(low: int, high: int) -> Check:
    return lambda v, f, c, t: check_int(v, f, low, high)


def _optional_int(low: int, high: int) -> Check:
    return lambda v, f, c, t: None if v is None else check_int(v, f, low, high)


def _text(max_len: int) -> Check:
    return lambda v, f, c, t: check_text(v, f, max_len=max_len)


def _bool(v: Any, f: str, c: SubjectContext, t: dt.date) -> bool | None:
    return check_bool(v, f)


def _optional_bool(v: Any, f: str, c: SubjectContext, t: dt.date) -> bool | None:
    return check_bool(v, f, optional=True)


def _choice(allowed: tuple[str, ...]) -> Check:
    def check(v: Any, f: str, c: SubjectContext, t: dt.date) -> str:
        if v not in allowed:
            raise FieldError(f, f"must be one of {', '.join(allowed)} (got {v!r})")
        return str(v)

    return check


_STATUSES = tuple(s.value for s in LesionStatus)

#: table → (model, correctable field → check).
CORRECTABLE: dict[str, tuple[type[Base], dict[str, Check]]] = {
    "labs": (Lab, {"value": _num(0.0, 1e9), "date": _date}),
    "adverse_events": (
        AdverseEvent,
        {
            "term": _text(200),
            "grade": _int(1, 5),
            "start_date": _date,
            "end_date": _date_or_none,
            "serious": _bool,
            "related": _optional_bool,
            "febrile": _optional_bool,
            "infection": _optional_bool,
            "controlled": _optional_bool,
            "duration_days": _optional_int(0, 3650),
            "cycle": _optional_int(1, 1000),
            "cycle_day": _optional_int(1, 366),
        },
    ),
    "lesions": (
        Lesion,
        {
            "diameter_mm": _optional_num(0.0, MAX_DIAMETER_MM),
            "too_small": _bool,
            "status": _choice(_STATUSES),
            "organ": _text(64),
            "nodal": _bool,
        },
    ),
    "disposition": (
        Disposition,
        {"date": _death_date, "reason": _choice((*EOT_REASONS, "new_anticancer_therapy")), "detail": _text(2000)},
    ),
    "deaths": (Death, {"date": _death_date, "cause": _choice(DEATH_CAUSES)}),
    "subject_baselines": (
        SubjectBaseline,
        {"weight_kg": _num(*WEIGHT_RANGE_KG), "height_cm": _num(*HEIGHT_RANGE_CM), "ecog": _int(0, 5)},
    ),
    "survival_followup": (SurvivalContact, {"date": _date}),
}
#: Tables that may still be corrected after a recorded death.
DEATH_RELATED = frozenset({"deaths", "disposition", "adverse_events"})


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    """What changed: the table, record id, the fields with their old and new values, the reason, and the
    records re-derived by the engine (``"responses/<id>"``, re-graded labs)."""

    table: str
    record_id: int
    old: dict[str, Any]
    new: dict[str, Any]
    reason: str
    rederived: tuple[str, ...]


def correct_record(
    db: Database,
    study_id: str,
    screening_id: str,
    table: str,
    record_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str,
    actor: int,
    clock: Clock,
) -> CorrectionResult:
    """Correct fields of one of the subject's clinical records (see the module docstring). ``FieldError``
    names a field that cannot be corrected or a bad value; nothing is written then."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return correct_record_in(uow, study_id, screening_id, table, record_id, changes, reason=reason)


def correct_record_in(
    uow: UnitOfWork,
    study_id: str,
    screening_id: str,
    table: str,
    record_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str,
) -> CorrectionResult:
    """:func:`correct_record` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    why = check_text(reason, "reason", max_len=2000)
    if table not in CORRECTABLE:
        raise FieldError("table", f"{table!r} cannot be corrected (correctable: {', '.join(CORRECTABLE)})")
    if ctx.death is not None and table not in DEATH_RELATED:
        raise WorkflowError(
            f"subject {screening_id} died on {ctx.death.date}; only the death, disposition and adverse events "
            "can still be corrected"
        )
    model, checks = CORRECTABLE[table]
    row = uow.session.get(model, record_id) if isinstance(record_id, int) and not isinstance(record_id, bool) else None
    if row is None or getattr(row, "subject_id", None) != ctx.subject.id:
        raise FieldError("record_id", f"subject {screening_id} has no {table} record {record_id!r}")
    if not isinstance(changes, Mapping) or not changes:
        raise FieldError("changes", "give at least one field to correct")
    today = uow.now.date()
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in checks:
            raise FieldError(f"changes.{name}", f"cannot be corrected (fields: {', '.join(checks)})")
        clean[name] = checks[name](value, f"changes.{name}", ctx, today)
    old = {k: to_jsonable(getattr(row, k)) for k in clean}
    rederived: list[str] = []
    if isinstance(row, Lab):
        clean["grade"] = _regrade(row, clean.get("value", row.value))
    if isinstance(row, Death) and "date" in clean:
        latest = latest_clinical_date(uow, ctx)
        if latest is not None and clean["date"] < latest:
            raise FieldError("changes.date", f"{clean['date']} is before clinical data recorded on {latest}")
    uow.audit.update(row, clean, reason=why)
    if isinstance(row, Lesion):
        rederived = _reassess(uow, ctx, row.assessor, why)
    if isinstance(row, Death) and "date" in clean:
        eos = uow.session.execute(
            select(Disposition).where(
                Disposition.subject_id == ctx.subject.id,
                Disposition.event == "end_of_study",
                Disposition.reason == "death",
            )
        ).scalar_one_or_none()
        if eos is not None and uow.audit.update(eos, {"date": clean["date"]}, reason=why):
            rederived.append(f"disposition/{eos.id}")
    return CorrectionResult(table, record_id, old, {k: to_jsonable(v) for k, v in clean.items()}, why, tuple(rederived))


def _regrade(row: Lab, value: float) -> int:
    term = LAB_TERMS.get(row.test)
    if term is None:
        return 0
    try:
        if row.lln is not None:
            return grade_lab(term, value, LAB_UNITS[row.test], lln=row.lln)
        return grade_lab(term, value, "xULN")
    except CtcaeError as exc:
        raise FieldError("changes.value", str(exc)) from None


def _reassess(uow: UnitOfWork, ctx: SubjectContext, assessor: str, reason: str) -> list[str]:
    uow.session.flush()
    assessments = stored_record(uow.session, ctx, assessor)
    if len(assessments) < 2:
        return []
    rules = RecistRules.from_protocol(ctx.protocol.response_rules)
    try:
        result = assess_recist(RecistRecord(ctx.start, tuple(assessments)), rules=rules, check=True)
    except RecistInputError as exc:
        raise FieldError("changes", str(exc)) from None
    rows = {
        r.date: r
        for r in uow.session.execute(
            select(Response).where(Response.subject_id == ctx.subject.id, Response.assessor == assessor)
        ).scalars()
    }
    changed = []
    for tp in result.timepoints:
        row = rows.get(tp.date)
        if row is None:
            continue
        new = {
            "target": tp.target.value if tp.target is not None else None,
            "non_target": tp.non_target.value if tp.non_target is not None else None,
            "new_lesions": tp.new_lesions,
            "overall": tp.overall.value,
            "sum_mm": tp.sum_mm,
            "pct_from_baseline": tp.pct_from_baseline,
        }
        if uow.audit.update(row, new, reason=f"RECIST re-assessed after a lesion correction: {reason}"):
            changed.append(f"responses/{row.id}")
    return changed
