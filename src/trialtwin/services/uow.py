"""The unit of work: one use case, one transaction (load → engine → save + audit, DESIGN.md "services").

::

    with UnitOfWork(db, actor=user_id, clock=clock) as uow:
        subject = get_subject(uow.session, ...)
        uow.audit.update(subject, {"status": "consented"}, reason="consent recorded")
    # committed here, with one audit row per write; any exception rolls everything back

The clock is read once, when the unit of work starts, and must give a timezone-aware time; ``uow.now`` is
then the server time of every row and audit entry the use case writes (ICH E6(R3) 4.2.2(d): timestamps
from the system, never from the client). The engine never sees the clock.

**Group commit** (:func:`run_grouped`): a use case may instead be handed to the database's writer thread,
which runs the use cases queued at that moment one after the other in *one* transaction and commits them
together (group commit, as database logs do it: DeWitt et al. 1984, "Implementation techniques for main
memory database systems", SIGMOD; PostgreSQL's ``commit_delay``). Each use case still gets its own unit of
work: its actor, its clock reading, its audit entries, chained in the order the use cases ran.

* A use case that refuses cleanly (raises before writing anything: no flush, nothing pending, no database
  error; every check of the use cases comes before their first write) gets its exception; the others go on.
* One that fails after writing, or on a database error, would leave the transaction dirty: the batch is
  rolled back and each of its use cases is run again alone, in order, in its own transaction. (No
  savepoints: they cost two round trips per use case, and on PostgreSQL rolling one back releases the row
  locks taken after it.)
* Every caller is answered only after the COMMIT that holds its writes has returned (SQLite
  ``synchronous=FULL``: fsynced; PostgreSQL ``synchronous_commit=on``: flushed to the WAL), so an
  acknowledged write survives a crash (requirement G6). If COMMIT itself fails, every caller of the batch
  gets the error (the outcome is unknown, so nothing is run again).
* A use case has written when it flushed, left changes pending, or deferred a write of the randomization
  state row (:func:`trialtwin.store.ledger.deferred_writes`: one UPDATE of that row per transaction).
* The audit entries of the batch are appended after all its use cases ran, so the chain head is the last lock
  a batch takes, as in a single use case (state row → subject → audit head, so PostgreSQL cannot deadlock on
  that order).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trialtwin.services.errors import ServiceError
from trialtwin.store.audit import AuditEvent, AuditRecorder, append_audit_groups
from trialtwin.store.db import Database
from trialtwin.store.ledger import deferred_writes

#: A source of the current time (timezone-aware).
Clock = Callable[[], dt.datetime]

T = TypeVar("T")

#: A batch read for the use cases of one kind in a group: ``prefetch(session, [argument of each use case])``,
#: run once at the start of the group transaction (see :func:`run_grouped`).
Prefetch = Callable[[Session, list[Any]], None]
#: ``session.info`` key of what prefetches read; dropped before a use case of another kind runs.
PREFETCHED = "trialtwin.prefetched"

#: Most use cases committed in one group-commit transaction.
MAX_GROUP = 64
#: Seconds an idle writer thread waits for work before it ends (a new one starts on the next request).
WRITER_IDLE_S = 1.0


def system_clock() -> dt.datetime:
    """The server's clock in UTC (the default clock of the command line and the web app)."""
    return dt.datetime.now(dt.UTC)


def server_time(clock: Clock) -> dt.datetime:
    """``clock()`` in UTC; :class:`ServiceError` unless it is a timezone-aware datetime."""
    now = clock()
    if not isinstance(now, dt.datetime) or now.utcoffset() is None:
        raise ServiceError(f"the clock must give a timezone-aware datetime (got {now!r})")
    return now.astimezone(dt.UTC)


