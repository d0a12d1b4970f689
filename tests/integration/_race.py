"""Helpers of the concurrent-randomization tests (test_concurrency.py, test_randomization_race_g1.py): subjects
prepared through the real use cases, clients released together, and the checks on the ledger after a race
(trial-system-requirements E3, E4, E6, G1)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from _trial import Trial, facts_for
from sqlalchemy import func, select

from trialtwin.services import (
    RandomizationResult,
    UnitOfWork,
    enter_eligibility_in,
    record_consent_in,
    register_screening_in,
)
from trialtwin.store.audit import verify_chain
from trialtwin.store.ledger import ledger
from trialtwin.store.tables import AuditLog, RandomizationStateRow, Subject

SITES = tuple(f"CN-{i:03d}" for i in range(1, 11))
#: EVER-132-002's largest block (protocol: blocks of 2 and 4).
MAX_BLOCK = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def trial(request: pytest.FixtureRequest) -> Trial:
    """The trial of ``sqlite_trial`` or of ``pg_trial`` (tests/integration/conftest.py): each race on both."""
    fixture = "sqlite_trial" if request.param == "sqlite" else "pg_trial"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def prepare(
    trial: Trial,
    n: int,
    *,
    chunk: int = 400,
    screened: bool = True,
    part: int = 0,
    parts: int = 1,
    sites: tuple[str, ...] = SITES,
) -> list[str]:
    """``n`` consented subjects over ``sites`` (10 by default), eligible in 8 strata when ``screened`` (setup, a
    few transactions). ``part`` of ``parts``: only the subjects ``k`` with ``k % parts == part`` (for ``parts``
    dividing 10, a disjoint set of sites, so that processes preparing the parts never wait on a site lock)."""
    ids: list[str] = []
    todo = [k for k in range(n) if k % parts == part]
    while len(ids) < len(todo):
        with UnitOfWork(trial.db, actor=trial.investigator, clock=trial.clock) as uow:
            for k in todo[len(ids) : len(ids) + chunk]:
                sid = register_screening_in(uow, trial.study, sites[k % len(sites)]).screening_id
                record_consent_in(uow, trial.study, sid, dt.date(2025, 3, 1), form_version="v1")
                if screened:
                    enter_eligibility_in(uow, trial.study, sid, facts_for((k * 7 + k // 8) % 8))
                ids.append(sid)
    return ids


def run_clients(work: list[list[str]], call: Callable[[str], Any]) -> tuple[list[Any], list[BaseException]]:
    """One thread per list of work, all released together; returns the results and the errors."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(items: list[str]) -> None:
        barrier.wait()
        for item in items:
            try:
                out = call(item)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    results.append(out)

    threads = [threading.Thread(target=client, args=(items,)) for items in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def check_ledger(trial: Trial, acks: list[RandomizationResult], n: int, *, max_block: int = MAX_BLOCK) -> None:
    """E3/E4/E6 invariants on the database after a race, and the clients' acknowledgements against it."""
    with trial.db.read_session() as session:
        entries = ledger(session, trial.study)
        assert [e.sequence for e in entries] == list(range(1, n + 1)), "ledger sequence has gaps or repeats"
        assert len({e.subject_id for e in entries}) == n, "a subject was randomized twice"
        slots: dict[str, list[int]] = defaultdict(list)
        arms: dict[str, Counter[str]] = defaultdict(Counter)
        for e in entries:
            slots[e.stratum].append(e.stratum_sequence)
            arms[e.stratum][e.arm] += 1
        for stratum, used in slots.items():
            assert sorted(used) == list(range(1, len(used) + 1)), f"stratum {stratum}: slots are not a prefix"
            assert abs(arms[stratum]["sg"] - arms[stratum]["tpc"]) <= max_block // 2
        audited = Counter(
            session.execute(
                select(AuditLog.record_id).where(
                    AuditLog.table_name == "randomization_ledger", AuditLog.action == "create"
                )
            ).scalars()
        )
        assert audited == Counter(str(e.id) for e in entries), "an allocation lacks its (single) audit entry"
        state = session.get(RandomizationStateRow, trial.study)
        assert state is not None and state.allocated == n
        state_updates = session.execute(
            select(func.count()).where(AuditLog.table_name == "randomization_state", AuditLog.action == "update")
        ).scalar_one()
        assert state_updates == n
        numbers = {row[0]: row[1] for row in session.execute(select(Subject.screening_id, Subject.subject_number))}
        by_sequence = {e.sequence: e for e in entries}
        for ack in acks:
            entry = by_sequence[ack.sequence]
            assert (entry.arm, entry.stratum, entry.stratum_sequence) == (ack.arm, ack.stratum, ack.stratum_sequence)
            assert numbers[ack.screening_id] == ack.subject_number
        report = verify_chain(session)
        assert report.ok, report.problems
