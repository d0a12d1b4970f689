"""IRT use cases beyond allocation (trial-system-requirements E5, E7, E9): the list hash for the statistician,
invalidating a mistaken randomization, and reconciling a manual allocation made from the emergency list.

* **List hash (E5/G3).** :func:`randomization_list_hash` gives the SHA-256 recorded when the study was
  loaded and the one recomputed now from the sealed seed and the protocol; equal means the list the
  service allocates from is the list that was generated. Only the CLI calls it (database access is the
  statistician's); no route shows the list or its hash (E2/G5).
* **Invalidation (E7).** An allocation is never changed or removed (the ledger refuses UPDATE and DELETE).
  :func:`invalidate_randomization` adds a :class:`~trialtwin.store.tables_irt.RandomizationInvalidation`
  row with the reason (audited create); the subject stays randomized and in the intention-to-treat
  population (the export keeps it; ICH E9 §5.2.1). A second invalidation, or one without a reason, is
  refused. Who: a **data manager** at the subject's site (or all sites): deciding that a randomization was
  a mistake is a data-management decision, kept from the site staff who randomized (separation of duties)
  and from administrators, who do not handle subject data (least privilege; policy ``randomization.invalidate``).
* **Manual allocation (E9).** While the IRT is down a site allocates from the sealed emergency list,
  which is the study's list (:mod:`trialtwin.store.randomization_list`) printed in advance: stratum,
  position, arm. :func:`reconcile_manual_allocation` enters it later: the same checks and locks as
  :func:`~trialtwin.services.randomize.randomize_in` (consent, eligibility, stratification, never twice),
  consuming the stratum's next slot; the ledger row is written with ``source = "manual"`` and a
  :class:`~trialtwin.store.tables_irt.ManualAllocation` row keeps the envelope reference and the time the
  site allocated (audited, reason "manual allocation …"). The arm the site gave must be the slot's arm;
  otherwise nothing is written and the error names the stratum, the position and the arm entered (with
  two arms this tells the site the slot's arm, which the site's envelope shows anyway). Site staff (the
  role that randomizes) reconcile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from trialtwin.services.access import ADMINS, require_role
from trialtwin.services.errors import PermissionDenied, ServiceError, WorkflowError
from trialtwin.services.randomize import RandomizationResult, randomize_in
from trialtwin.services.studies import record_randomization_list, study_protocol
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.ledger import load_state
from trialtwin.store.randomization_list import study_list
from trialtwin.store.repositories import get_subject, ledger_entry_for
from trialtwin.store.tables import Role, Site
from trialtwin.store.tables_irt import (
    SOURCE_MANUAL,
    ManualAllocation,
    RandomizationInvalidation,
    RandomizationListRecord,
)

#: Who invalidates a randomization (see the module docstring).
INVALIDATORS: frozenset[Role] = frozenset({Role.DATA_MANAGER})
#: Longest reason / emergency list reference accepted.
MAX_REASON = 2000
MAX_REF = 200


class InputError(ServiceError):
    """A field of the request is invalid (422); the message names the field."""


@dataclass(frozen=True, slots=True)
class ListHash:
    """The list SHA-256 recorded at generation, the one recomputed from the seed now, and ``K``."""

    study_id: str
    recorded: str | None
    computed: str | None
    n_per_stratum: int | None
    recorded_at: dt.datetime | None

    @property
    def matches(self) -> bool:
        return self.recorded is not None and self.recorded == self.computed


@dataclass(frozen=True, slots=True)
class InvalidationResult:
    study_id: str
    screening_id: str
    subject_number: str
    sequence: int
    reason: str
    invalidated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ManualAllocationResult:
    """The reconciled allocation (as the site sees it) and the emergency list reference."""

    allocation: RandomizationResult
    emergency_ref: str
    allocated_at: dt.datetime
    source: str


def randomization_list_hash(db: Database, study_id: str) -> ListHash:
    """The recorded and the recomputed list SHA-256 of ``study_id`` (for the statistician's CLI; read only)."""
    with db.read_session() as session:
        protocol = study_protocol(session, study_id)
        row, _state = load_state(session, study_id)
        record = session.execute(
            select(RandomizationListRecord).where(RandomizationListRecord.study_id == study_id)
        ).scalar_one_or_none()
        n = record.n_per_stratum if record is not None else None
        listing = study_list(protocol, row.seed, n)
        return ListHash(
            study_id,
            None if record is None else record.sha256,
            None if listing is None else listing.sha256,
            None if listing is None else listing.n_per_stratum,
            None if record is None else record.generated_at,
        )


def backfill_randomization_list_hash(db: Database, study_id: str, *, reason: str, actor: int, clock: Clock) -> ListHash:
    """Record the list SHA-256 of a study loaded before migration ``0004_irt`` (which had none recorded at
    load): recomputed from the study's seed, in its state row since the study was loaded (audited then), and
    recorded now as an audited create whose reason says it is a backfill and why (administrators only; E5/G3).
    :class:`WorkflowError` when a hash is recorded already or the study has no list (minimisation)."""
    why = _text(reason, "reason", MAX_REASON)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        protocol = study_protocol(uow.session, study_id)
        recorded = uow.session.execute(
            select(RandomizationListRecord).where(RandomizationListRecord.study_id == study_id)
        ).scalar_one_or_none()
        if recorded is not None:
            raise WorkflowError(
                f"study {study_id!r}: the list SHA-256 was recorded on {recorded.generated_at:%Y-%m-%d %H:%M} UTC; "
                "there is nothing to backfill"
            )
        row, _state = load_state(uow.session, study_id)
        done = record_randomization_list(
            uow,
            protocol,
            row.seed,
            actor=actor,
            reason=f"randomization list hash backfilled (study loaded before 0004): {why}",
        )
        if done is None:
            raise WorkflowError(f"study {study_id!r} allocates by minimisation: it has no randomization list")
    return randomization_list_hash(db, study_id)


def _text(value: str | None, field: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{field}: required (give it in words)")
    if len(text) > limit:
        raise InputError(f"{field}: at most {limit} characters (got {len(text)})")
    return text


def invalidate_randomization(
    db: Database, study_id: str, screening_id: str, reason: str, *, actor: int, clock: Clock
) -> InvalidationResult:
    """Invalidate the subject's randomization with ``reason`` (see the module docstring; E7)."""
    why = _text(reason, "reason", MAX_REASON)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        session = uow.session
        subject = get_subject(session, study_id, screening_id)
        site = session.get(Site, subject.site_id)
        require_role(session, actor, INVALIDATORS, site=site)
        entry = ledger_entry_for(session, subject.id)
        if entry is None or subject.subject_number is None:
            raise WorkflowError(f"subject {screening_id} is not randomized; there is nothing to invalidate")
        done = session.execute(
            select(RandomizationInvalidation).where(RandomizationInvalidation.ledger_id == entry.id)
        ).scalar_one_or_none()
        if done is not None:
            raise WorkflowError(
                f"the randomization of subject {subject.subject_number} (ledger sequence {entry.sequence}) was "
                f"invalidated already on {done.invalidated_at:%Y-%m-%d %H:%M} UTC; it is invalidated only once"
            )
        uow.audit.create(
            RandomizationInvalidation(
                ledger_id=entry.id,
                subject_id=subject.id,
                reason=why,
                invalidated_at=uow.now,
                invalidated_by=actor,
            ),
            reason=f"randomization invalidated: ledger sequence {entry.sequence}; {why}",
        )
        return InvalidationResult(study_id, screening_id, subject.subject_number, entry.sequence, why, uow.now)


def get_invalidation(db: Database, study_id: str, screening_id: str) -> InvalidationResult | None:
    """The subject's invalidation, or ``None`` (read only)."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        entry = ledger_entry_for(session, subject.id)
        if entry is None or subject.subject_number is None:
            return None
        done = session.execute(
            select(RandomizationInvalidation).where(RandomizationInvalidation.ledger_id == entry.id)
        ).scalar_one_or_none()
        if done is None:
            return None
        return InvalidationResult(
            study_id, screening_id, subject.subject_number, entry.sequence, done.reason, done.invalidated_at
        )


def reconcile_manual_allocation(
    db: Database,
    study_id: str,
    screening_id: str,
    *,
    arm: str,
    emergency_ref: str,
    allocated_at: dt.datetime,
    actor: int,
    clock: Clock,
) -> ManualAllocationResult:
    """Enter an allocation made from the emergency list while the IRT was down (see the module docstring)."""
    ref = _text(emergency_ref, "emergency_ref", MAX_REF)
    if not isinstance(allocated_at, dt.datetime) or allocated_at.utcoffset() is None:
        raise InputError("allocated_at: give a date and time with its UTC offset")
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        if uow.actor is None:  # pragma: no cover - the signature requires it
            raise PermissionDenied("reconciliation needs an acting user")
        if allocated_at > uow.now:
            raise InputError(
                f"allocated_at: {allocated_at.isoformat()} is in the future (server time {uow.now:%Y-%m-%d %H:%M} UTC)"
            )
        protocol = study_protocol(uow.session, study_id)
        arms = [a.id for a in protocol.arms]
        if arm not in arms:
            raise InputError(f"arm: {arm!r} is not an arm of {study_id} (arms: {', '.join(arms)})")
        result = randomize_in(uow, study_id, screening_id, source=SOURCE_MANUAL)
        if result.arm != arm:
            # Raising rolls the unit of work back: no ledger row, no state change, no audit entry.
            raise WorkflowError(
                f"subject {screening_id}: the arm entered ({arm}) is not the emergency list's arm for the next "
                f"slot of stratum {result.stratum} (position {result.stratum_sequence}); check the envelope's "
                "stratum and position; nothing was recorded"
            )
        subject = get_subject(uow.session, study_id, screening_id)
        entry = ledger_entry_for(uow.session, subject.id)
        assert entry is not None
        uow.audit.create(
            ManualAllocation(
                ledger_id=entry.id,
                emergency_ref=ref,
                arm=arm,
                allocated_at=allocated_at,
                reconciled_at=uow.now,
                reconciled_by=actor,
            ),
            reason=(
                f"manual allocation from the emergency list ({ref}) at "
                f"{allocated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC, reconciled: ledger sequence {entry.sequence}"
            ),
        )
        return ManualAllocationResult(result, ref, allocated_at, entry.source)
