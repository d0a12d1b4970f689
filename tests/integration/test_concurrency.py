"""Concurrent randomization (trial-system-requirements E3, E4, E6, G1): many clients at once, on SQLite and
PostgreSQL. After the race: no subject randomized twice, no slot given twice, ledger sequence 1..N without
gaps, each stratum's slots a prefix 1..k, every allocation with its audit entry, the chain verifies, and
what the clients were told equals what the database holds.

Counts are parameters: ``TRIALTWIN_RACE_CLIENTS`` (default 32) × ``TRIALTWIN_RACE_PER_CLIENT`` (default 500,
i.e. 16,000 randomizations per database, issue 7). Their 16,000 screened, consented, eligible subjects per
database are set up through the real use cases (so their audit chain is the real one), in large transactions,
in background processes started by the first race test: one for SQLite, two for PostgreSQL (disjoint sites), so
that the PostgreSQL setup runs while the SQLite race does. Each race then runs on a copy of its prepared
database.

``services.randomize`` commits concurrent requests together (group commit, ``services.uow.run_grouped``); the
tests here also cover what that adds: refusals inside a group, a use case that fails after writing (the group
is run again one by one), and idempotent retries (G2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _race
import pytest
from _race import SITES, check_ledger, prepare, run_clients
from _trial import StepClock, Trial, TrialIds, copy_sqlite, facts_for, trial_on
from sqlalchemy import func, select

from trialtwin.services import (
    AlreadyRandomized,
    RandomizationResult,
    UnitOfWork,
    WorkflowError,
    enter_eligibility,
    randomize,
    register_screening,
    register_screening_in,
)
from trialtwin.services.idempotency import randomize_idempotent
from trialtwin.services.randomize import randomize_async, randomize_in
from trialtwin.services.uow import GroupCommitter, _Job, group_committer
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.tables import Subject, SubjectStatus

CLIENTS = int(os.environ.get("TRIALTWIN_RACE_CLIENTS", "32"))
PER_CLIENT = int(os.environ.get("TRIALTWIN_RACE_PER_CLIENT", "500"))
trial = _race.trial  # the fixture: every test on SQLite and on PostgreSQL


def _prepare_in_process(url: str, ids: TrialIds, n: int, part: int, parts: int, out: Any) -> None:
    try:
        db = Database(url, pool_size=1)
        try:
            out.send(prepare(trial_on(db, ids), n, part=part, parts=parts))
        finally:
            db.dispose()
    except BaseException as exc:
        out.send(f"{type(exc).__name__}: {exc}")
        raise


class _Preparing:
    """Subjects being prepared for a race by processes of their own (see the module docstring)."""

    def __init__(
        self, fork: multiprocessing.context.BaseContext, url: str, ids: TrialIds, n: int, parts: int, name: str = ""
    ) -> None:
        self.url, self.name = url, name
        self._jobs: list[tuple[Any, Any]] = []
        for part in range(parts):
            receive, send = fork.Pipe(duplex=False)  # type: ignore[attr-defined]
            proc = fork.Process(target=_prepare_in_process, args=(url, ids, n, part, parts, send))  # type: ignore[attr-defined]
            proc.start()
            send.close()
            self._jobs.append((proc, receive))
        self._ids: list[str] | None = None

    def ids(self) -> list[str]:
        if self._ids is None:
            found: list[str] = []
            for proc, receive in self._jobs:
                got = receive.recv()
                proc.join()
                assert isinstance(got, list), f"preparing the race failed: {got}"
                found += got
            self._ids = found
        return self._ids


@pytest.fixture(scope="session")
def race_setup(
    request: pytest.FixtureRequest,
    sqlite_trial_template: tuple[Path, TrialIds],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, _Preparing]:
    """Starts preparing ``CLIENTS × PER_CLIENT`` subjects on each database (in the background)."""
    fork = multiprocessing.get_context("fork")
    n = CLIENTS * PER_CLIENT
    template, ids = sqlite_trial_template
    target = tmp_path_factory.mktemp("race") / "prepared.db"
    copy_sqlite(template, target)
    setups = {"sqlite": _Preparing(fork, f"sqlite:///{target}", ids, n, 1)}
    try:
        pg_server = request.getfixturevalue("pg_server")
        pg_template, pg_ids = request.getfixturevalue("pg_trial_template")
    except pytest.skip.Exception:
        return setups
    name = pg_server.create(template=pg_template)
    setups["postgresql"] = _Preparing(fork, pg_server.url_for(name), pg_ids, n, 2, name)
    return setups


@pytest.fixture
def race_trial(
    request: pytest.FixtureRequest, trial: Trial, race_setup: dict[str, _Preparing], tmp_path: Path
) -> Iterator[tuple[Trial, list[str]]]:
    """``trial``'s database replaced by a copy of the prepared one, and the prepared screening ids."""
    backend = "sqlite" if trial.db.url.get_backend_name() == "sqlite" else "postgresql"
    setup = race_setup[backend]
    ids = setup.ids()
    if backend == "sqlite":
        target = tmp_path / "race.db"
        copy_sqlite(Path(setup.url.removeprefix("sqlite:///")), target)
        db = Database(f"sqlite:///{target}", pool_size=16)
    else:
        pg_server = request.getfixturevalue("pg_server")
        name = pg_server.create(template=setup.name)
        db = Database(pg_server.url_for(name), pool_size=16)
    race = dataclasses.replace(trial, db=db, clock=StepClock(dt.datetime(2025, 3, 20, 9, 0, tzinfo=dt.UTC)))
    yield race, ids
    db.dispose()
    if backend == "postgresql":
        pg_server.drop(name)