class UnitOfWork:
    """A session in one write transaction, the acting user, the time, and the audit recorder.

    ``actor`` may be ``None`` only while bootstrapping the first account; it must be set before commit.
    """

    session: Session
    audit: AuditRecorder
    now: dt.datetime
    _lock: AbstractContextManager[Any]

    def __init__(self, db: Database, *, actor: int | None, clock: Clock) -> None:
        self.db = db
        self.actor = actor
        self._clock = clock

    def __enter__(self) -> UnitOfWork:
        self.now = server_time(self._clock)
        self._lock = self.db.write_lock
        self._lock.__enter__()
        try:
            self.session = self.db.session()
            self.session.begin()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self.audit = AuditRecorder(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self._commit()
            else:
                self.session.rollback()
        finally:
            try:
                self.session.close()
            finally:
                self._lock.__exit__(None, None, None)

    def _commit(self) -> None:
        try:
            if self.audit.events:
                if self.actor is None:
                    raise ServiceError("a write needs an acting user for its audit entry")
                self.audit.append(user_id=self.actor, at=self.now)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    @classmethod
    def _joined(cls, db: Database, session: Session, *, actor: int | None, now: dt.datetime) -> UnitOfWork:
        """A unit of work inside a transaction someone else (the group-commit writer) begins and ends."""
        uow = cls.__new__(cls)
        uow.db, uow.actor, uow.now, uow.session = db, actor, now, session
        uow.audit = AuditRecorder(session)
        return uow


# --------------------------------------------------------------------------------------------------------------
# Group commit


class _Job(Generic[T]):
    """One queued use case and, once its batch is done, its result or its exception."""

    __slots__ = ("actor", "clock", "done", "error", "fn", "on_done", "prefetch", "result")

    def __init__(
        self,
        fn: Callable[[UnitOfWork], T],
        actor: int | None,
        clock: Clock,
        prefetch: tuple[Prefetch, Any] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.fn, self.actor, self.clock, self.prefetch, self.on_done = fn, actor, clock, prefetch, on_done
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        """The use case's result, or its exception raised (once :attr:`done` is set)."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class _CommitFailed(Exception):
    """COMMIT of a batch raised: its outcome is unknown, so its use cases are not run again."""


class GroupCommitter:
    """The writer thread of one database: takes the queued use cases, runs up to :data:`MAX_GROUP` of them in
    one transaction and commits once (see the module docstring)."""

    def __init__(self, db: Database, *, max_group: int = MAX_GROUP) -> None:
        self._db = weakref.ref(db)
        self.max_group = max_group
        self._queue: deque[_Job[Any]] = deque()
        self._cond = threading.Condition()
        self._running = False
        #: Batches committed and use cases in them (for the benchmark's report).
        self.batches = 0
        self.jobs = 0

    def submit(
        self,
        fn: Callable[[UnitOfWork], T],
        *,
        actor: int | None,
        clock: Clock,
        prefetch: tuple[Prefetch, Any] | None = None,
    ) -> T:
        """Run ``fn(uow)`` in the next group transaction; return its result once that has committed."""
        job = self.enqueue(fn, actor=actor, clock=clock, prefetch=prefetch)
        job.done.wait()
        return job.outcome()

    def enqueue(
        self,
        fn: Callable[[UnitOfWork], T],
        *,
        actor: int | None,
        clock: Clock,
        prefetch: tuple[Prefetch, Any] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> _Job[T]:
        """Queue ``fn(uow)`` for the next group transaction and return at once; the job's ``done`` is set
        (and then ``on_done()`` called, on the writer thread) once its outcome is known."""
        job: _Job[T] = _Job(fn, actor, clock, prefetch, on_done)
        with self._cond:
            self._queue.append(job)
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="trialtwin-group-commit", daemon=True).start()
            else:
                self._cond.notify()
        return job

    def _take(self) -> list[_Job[Any]] | None:
        with self._cond:
            if not self._queue:
                self._cond.wait(WRITER_IDLE_S)
            if not self._queue:
                self._running = False
                return None
            n = min(self.max_group, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            db = self._db()
            try:
                if db is None:
                    raise ServiceError("the database was closed before the write ran")
                self._run(db, batch)
            except BaseException as exc:  # never leave a caller waiting, never let the writer die
                for job in batch:
                    if job.error is None and job.result is None:
                        job.error = exc
            finally:
                del db
                for job in batch:
                    job.done.set()
                    if job.on_done is not None:
                        # e.g. the caller's event loop has closed: no one is waiting any more
                        with contextlib.suppress(Exception):
                            job.on_done()

    def _run(self, db: Database, batch: list[_Job[Any]]) -> None:
        try:
            self._run_group(db, batch)
        except _CommitFailed as failed:
            for job in batch:
                job.result, job.error = None, failed.__cause__
        except BaseException:
            # Before COMMIT: nothing is written; run each use case alone, in order.
            for job in batch:
                job.result, job.error = None, None
                _run_alone(db, job)

    def _run_group(self, db: Database, batch: list[_Job[Any]]) -> None:
        with db.write_lock:
            session = db.session()
            flushes = [0]
            event.listen(session, "after_flush", lambda *_: flushes.__setitem__(0, flushes[0] + 1))
            try:
                session.begin()
                prefetches: dict[Prefetch, list[Any]] = {}
                for job in batch:
                    if job.prefetch is not None:
                        prefetches.setdefault(job.prefetch[0], []).append(job.prefetch[1])
                for prefetch, arguments in prefetches.items():
                    prefetch(session, arguments)
                done: list[tuple[list[AuditEvent], int, dt.datetime]] = []
                for job in batch:
                    if PREFETCHED in session.info and (job.prefetch is None or len(prefetches) > 1):
                        session.info.pop(PREFETCHED)  # another kind of use case may change what was read
                    try:
                        now = server_time(job.clock)
                    except Exception as exc:
                        job.error = exc
                        continue
                    uow = UnitOfWork._joined(db, session, actor=job.actor, now=now)
                    if session.new or session.dirty or session.deleted:
                        session.flush()  # the previous use case's last writes, so they count as its own
                    before = flushes[0], deferred_writes(session)
                    try:
                        job.result = job.fn(uow)
                        if uow.audit.events and uow.actor is None:
                            raise ServiceError("a write needs an acting user for its audit entry")
                    except Exception as exc:
                        wrote = (
                            (flushes[0], deferred_writes(session)) != before
                            or session.new
                            or session.dirty
                            or session.deleted
                        )
                        if wrote or isinstance(exc, SQLAlchemyError):
                            raise  # not a clean refusal: the batch is run again, one use case at a time
                        job.result, job.error = None, exc
                        continue
                    if uow.audit.events:
                        assert uow.actor is not None
                        done.append((uow.audit.events, uow.actor, now))
                append_audit_groups(session, done, return_rows=False)
                try:
                    session.commit()
                except BaseException as exc:
                    raise _CommitFailed from exc
                self.batches += 1
                self.jobs += len(batch)
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()


def _run_alone(db: Database, job: _Job[Any]) -> None:
    try:
        with UnitOfWork(db, actor=job.actor, clock=job.clock) as uow:
            job.result = job.fn(uow)
    except BaseException as exc:
        job.error = exc


_committers: weakref.WeakKeyDictionary[Database, GroupCommitter] = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()


def _forget_writers_after_fork() -> None:
    # A forked child has none of the parent's threads: its writers start afresh on first use.
    global _committers_lock
    _committers.clear()
    _committers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writers_after_fork)


def group_committer(db: Database) -> GroupCommitter:
    """The writer of ``db`` in this process (made on first use)."""
    with _committers_lock:
        committer = _committers.get(db)
        if committer is None:
            committer = _committers[db] = GroupCommitter(db)
        return committer


def run_grouped(
    db: Database,
    fn: Callable[[UnitOfWork], T],
    *,
    actor: int | None,
    clock: Clock,
    prefetch: tuple[Prefetch, Any] | None = None,
) -> T:
    """``fn(uow)`` committed by the database's group-commit writer (see the module docstring): same result and
    same exceptions as ``with UnitOfWork(db, actor=actor, clock=clock) as uow: return fn(uow)``, returned
    only after the commit.

    ``prefetch = (function, argument)``: at the start of the group transaction ``function(session, [the
    arguments of every use case of the group with that function])`` runs once, so that it can lock and read
    in one query what its use cases would read one by one; it keeps what it read under
    ``session.info[PREFETCHED]``, where the use cases look first. That is dropped as soon as a use case without
    that prefetch runs (or the group holds several kinds), so a use case never sees data that another kind of
    use case in the group may have changed. A prefetch that fails fails the group (rerun one by one, with no
    prefetch)."""
    return group_committer(db).submit(fn, actor=actor, clock=clock, prefetch=prefetch)


async def run_grouped_async(
    db: Database,
    fn: Callable[[UnitOfWork], T],
    *,
    actor: int | None,
    clock: Clock,
    prefetch: tuple[Prefetch, Any] | None = None,
) -> T:
    """:func:`run_grouped` for a caller on an asyncio event loop: the loop is not blocked while the writer
    runs the use case, and no worker thread waits for it either (the writer wakes the loop once the commit
    has returned). Same result, same exceptions, same durability. If the awaiting task is cancelled, the
    use case still runs (or has run) and commits; only its answer is lost."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:  # on the writer thread
        loop.call_soon_threadsafe(_settle, woken)

    job = group_committer(db).enqueue(fn, actor=actor, clock=clock, prefetch=prefetch, on_done=wake)
    await woken
    return job.outcome()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
