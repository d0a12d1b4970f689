"""What every clinical use case shares: the randomized subject's context, the site-staff check, and the checks
of entered values that name the field (trial-system-requirements B8, G9).

Order of operations (21 CFR 11.10(f); B8): nothing clinical is recorded before randomization, and nothing dated
after a recorded death (a death-related correction excepted, see ``corrections``). Dates are clinical dates
entered by the site: never in the future (server clock), never before randomization (except the baseline scan,
which falls in the protocol's baseline window before it), never after the recorded death.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.protocol.model import Protocol
from trialtwin.services.access import SITE_STAFF, require_role
from trialtwin.services.errors import PermissionDenied, ServiceError, WorkflowError
from trialtwin.services.studies import study_protocol
from trialtwin.services.uow import UnitOfWork
from trialtwin.store.repositories import get_subject, ledger_entry_for
from trialtwin.store.tables import Death, Disposition, LedgerEntry, Site, Subject, SubjectStatus, Visit


class FieldError(ServiceError):
    """An entered value is missing, of the wrong type or out of range; ``field`` names it (for a 422's
    ``loc``). Nothing was written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass(frozen=True, slots=True)
class SubjectContext:
    """A randomized subject with their site, protocol, allocation and death (if recorded)."""

    subject: Subject
    site: Site
    protocol: Protocol
    entry: LedgerEntry
    death: Death | None
    withdrawn: dt.date | None = None

    @property
    def arm(self) -> str:
        return self.entry.arm

    @property
    def start(self) -> dt.date:
        """Randomization date = study day 1 = cycle 1 day 1 (UTC date of the allocation)."""
        return self.entry.randomized_at.astimezone(dt.UTC).date()

    @property
    def subject_number(self) -> str:
        assert self.subject.subject_number is not None
        return self.subject.subject_number


def load_randomized(
    session: Session, study_id: str, screening_id: str, *, for_update: bool = False, actor: int | None = None
) -> SubjectContext:
    """The subject's context; with ``actor``, only for site staff of the subject's site. ``WorkflowError``
    when the subject is not randomized (B8: nothing clinical before randomization)."""
    subject = get_subject(session, study_id, screening_id, for_update=for_update)
    site = session.get(Site, subject.site_id)
    assert site is not None
    if actor is not None:
        require_role(session, actor, SITE_STAFF, site=site)
    entry = ledger_entry_for(session, subject.id)
    if subject.status != SubjectStatus.RANDOMIZED.value or entry is None:
        raise WorkflowError(
            f"subject {screening_id} is not randomized (status {subject.status}); "
            "clinical data are recorded only after randomization"
        )
    death = session.execute(select(Death).where(Death.subject_id == subject.id)).scalar_one_or_none()
    withdrawn = session.execute(
        select(Disposition.date).where(
            Disposition.subject_id == subject.id,
            Disposition.event == "end_of_study",
            Disposition.reason == "withdrawal",
        )
    ).scalar_one_or_none()
    return SubjectContext(subject, site, study_protocol(session, study_id), entry, death, withdrawn)


def staff_context(uow: UnitOfWork, study_id: str, screening_id: str) -> SubjectContext:
    """:func:`load_randomized` for a write by site staff (investigator or coordinator at the subject's site),
    with the subject row locked."""
    if uow.actor is None:
        raise PermissionDenied("this use case needs an acting user")
    return load_randomized(uow.session, study_id, screening_id, for_update=True, actor=uow.actor)


def subject_regimen(session: Session, ctx: SubjectContext) -> str | None:
    """The regimen the subject is dosed with (the first dosing visit's), or None before any."""
    query = (
        select(Visit.regimen)
        .where(Visit.subject_id == ctx.subject.id, Visit.regimen.is_not(None))
        .order_by(Visit.date, Visit.id)
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def check_date(
    value: Any,
    field: str,
    ctx: SubjectContext,
    today: dt.date,
    *,
    earliest: dt.date | None = None,
    after_death: bool = False,
) -> dt.date:
    """``value`` as a clinical date: a date, not after ``today``, not before ``earliest`` (default: the
    randomization date) and not after the recorded death (unless ``after_death``) or
    a withdrawal of consent (ICH E6(R3) 2.8.10: no data collected after it)."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise FieldError(field, f"must be a date (got {value!r})")
    if value > today:
        raise FieldError(field, f"{value} is in the future (today is {today})")
    floor = ctx.start if earliest is None else earliest
    if value < floor:
        raise FieldError(
            field, f"{value} is before {'randomization' if earliest is None else 'the allowed'} date {floor}"
        )
    if ctx.death is not None and not after_death and value > ctx.death.date:
        raise WorkflowError(
            f"subject {ctx.subject.screening_id}: {field} {value} is after the recorded death on {ctx.death.date}"
        )
    if ctx.withdrawn is not None and not after_death and value > ctx.withdrawn:
        raise WorkflowError(
            f"subject {ctx.subject.screening_id}: {field} {value} is after the withdrawal of consent on {ctx.withdrawn}"
        )
    return value


def check_number(value: Any, field: str, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError(field, f"must be a number (got {value!r})")
    if not low <= value <= high:
        raise FieldError(field, f"must be between {low:g} and {high:g} (got {value:g})")
    return float(value)


def check_int(value: Any, field: str, low: int, high: int) -> int:
    """An integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"must be an integer (got {value!r})")
    if not low <= value <= high:
        raise FieldError(field, f"must be between {low} and {high} (got {value})")
    return value


def check_text(value: Any, field: str, *, max_len: int, required: bool = True) -> str:
    """Stripped text of 1..``max_len`` characters (or empty when not ``required``)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise FieldError(field, f"must be text (got {value!r})")
    text = value.strip()
    if required and not text:
        raise FieldError(field, "is required")
    if len(text) > max_len:
        raise FieldError(field, f"must be at most {max_len} characters")
    return text


def check_bool(value: Any, field: str, *, optional: bool = False) -> bool | None:
    """True or false (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise FieldError(field, f"must be true or false (got {value!r})")
    return value