def test_concurrent_clients_never_double_book_or_skip_slots(race_trial: tuple[Trial, list[str]]) -> None:
    """G1/E3/E4/E6: CLIENTS threads × PER_CLIENT randomizations at once → 0 duplicates, 0 gaps, every
    allocation audited once, the chain verifies, every acknowledgement matches the ledger."""
    trial, ids = race_trial
    n = CLIENTS * PER_CLIENT
    assert len(ids) == len(set(ids)) == n
    work = [ids[c::CLIENTS] for c in range(CLIENTS)]
    acks, errors = run_clients(
        work, lambda sid: randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    )
    assert errors == []
    assert len(acks) == n
    check_ledger(trial, acks, n)


def test_the_same_subject_sent_by_many_clients_is_randomized_once(trial: Trial) -> None:
    """E3/G2: 8 clients randomize the same subject at the same moment: one allocation, 7 clear refusals."""
    sid = trial.screen("CN-001", facts_for(2))
    acks, errors = run_clients(
        [[sid]] * 8, lambda s: randomize(trial.db, trial.study, s, actor=trial.investigator, clock=trial.clock)
    )
    assert len(acks) == 1
    assert len(errors) == 7 and all(isinstance(e, AlreadyRandomized) for e in errors)
    check_ledger(trial, acks, 1)


