"""Randomization ledger and state in the database: the slot's generator, locked load → allocate → save,
the version check, refusals without writes (trial-system-requirements E3-E6; ICH E9 §2.3)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from trialtwin.engine.randomization import AllocationRefused, RandomizationState, allocate, initial_state
from trialtwin.engine.randomization import Subject as EngineSubject
from trialtwin.protocol import Protocol
from trialtwin.store import Database, StoreError
from trialtwin.store.audit import AuditRecorder
from trialtwin.store.ledger import allocate_next, ledger, load_state, new_state_row, rng_for, seed_reference
from trialtwin.store.tables import AuditLog, LedgerEntry, RandomizationStateRow, Site, Study, Subject

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
SEED = 2020
LEVELS = [
    {"prior_lines": "2", "visceral": "yes", "prior_cdk46": "no"},
    {"prior_lines": "3-4", "visceral": "no", "prior_cdk46": "yes"},
]


def test_slot_generator_depends_only_on_seed_stratum_and_position() -> None:
    """NumPy SeedSequence entropy [seed, stratum, position]: same slot, same draws; another slot, others."""
    draws = rng_for(SEED, 3, 7).random(4)
    assert np.array_equal(draws, rng_for(SEED, 3, 7).random(4))
    assert not np.array_equal(draws, rng_for(SEED, 3, 8).random(4))
    assert not np.array_equal(draws, rng_for(SEED, 4, 7).random(4))
    assert not np.array_equal(draws, rng_for(SEED + 1, 3, 7).random(4))


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.5], ids=repr)
def test_seed_must_be_a_non_negative_63_bit_integer(ever: Protocol, seed: object) -> None:
    with pytest.raises(StoreError, match="seed"):
        new_state_row(ever, seed=seed, now=T0)  # type: ignore[arg-type]


@pytest.fixture
def study(db: Database, ever: Protocol) -> Database:
    """``db`` with EVER-132-002's study row, one site, 20 subjects and the empty state (no audit: setup)."""
    with db.session() as session, session.begin():
        session.add(
            Study(
                id=ever.id,
                nct_id="NCT04639986",
                title="t",
                protocol={},
                protocol_sha256="0" * 64,
                loaded_at=T0,
                loaded_by=1,
            )
        )
        session.flush()  # no ORM relationships: flush in foreign-key order by hand
        session.add(Site(id=1, study_id=ever.id, code="CN-001", facility="f", city="c", country="China", active=True))
        session.add(new_state_row(ever, seed=SEED, now=T0))
        session.flush()
        for i in range(1, 21):
            session.add(
                Subject(
                    id=i,
                    study_id=ever.id,
                    site_id=1,
                    screening_id=f"S{i}",
                    status="eligible",
                    registered_at=T0,
                    registered_by=1,
                )
            )
    return db


def _allocate(db: Database, study_id: str, pk: int, levels: dict[str, str]) -> LedgerEntry:
    with db.session() as session, session.begin():
        recorder = AuditRecorder(session)
        allocation = allocate_next(session, recorder, study_id, pk, EngineSubject(f"S{pk}", levels), user_id=1, now=T0)
        recorder.append(user_id=1, at=T0)
        return allocation.entry


def test_allocations_follow_the_engine_with_the_slot_generator(study: Database, ever: Protocol) -> None:
    """The ledger equals the engine's allocate() run on the same subjects with rng_for(seed, stratum,
    position): the service adds persistence, not another algorithm (DESIGN.md principle 2)."""
    order = [0, 1, 1, 0, 0, 1, 0, 0, 1, 1]
    entries = [_allocate(study, ever.id, pk, LEVELS[k]) for pk, k in enumerate(order, start=1)]
    state = initial_state(ever)
    expected = []
    for pk, k in enumerate(order, start=1):
        subject = EngineSubject(f"S{pk}", LEVELS[k])
        _, stratum = state.locate(subject)
        rng = rng_for(SEED, stratum, state.strata[stratum].allocated + 1)
        assignment, state = allocate(state, subject, rng=rng)
        expected.append((assignment.arm, assignment.stratum, assignment.sequence, assignment.block_size))
    assert [(e.arm, e.stratum, e.stratum_sequence, e.block_size) for e in entries] == expected
    assert [e.sequence for e in entries] == list(range(1, 11))
    with study.read_session() as session:
        row, stored = load_state(session, ever.id)
        assert stored == state and row.allocated == 10 and row.version == 11
        assert entries[-1].state_after == state.to_dict() and entries[-1].seed_ref == seed_reference(ever.id)
        assert [e.sequence for e in ledger(session, ever.id)] == list(range(1, 11))
        audited = session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    assert audited == 20  # one state update and one ledger create per allocation


def test_missing_stratification_level_is_refused_before_any_write(study: Database, ever: Protocol) -> None:
    """ICH E9 §2.3.2: a subject without every factor is not allocated; the state and ledger are untouched."""
    with pytest.raises(AllocationRefused, match="'prior_cdk46' is missing"):
        _allocate(study, ever.id, 1, {"prior_lines": "2", "visceral": "yes"})
    with study.read_session() as session:
        row, _ = load_state(session, ever.id)
        assert row.allocated == 0 and row.version == 1
        assert session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_a_stale_state_cannot_be_saved(study: Database, ever: Protocol) -> None:
    """The version column: a writer holding an old copy of the state fails instead of overwriting a newer
    allocation (defence in depth behind the row lock)."""
    stale_session = study.session()
    with stale_session.begin():
        stale = stale_session.get(RandomizationStateRow, ever.id)
        assert stale is not None and stale.version == 1
    _allocate(study, ever.id, 1, LEVELS[0])
    with pytest.raises(StaleDataError), stale_session.begin():
        stale.allocated = 99
    stale_session.close()


def test_unknown_study_has_no_state(db: Database) -> None:
    with db.read_session() as session, pytest.raises(StoreError, match="no randomization state"):
        load_state(session, "nope")


def test_state_round_trips_through_the_json_column(study: Database, ever: Protocol) -> None:
    _allocate(study, ever.id, 1, LEVELS[1])
    with study.read_session() as session:
        row, state = load_state(session, ever.id)
    assert isinstance(state, RandomizationState) and RandomizationState.from_dict(state.to_dict()) == state
    assert state.allocated == row.allocated == 1
