"""The randomization ledger and the randomization state: load under a lock, allocate, save.

The state is a value (``trialtwin.engine.randomization.RandomizationState``, DESIGN.md principle 2): it is
kept as ``to_dict()`` data in the study's ``randomization_state`` row and read back with ``from_dict``.
:func:`allocate_next` locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite already holds the
write lock from ``BEGIN IMMEDIATE``), calls the engine's ``allocate``, and writes the ledger row and the new
state through an :class:`~trialtwin.store.audit.AuditRecorder`, all in the caller's transaction. So two
allocations can never read the same state: no slot is given twice and the ledger's ``sequence`` runs 1, 2,
3, … without gaps (ASVS 2.3.3/2.3.4; trial-system-requirements E3/E4).

Randomness: each allocation uses ``numpy.random.default_rng([seed, stratum index, position in stratum])``
(NumPy ``SeedSequence`` entropy from the secret study seed and the slot). A stratum's list therefore depends
only on the seed, not on how subjects of different strata interleave, so the same seed gives the same
per-stratum lists on any database and under any concurrency (requirement E5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.engine.randomization import RandomizationState, Subject, allocate, initial_state
from trialtwin.protocol.model import Protocol
from trialtwin.store.audit import AuditRecorder
from trialtwin.store.errors import StoreError
from trialtwin.store.tables import LedgerEntry, RandomizationStateRow


def seed_reference(study_id: str, generation: int = 1) -> str:
    """The public name of a study's secret seed (``ever-132-002/seed-1``), stored with each allocation."""
    return f"{study_id}/seed-{generation}"


def rng_for(seed: int, stratum: int, position: int) -> np.random.Generator:
    """The generator of one slot: entropy ``[seed, stratum index, 1-based position in the stratum]``."""
    return np.random.default_rng([seed, stratum, position])


def new_state_row(protocol: Protocol, *, seed: int, now: dt.datetime) -> RandomizationStateRow:
    """The empty state of ``protocol`` as a row (not yet added to a session)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise StoreError(f"{protocol.id}: the randomization seed must be an integer in [0, 2^63) (got {seed!r})")
    state = initial_state(protocol)
    return RandomizationStateRow(
        study_id=protocol.id,
        method=state.method.value,
        seed=seed,
        seed_ref=seed_reference(protocol.id),
        state=state.to_dict(),
        allocated=0,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class _Held:
    """A state row this session has loaded, its version then, its parsed value, and whether it was locked
    (``FOR UPDATE``) outside any savepoint, i.e. until the transaction ends."""

    row: RandomizationStateRow
    version: int
    state: RandomizationState
    locked: bool


#: ``session.info`` key of the :class:`_Held` states, by study. Within one transaction a version names one
#: state (the row is locked, and its version goes up with every update); a group commit runs many
#: randomizations in one transaction and so locks, reads and parses the row once.
_STATE_CACHE = "trialtwin.randomization_state"


def load_state(
    session: Session, study_id: str, *, for_update: bool = False
) -> tuple[RandomizationStateRow, RandomizationState]:
    """The study's state row and its value; ``for_update`` locks the row until the transaction ends."""
    cache: dict[str, _Held] = session.info.setdefault(_STATE_CACHE, {})
    held = cache.get(study_id)
    if (
        held is not None
        and (held.locked or not for_update)
        and held.row in session
        and not session.in_nested_transaction()
        and held.row.version == held.version  # an expired row (rolled back) is read again here
    ):
        return held.row, held.state
    query = select(RandomizationStateRow).where(RandomizationStateRow.study_id == study_id)
    if for_update:
        # Read afresh: the row may sit in the session from before, and have been changed since.
        query = query.with_for_update().execution_options(populate_existing=True)
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise StoreError(f"study {study_id!r} has no randomization state (load the study first)")
    if held is not None and held.row is row and held.version == row.version:
        state = held.state
    else:
        state = RandomizationState.from_dict(row.state)
    locked = for_update and not session.in_nested_transaction()
    cache[study_id] = _Held(row, row.version, state, locked)
    return row, state


@dataclass(frozen=True, slots=True)
class Allocation:
    """What :func:`allocate_next` wrote: the ledger row and the state after it."""

    entry: LedgerEntry
    state: RandomizationState


def allocate_next(
    session: Session,
    recorder: AuditRecorder,
    study_id: str,
    subject_pk: int,
    subject: Subject,
    *,
    user_id: int,
    now: dt.datetime,
    locked: tuple[RandomizationStateRow, RandomizationState] | None = None,
) -> Allocation:
    """Allocate ``subject`` (engine id and stratification levels) for the subject row ``subject_pk``.

    Locks the state, derives the slot's generator, calls ``allocate``, then records the new state (audited
    update, reason "randomization <sequence>") and the ledger row (audited create). Raises the engine's
    ``AllocationRefused`` before writing anything when a stratification level is missing or undeclared.
    ``locked`` is the state the caller has already loaded with ``for_update`` in this transaction.
    """
    row, state = locked if locked is not None else load_state(session, study_id, for_update=True)
    _, stratum = state.locate(subject)
    position = state.strata[stratum].allocated + 1
    assignment, new_state = allocate(state, subject, rng=rng_for(row.seed, stratum, position))
    if assignment.sequence != position or new_state.allocated != row.allocated + 1:
        raise StoreError(f"study {study_id!r}: the randomization state is inconsistent with its row (allocated)")
    sequence = new_state.allocated
    state_after: dict[str, Any] = new_state.to_dict()
    recorder.update(
        row,
        {"state": state_after, "allocated": sequence, "updated_at": now},
        reason=f"randomization {sequence}",
    )
    cache: dict[str, _Held] = session.info.setdefault(_STATE_CACHE, {})
    previous = cache.get(study_id)
    cache[study_id] = _Held(
        row, row.version, new_state, previous is not None and previous.row is row and previous.locked
    )
    entry = LedgerEntry(
        study_id=study_id,
        sequence=sequence,
        subject_id=subject_pk,
        arm=assignment.arm,
        stratum=assignment.stratum,
        stratum_sequence=assignment.sequence,
        method=assignment.method.value,
        block=assignment.block,
        block_size=assignment.block_size,
        block_position=assignment.block_position,
        levels={f.id: subject.levels[f.id] for f in state.factors},
        seed_ref=row.seed_ref,
        state_version=row.version,
        state_after=state_after,
        randomized_at=now,
        randomized_by=user_id,
    )
    recorder.create(entry)
    return Allocation(entry, new_state)


def ledger(session: Session, study_id: str) -> list[LedgerEntry]:
    """Every allocation of the study, in sequence order."""
    query = select(LedgerEntry).where(LedgerEntry.study_id == study_id).order_by(LedgerEntry.sequence)
    return list(session.execute(query).scalars())