def test_refusals_inside_a_group_leave_the_other_allocations_alone(trial: Trial) -> None:
    """Group commit: 16 clients at once, half asking for subjects that are not eligible yet (no facts): every
    refusal is a WorkflowError naming its subject, every eligible subject is allocated, the ledger holds
    exactly those, gap-free and audited."""
    good = prepare(trial, 48)
    unscreened = prepare(trial, 48, screened=False)
    work = [(good if c % 2 else unscreened)[c // 2 :: 8] for c in range(16)]
    acks, errors = run_clients(
        work, lambda sid: randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    )
    assert sorted(a.screening_id for a in acks) == sorted(good)
    assert len(errors) == len(unscreened) and all(isinstance(e, WorkflowError) for e in errors)
    assert sorted(str(e).split(":")[0] for e in errors) == sorted(f"subject {sid}" for sid in unscreened)
    # Refusals are clean (nothing written): no group had to be rolled back and run again one by one.
    assert group_committer(trial.db).jobs == len(good) + len(unscreened)
    check_ledger(trial, acks, len(good))


def test_a_use_case_failing_after_writing_does_not_take_its_group_down(trial: Trial) -> None:
    """Group commit fallback: in one group, a use case that writes (registers a subject) and then fails is
    rolled back, and the others still commit: the group is run again one use case at a time, so the good
    allocations are all there, the failed write is not, and the chain verifies."""
    ids = prepare(trial, 6)

    def write_then_fail(uow: UnitOfWork) -> None:
        register_screening_in(uow, trial.study, "CN-005")
        raise RuntimeError("boom after writing")

    def randomizer(sid: str) -> Callable[[UnitOfWork], RandomizationResult]:
        return lambda uow: randomize_in(uow, trial.study, sid)

    jobs: list[_Job[Any]] = [_Job(randomizer(sid), trial.investigator, trial.clock) for sid in ids[:3]]
    jobs.append(_Job(write_then_fail, trial.investigator, trial.clock))
    jobs += [_Job(randomizer(sid), trial.investigator, trial.clock) for sid in ids[3:]]
    committer = GroupCommitter(trial.db)
    committer._run(trial.db, jobs)
    assert committer.batches == 0  # the group was not committed as such
    failed = jobs[3]
    assert isinstance(failed.error, RuntimeError) and failed.result is None
    acks = [j.result for j in jobs if j is not failed]
    assert all(j.error is None for j in jobs if j is not failed)
    assert [a.screening_id for a in acks] == ids
    with trial.db.read_session() as session:
        at_site = session.execute(
            select(func.count()).select_from(Subject).where(Subject.screening_id.like("CN-005-%"))
        ).scalar_one()
    assert at_site == sum(1 for k in range(6) if SITES[k % len(SITES)] == "CN-005")  # nothing from the failure
    check_ledger(trial, acks, len(ids))


def test_asyncio_callers_await_the_writer_with_the_same_answers(trial: Trial) -> None:
    """``randomize_async`` (the API's path: the event loop awaits the group commit, no worker thread waits):
    24 eligible subjects, 8 not yet screened and one eligible subject asked for three times, all at once on one
    event loop: every eligible subject is allocated once, every refusal is the exception the blocking call
    raises, the loop is never blocked (a ticker keeps running), and the ledger is gap-free and audited."""
    good = prepare(trial, 24)
    unscreened = prepare(trial, 8, screened=False)
    twice = trial.screen("CN-001", facts_for(3))

    async def main() -> tuple[list[Any], int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        calls = [
            randomize_async(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
            for sid in [*good, *unscreened, twice, twice, twice]
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        stop.set()
        await ticking
        return outcomes, ticks

    outcomes, ticks = asyncio.run(main())
    assert ticks > 1  # the loop ran other work while the writer committed
    acks = [o for o in outcomes if isinstance(o, RandomizationResult)]
    errors = [o for o in outcomes if not isinstance(o, RandomizationResult)]
    assert sorted(a.screening_id for a in acks) == sorted([*good, twice])
    assert sum(isinstance(e, WorkflowError) and not isinstance(e, AlreadyRandomized) for e in errors) == 8
    assert sum(isinstance(e, AlreadyRandomized) for e in errors) == 2
    check_ledger(trial, acks, len(good) + 1)


def test_idempotent_retries_give_one_allocation(trial: Trial) -> None:
    """G2: the same request with one Idempotency-Key, retried 5 times in a row and 5 times at once, gives one
    allocation and the same answer every time; another key for that subject is refused (AlreadyRandomized)."""
    sid, other = trial.screen("CN-001", facts_for(1)), trial.screen("CN-003", facts_for(6))

    def call(key: str) -> Callable[[str], RandomizationResult]:
        return lambda s: randomize_idempotent(
            trial.db, trial.study, s, key=key, actor=trial.investigator, clock=trial.clock
        )[0]

    first = [call("key-1")(sid) for _ in range(5)]
    assert len({(r.subject_number, r.arm, r.sequence, r.randomized_at) for r in first}) == 1
    acks, errors = run_clients([[other]] * 5, call("key-2"))
    assert errors == [] and len({(r.subject_number, r.arm, r.sequence) for r in acks}) == 1
    with pytest.raises(AlreadyRandomized):
        call("key-3")(sid)
    check_ledger(trial, [first[0], acks[0]], 2)
    with trial.db.read_session() as session:
        statuses = session.execute(select(Subject.status).where(Subject.screening_id.in_([sid, other]))).scalars()
        assert set(statuses) == {SubjectStatus.RANDOMIZED.value}


def test_grouped_crf_saves_store_every_good_entry_and_refuse_the_others(trial: Trial) -> None:
    """Group commit of CRF saves (services.enter_eligibility): 16 clients at once, half entering facts for
    subjects that have no consent yet: each of those gets a WorkflowError naming its subject (21 CFR 11.10(f):
    consent before eligibility), every other subject gets its verdict, nothing was rerun one by one, and the
    stored verdicts and the audit chain are intact."""
    consented = prepare(trial, 32, screened=False)
    unconsented = [
        register_screening(
            trial.db, trial.study, SITES[k % len(SITES)], actor=trial.investigator, clock=trial.clock
        ).screening_id
        for k in range(32)
    ]
    jobs_before = group_committer(trial.db).jobs
    stratum = {sid: k % 8 for k, sid in enumerate(consented + unconsented)}
    work = [(consented if c % 2 else unconsented)[c // 2 :: 8] for c in range(16)]
    acks, errors = run_clients(
        work,
        lambda sid: enter_eligibility(
            trial.db, trial.study, sid, facts_for(stratum[sid]), actor=trial.investigator, clock=trial.clock
        ),
    )
    assert sorted(a.screening_id for a in acks) == sorted(consented)
    assert all(a.status is SubjectStatus.ELIGIBLE and a.facts_version == 1 for a in acks)
    assert len(errors) == len(unconsented) and all(isinstance(e, WorkflowError) for e in errors)
    assert sorted(str(e).split(":")[0] for e in errors) == sorted(f"subject {sid}" for sid in unconsented)
    assert group_committer(trial.db).jobs - jobs_before == len(consented) + len(unconsented)
    with trial.db.read_session() as session:
        statuses = {row[0]: row[1] for row in session.execute(select(Subject.screening_id, Subject.status))}
        assert {statuses[sid] for sid in consented} == {SubjectStatus.ELIGIBLE.value}
        assert {statuses[sid] for sid in unconsented} == {SubjectStatus.REGISTERED.value}
        report = verify_chain(session)
        assert report.ok, report.problems


def test_concurrent_registration_numbers_each_site_without_gaps(trial: Trial) -> None:
    """Screening ids stay unique and contiguous per site when 8 clients register at 2 sites at once."""
    sites = [["CN-001", "CN-002"] * 5 for _ in range(8)]
    acks, errors = run_clients(
        sites, lambda site: register_screening(trial.db, trial.study, site, actor=trial.investigator, clock=trial.clock)
    )
    assert errors == []
    for site in ("CN-001", "CN-002"):
        numbers = sorted(a.screening_id for a in acks if a.site == site)
        assert numbers == [f"{site}-S{i:03d}" for i in range(1, 41)]


def _randomize_in_process(url: str, study: str, actor: int, ids: list[str], start: Any) -> None:
    db = Database(url, pool_size=1)
    start.wait()
    try:
        with UnitOfWork(db, actor=actor, clock=lambda: dt.datetime.now(dt.UTC)) as uow:
            del uow  # warm the connection (and the protocol cache) before racing
        for sid in ids:
            with UnitOfWork(db, actor=actor, clock=lambda: dt.datetime.now(dt.UTC)) as uow:
                randomize_in(uow, study, sid)
    finally:
        db.dispose()


@pytest.fixture
def fork() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context("fork")


def test_processes_with_their_own_connections_never_double_book(
    trial: Trial, fork: multiprocessing.context.BaseContext
) -> None:
    """E3 across processes: 4 processes, each with its own engine (no shared in-process lock), randomize at
    once; SQLite's BEGIN IMMEDIATE / PostgreSQL's row lock keep the ledger gap-free."""
    n_proc, per = 4, 10
    ids = prepare(trial, n_proc * per)
    url = trial.db.url.render_as_string(hide_password=False)
    trial.db.dispose()
    start = fork.Event()
    procs = [
        fork.Process(target=_randomize_in_process, args=(url, trial.study, trial.investigator, ids[p::n_proc], start))  # type: ignore[attr-defined]
        for p in range(n_proc)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * n_proc
    check_ledger(trial, [], n_proc * per)
