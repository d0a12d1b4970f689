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

One UPDATE of the state row per transaction: a group commit allocates many subjects in one transaction, and
each allocation changes the state row (new state, ``allocated``, ``updated_at``, ``version`` + 1) and is
audited on its own (old → new values, as before). The row is already locked, so only its last value needs
writing: :func:`allocate_next` sets the new values on the loaded row as if flushed and leaves one
``UPDATE ... WHERE version = <version in the database>`` to :func:`write_pending_state`, which runs before
COMMIT (a ``before_commit`` hook), before any statement of this session that reads or writes the state row,
and before an ORM flush of it. A rollback forgets it. Inside a savepoint the row is written at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Executable
from sqlalchemy.sql.util import find_tables

from trialtwin.engine.randomization import RandomizationState, Subject, allocate, initial_state
from trialtwin.protocol.model import Protocol
from trialtwin.store.audit import AuditEvent, AuditRecorder, record_id, record_values
from trialtwin.store.errors import StoreError
from trialtwin.store.tables import AuditAction, LedgerEntry, RandomizationStateRow
from trialtwin.store.tables_irt import SOURCE_IRT


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


#: ``session.info`` key of the state rows changed in memory but not yet written: ``{study id: (row, version in
#: the database)}``; and of the number of such deferred changes in this session (:func:`deferred_writes`).
_PENDING = "trialtwin.randomization_state.pending"
_DEFERRED = "trialtwin.randomization_state.deferred"


def deferred_writes(session: Session) -> int:
    """How many state changes this session has deferred so far (the group-commit writer compares it before and
    after a use case: a use case that deferred a change has written)."""
    count: int = session.info.get(_DEFERRED, 0)
    return count


def write_pending_state(session: Session) -> None:
    """Write the state rows changed in memory (see the module docstring): one UPDATE per row, checked against
    the version the database holds (``StoreError`` if another writer changed it: it cannot, the row is locked)."""
    pending: dict[str, tuple[RandomizationStateRow, int]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    table = cast(Table, RandomizationStateRow.__table__)
    for study_id, (row, db_version) in pending.items():
        statement = (
            update(table)
            .where(table.c.study_id == study_id, table.c.version == db_version)
            .values(version=row.version, state=row.state, allocated=row.allocated, updated_at=row.updated_at)
        )
        result = session.connection().execute(statement)
        if result.rowcount != 1:
            raise StoreError(f"study {study_id!r}: the randomization state row changed under its lock")


def _statement_touches_state(statement: Executable) -> bool:
    """Whether ``statement`` may read or write the state row (any statement whose tables cannot be listed, a
    text statement for one, counts). Remembered per statement object: the hot ones are built once."""
    cached = _TOUCHES_STATE.get(statement)
    if cached is None:
        try:
            tables = find_tables(statement, include_joins=True, include_crud=True)  # type: ignore[arg-type]
            cached = not tables or any(t.name == RandomizationStateRow.__tablename__ for t in tables)
        except Exception:
            cached = True
        if len(_TOUCHES_STATE) < 4096:
            _TOUCHES_STATE[statement] = cached
    return cached


_TOUCHES_STATE: dict[Executable, bool] = {}


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    if _PENDING in state.session.info and _statement_touches_state(state.statement):
        write_pending_state(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    pending = session.info.get(_PENDING)
    if pending and any(held in session.dirty or held in session.deleted for held, _ in pending.values()):
        write_pending_state(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending_state(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the whole transaction ended (committed: written already; else: rolled back)
        session.info.pop(_PENDING, None)


def _record_state(
    session: Session,
    recorder: AuditRecorder,
    row: RandomizationStateRow,
    changes: dict[str, Any],
    *,
    reason: str,
) -> None:
    """``recorder.update(row, changes | version + 1, reason=reason)`` without its UPDATE: the same audit event
    (the changed fields' old and new values, the version included), the values set on ``row`` as if flushed,
    and the write left to :func:`write_pending_state`. In a savepoint, the plain audited update."""
    if session.in_nested_transaction() or row in session.dirty:
        recorder.update(row, changes, reason=reason)
        return
    held = session.info.get(_PENDING, {}).get(row.study_id)
    if held is not None and held[0] is not row:  # another object for the row (cannot happen: one identity map)
        write_pending_state(session)
        held = None
    db_version = row.version if held is None else held[1]
    pending: dict[str, tuple[RandomizationStateRow, int]] = session.info.setdefault(_PENDING, {})
    before = record_values(row)
    raw_before = {k: getattr(row, k) for k in before}
    for key, value in (changes | {"version": row.version + 1}).items():
        set_committed_value(row, key, value)
    after = record_values(row)
    changed = [k for k in sorted(before) if raw_before[k] != getattr(row, k)]
    pending[row.study_id] = (row, db_version)
    session.info[_DEFERRED] = deferred_writes(session) + 1
    recorder.events.append(
        AuditEvent(
            AuditAction.UPDATE,
            row.__tablename__,
            row.study_id,
            {k: after[k] for k in changed},
            {k: before[k] for k in changed},
            reason.strip(),
        )
    )


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
    then: Callable[[LedgerEntry], None] | None = None,
    source: str = SOURCE_IRT,
) -> Allocation:
    """Allocate ``subject`` (engine id and stratification levels) for the subject row ``subject_pk``.

    Locks the state, derives the slot's generator, calls ``allocate``, then records the new state (audited
    update, reason "randomization <sequence>") and the ledger row (audited create). Raises the engine's
    ``AllocationRefused`` before writing anything when a stratification level is missing or undeclared.
    ``source`` is the ledger row's origin: ``irt``, or ``manual`` for an emergency-list allocation entered
    later (requirement E9). ``locked`` is the state the caller has already loaded with ``for_update`` in this
    transaction. ``then(entry)``,
    if given, runs before the ledger row is flushed, so that the caller's next writes (the subject's number) go
    into the same flush; the ledger row's audit entry is still recorded before the entries ``then`` records.
    """
    row, state = locked if locked is not None else load_state(session, study_id, for_update=True)
    _, stratum = state.locate(subject)
    position = state.strata[stratum].allocated + 1
    assignment, new_state = allocate(state, subject, rng=rng_for(row.seed, stratum, position))
    if assignment.sequence != position or new_state.allocated != row.allocated + 1:
        raise StoreError(f"study {study_id!r}: the randomization state is inconsistent with its row (allocated)")
    sequence = new_state.allocated
    state_after: dict[str, Any] = new_state.to_dict()
    _record_state(
        session,
        recorder,
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
        source=source,
    )
    if then is None:
        recorder.create(entry)
        return Allocation(entry, new_state)
    # The caller's writes that follow the allocation go into the same flush; the ledger row's audit entry (it
    # needs the row's id) still comes before theirs, as with ``recorder.create(entry)`` and then theirs.
    session.add(entry)
    mark = len(recorder.events)
    then(entry)
    session.flush()
    values = record_values(entry)
    recorder.events.insert(
        mark, AuditEvent(AuditAction.CREATE, entry.__tablename__, record_id(entry), values, None, None)
    )
    return Allocation(entry, new_state)


def ledger(session: Session, study_id: str) -> list[LedgerEntry]:
    """Every allocation of the study, in sequence order."""
    query = select(LedgerEntry).where(LedgerEntry.study_id == study_id).order_by(LedgerEntry.sequence)
    return list(session.execute(query).scalars())
