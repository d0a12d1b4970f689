"""Adverse events, end of treatment, withdrawal, death and survival follow-up.

* Adverse event (ICH E2A; CTCAE v5.0): term, grade 1-5 (or a lab value the engine grades,
  ``trialtwin.engine.toxicity.grade_lab``), onset, resolution, serious, related, and what the
  dose-modification rules read (fever, infection, controlled by supportive care, days at worst grade). It is
  attributed to the administration it follows (the last dose given before onset) unless the site names one.
* End of treatment / new anticancer therapy (frame ``disposition``): one each per subject.
* Withdrawal of consent: end of study, reason ``withdrawal``; nothing clinical is dated after it.
* Death: the ``deaths`` row and the end-of-study disposition (reason ``death``); one per subject; nothing
  clinical is dated after it.
* Survival follow-up contact: known alive on a date (after treatment ends).

Refused (``WorkflowError``/``FieldError``, nothing written): before randomization, dates in the future, before
randomization or after a recorded death or withdrawal, duplicates of once-only events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from trialtwin.engine.dose_modification import GIVEN_ACTIONS
from trialtwin.engine.toxicity import CtcaeError, canonical_term, grade_lab
from trialtwin.engine.toxicity_history import DoseRecord, attribute_onset
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
from trialtwin.services.labs import DEFAULT_LLN
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.tables import AdverseEvent, Death, Disposition, Exposure, Lab, Lesion, SurvivalContact

EOT_REASONS = (
    "progression",
    "adverse_event",
    "withdrawal",
    "death",
    "physician_decision",
    "lost_to_follow_up",
    "completed",
    "other",
)
DEATH_CAUSES = ("progressive_disease", "adverse_event", "other")


@dataclass(frozen=True, slots=True)
class AdverseEventIn:
    """An adverse event as entered. Give ``grade``, or ``lab_value`` (in ``lab_unit``, with ``lab_lln``/
    ``lab_uln`` as the test needs) for a lab-defined term graded by the engine. ``cycle``/``cycle_day``: the
    administration the event follows (default: the last dose given before onset)."""

    term: str
    onset: dt.date
    grade: int | None = None
    resolution: dt.date | None = None
    serious: bool = False
    related: bool | None = None
    febrile: bool | None = None
    infection: bool | None = None
    controlled: bool | None = None
    duration_days: int | None = None
    cycle: int | None = None
    cycle_day: int | None = None
    lab_value: float | None = None
    lab_unit: str | None = None
    lab_lln: float | None = None
    lab_uln: float | None = None


@dataclass(frozen=True, slots=True)
class AdverseEventRecord:
    id: int
    study_id: str
    screening_id: str
    term: str
    grade: int
    onset: dt.date
    resolution: dt.date | None
    serious: bool
    related: bool | None
    cycle: int | None
    cycle_day: int | None


@dataclass(frozen=True, slots=True)
class DispositionRecord:
    """A disposition milestone (and, for a death, the ``death_id``)."""

    id: int
    study_id: str
    screening_id: str
    event: str
    date: dt.date
    reason: str
    detail: str
    death_id: int | None = None


def _grade(event: AdverseEventIn, term: str) -> tuple[int, float | None]:
    if event.lab_value is None:
        if event.grade is None:
            raise FieldError("grade", "give the CTCAE grade (1-5) or the lab value to grade")
        return check_int(event.grade, "grade", 1, 5), None
    value = check_number(event.lab_value, "lab_value", 0.0, 1e9)
    unit = check_text(event.lab_unit, "lab_unit", max_len=32)
    lln = event.lab_lln
    if lln is None and term == "Neutrophil count decreased" and unit == "10^9/L":
        lln = DEFAULT_LLN["anc"]
    try:
        graded = grade_lab(term, value, unit, lln=lln, uln=event.lab_uln)
    except CtcaeError as exc:
        raise FieldError("lab_value", str(exc)) from None
    if graded == 0:
        raise FieldError("lab_value", f"{value:g} {unit} is within normal limits (grade 0): not an adverse event")
    if event.grade is not None and event.grade != graded:
        raise FieldError("grade", f"the lab value gives CTCAE grade {graded}, not {event.grade}")
    return graded, value


def _attribution(uow: UnitOfWork, ctx: SubjectContext, onset: dt.date) -> tuple[int | None, int | None]:
    """The dose an adverse event with this onset is attributed to (engine rule:
    :func:`trialtwin.engine.toxicity_history.attribute_onset`), ``(None, None)`` before the first dose."""
    query = select(Exposure).where(Exposure.subject_id == ctx.subject.id).order_by(Exposure.date, Exposure.id)
    doses = [
        DoseRecord(row.date, row.cycle, row.cycle_day, row.action in GIVEN_ACTIONS)
        for row in uow.session.execute(query).scalars()
    ]
    found = attribute_onset(doses, onset)
    return found if found is not None else (None, None)


def record_adverse_event(
    db: Database, study_id: str, screening_id: str, event: AdverseEventIn, *, actor: int, clock: Clock
) -> AdverseEventRecord:
    """Record an adverse event (see the module docstring). Site staff only."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return record_adverse_event_in(uow, study_id, screening_id, event)


def record_adverse_event_in(
    uow: UnitOfWork, study_id: str, screening_id: str, event: AdverseEventIn
) -> AdverseEventRecord:
    """:func:`record_adverse_event` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    raw_term = check_text(event.term, "term", max_len=200)
    term = canonical_term(raw_term)  # CTCAE spelling of known terms and aliases; others as entered
    today = uow.now.date()
    onset = check_date(event.onset, "onset", ctx, today)
    resolution = None
    if event.resolution is not None:
        resolution = check_date(event.resolution, "resolution", ctx, today, earliest=onset, after_death=True)
    grade, lab_value = _grade(event, term)
    if grade == 5 and resolution is not None:
        raise FieldError("resolution", "a grade 5 (fatal) event has no resolution date")
    serious = bool(check_bool(event.serious, "serious"))
    flags = {
        name: check_bool(getattr(event, name), name, optional=True)
        for name in ("related", "febrile", "infection", "controlled")
    }
    duration = None if event.duration_days is None else check_int(event.duration_days, "duration_days", 0, 3650)
    if (event.cycle is None) != (event.cycle_day is None):
        raise FieldError(
            "cycle_day" if event.cycle_day is None else "cycle", "give both cycle and cycle_day, or neither"
        )
    cycle: int | None
    cycle_day: int | None
    if event.cycle is not None and event.cycle_day is not None:
        cycle, cycle_day = check_int(event.cycle, "cycle", 1, 1000), check_int(event.cycle_day, "cycle_day", 1, 366)
    else:
        cycle, cycle_day = _attribution(uow, ctx, onset)
    assert uow.actor is not None
    row = AdverseEvent(
        subject_id=ctx.subject.id,
        term=term,
        grade=grade,
        start_date=onset,
        end_date=resolution,
        serious=serious,
        cycle=cycle,
        cycle_day=cycle_day,
        duration_days=duration,
        lab_test=None,
        lab_value=lab_value,
        recorded_at=uow.now,
        recorded_by=uow.actor,
        **flags,
    )
    uow.audit.create(row)
    return AdverseEventRecord(
        row.id, study_id, screening_id, term, grade, onset, resolution, serious, flags["related"], cycle, cycle_day
    )


def resolve_adverse_event(
    db: Database,
    study_id: str,
    screening_id: str,
    event_id: int,
    resolution: dt.date,
    *,
    actor: int,
    clock: Clock,
) -> AdverseEventRecord:
    """Record the resolution date of an ongoing adverse event (an audited update, reason "resolution
    recorded"; a changed resolution date is a correction, ``correct_record``)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        row = uow.session.get(AdverseEvent, event_id) if isinstance(event_id, int) else None
        if row is None or row.subject_id != ctx.subject.id:
            raise FieldError("event_id", f"subject {screening_id} has no adverse event {event_id!r}")
        if row.end_date is not None:
            raise WorkflowError(
                f"adverse event {event_id} resolved on {row.end_date} already; correct it with a reason"
            )
        if row.grade == 5:
            raise WorkflowError(f"adverse event {event_id} is fatal (grade 5); it has no resolution")
        when = check_date(resolution, "resolution", ctx, uow.now.date(), earliest=row.start_date, after_death=True)
        uow.audit.update(row, {"end_date": when}, reason="resolution recorded")
        return AdverseEventRecord(
            row.id,
            study_id,
            screening_id,
            row.term,
            row.grade,
            row.start_date,
            when,
            row.serious,
            row.related,
            row.cycle,
            row.cycle_day,
        )


def _disposition(uow: UnitOfWork, ctx: SubjectContext, event: str) -> Disposition | None:
    query = select(Disposition).where(Disposition.subject_id == ctx.subject.id, Disposition.event == event)
    return uow.session.execute(query).scalars().first()


def _add_disposition(
    uow: UnitOfWork, ctx: SubjectContext, event: str, date: dt.date, reason: str, detail: str
) -> Disposition:
    assert uow.actor is not None
    row = Disposition(
        subject_id=ctx.subject.id,
        event=event,
        date=date,
        reason=reason,
        detail=detail,
        recorded_at=uow.now,
        recorded_by=uow.actor,
    )
    uow.audit.create(row)
    return row


def _record(ctx: SubjectContext, row: Disposition, death_id: int | None = None) -> DispositionRecord:
    return DispositionRecord(
        row.id,
        ctx.subject.study_id,
        ctx.subject.screening_id,
        row.event,
        row.date,
        row.reason,
        row.detail or "",
        death_id,
    )


def _check_open(uow: UnitOfWork, ctx: SubjectContext, when: dt.date, field: str) -> None:
    end = _disposition(uow, ctx, "end_of_study")
    if end is not None and end.reason == "withdrawal" and when > end.date:
        raise WorkflowError(f"subject {ctx.subject.screening_id}: {field} {when} is after the withdrawal on {end.date}")


def record_end_of_treatment(
    db: Database,
    study_id: str,
    screening_id: str,
    eot_date: dt.date,
    reason: str,
    *,
    detail: str | None = None,
    actor: int,
    clock: Clock,
) -> DispositionRecord:
    """Record the end of study treatment on ``eot_date`` with a reason from ``EOT_REASONS``; once per subject.
    No dosing visit is accepted afterwards."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        when = check_date(eot_date, "eot_date", ctx, uow.now.date())
        code = _code(reason, "reason", EOT_REASONS)
        note = check_text(detail, "detail", max_len=2000, required=False)
        if _disposition(uow, ctx, "end_of_treatment") is not None:
            raise WorkflowError(f"subject {screening_id}: end of treatment is recorded already")
        last = uow.session.execute(
            select(Exposure.date).where(Exposure.subject_id == ctx.subject.id).order_by(Exposure.date.desc()).limit(1)
        ).scalar_one_or_none()
        if last is not None and when < last:
            raise FieldError("eot_date", f"{when} is before the last dosing visit on {last}")
        return _record(ctx, _add_disposition(uow, ctx, "end_of_treatment", when, code, note))


def record_new_anticancer_therapy(
    db: Database, study_id: str, screening_id: str, start_date: dt.date, *, detail: str, actor: int, clock: Clock
) -> DispositionRecord:
    """Record the start of a new anticancer therapy (``detail``: which); once per subject."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        when = check_date(start_date, "start_date", ctx, uow.now.date())
        note = check_text(detail, "detail", max_len=2000)
        _check_open(uow, ctx, when, "start_date")
        if _disposition(uow, ctx, "new_anticancer_therapy") is not None:
            raise WorkflowError(f"subject {screening_id}: a new anticancer therapy is recorded already")
        return _record(ctx, _add_disposition(uow, ctx, "new_anticancer_therapy", when, "new_anticancer_therapy", note))


def record_withdrawal(
    db: Database,
    study_id: str,
    screening_id: str,
    withdrawal_date: dt.date,
    *,
    detail: str | None = None,
    actor: int,
    clock: Clock,
) -> DispositionRecord:
    """Record withdrawal of consent (end of study, reason ``withdrawal``) on ``withdrawal_date``; nothing
    clinical is dated after it (ICH E6(R3) 2.8.10: data up to withdrawal are kept)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        when = check_date(withdrawal_date, "withdrawal_date", ctx, uow.now.date())
        note = check_text(detail, "detail", max_len=2000, required=False)
        if _disposition(uow, ctx, "end_of_study") is not None:
            raise WorkflowError(f"subject {screening_id}: end of study is recorded already")
        return _record(ctx, _add_disposition(uow, ctx, "end_of_study", when, "withdrawal", note))


def record_death(
    db: Database,
    study_id: str,
    screening_id: str,
    death_date: dt.date,
    cause: str,
    *,
    detail: str | None = None,
    actor: int,
    clock: Clock,
) -> DispositionRecord:
    """Record the subject's death (``cause`` from ``DEATH_CAUSES``) and the end of study; once per subject.
    Refused when a clinical record is dated after ``death_date`` (correct that record first)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        when = check_date(death_date, "death_date", ctx, uow.now.date())
        code = _code(cause, "cause", DEATH_CAUSES)
        note = check_text(detail, "detail", max_len=2000, required=False)
        if ctx.death is not None:
            raise WorkflowError(f"subject {screening_id}: a death is recorded already (on {ctx.death.date})")
        if _disposition(uow, ctx, "end_of_study") is not None:
            raise WorkflowError(f"subject {screening_id}: end of study (withdrawal) is recorded already")
        later = latest_clinical_date(uow, ctx)
        if later is not None and later > when:
            raise FieldError("death_date", f"{when} is before clinical data recorded on {later}")
        assert uow.actor is not None
        death = Death(subject_id=ctx.subject.id, date=when, cause=code, recorded_at=uow.now, recorded_by=uow.actor)
        uow.audit.create(death)
        return _record(ctx, _add_disposition(uow, ctx, "end_of_study", when, "death", note), death.id)


def latest_clinical_date(uow: UnitOfWork, ctx: SubjectContext) -> dt.date | None:
    """The latest date of the subject's exposure, labs, lesions, AE onsets and survival contacts."""
    dates = []
    for column in (Exposure.date, Lab.date, Lesion.date, AdverseEvent.start_date, SurvivalContact.date):
        table = column.class_
        query = select(column).where(table.subject_id == ctx.subject.id).order_by(column.desc()).limit(1)
        value = uow.session.execute(query).scalar_one_or_none()
        if value is not None:
            dates.append(value)
    return max(dates, default=None)


def record_survival_contact(
    db: Database, study_id: str, screening_id: str, contact_date: dt.date, *, actor: int, clock: Clock
) -> DispositionRecord | None:
    """Record a survival follow-up contact: the subject was alive on ``contact_date`` (frame
    ``survival_followup``). Refused after a recorded death or withdrawal. Returns None (no disposition)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        when = check_date(contact_date, "contact_date", ctx, uow.now.date())
        if ctx.death is not None:
            raise WorkflowError(f"subject {screening_id} died on {ctx.death.date}; no survival contact after it")
        _check_open(uow, ctx, when, "contact_date")
        assert uow.actor is not None
        uow.audit.create(
            SurvivalContact(
                subject_id=ctx.subject.id, date=when, status="alive", recorded_at=uow.now, recorded_by=uow.actor
            )
        )
        return None


def _code(value: object, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip() not in allowed:
        raise FieldError(field, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value.strip()
