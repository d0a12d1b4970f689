"""The unit of work: one use case, one transaction (load → engine → save + audit, DESIGN.md "services").

::

    with UnitOfWork(db, actor=user_id, clock=clock) as uow:
        subject = get_subject(uow.session, ...)
        uow.audit.update(subject, {"status": "consented"}, reason="consent recorded")
    # committed here, with one audit row per write; any exception rolls everything back

The clock is read once, when the unit of work starts, and must give a timezone-aware time; ``uow.now`` is
then the server time of every row and audit entry the use case writes (ICH E6(R3) 4.2.2(d): timestamps
from the system, never from the client). The engine never sees the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session

from trialtwin.services.errors import ServiceError
from trialtwin.store.audit import AuditRecorder
from trialtwin.store.db import Database

#: A source of the current time (timezone-aware).
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The server's clock in UTC (the default clock of the command line and the web app)."""
    return dt.datetime.now(dt.UTC)


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
        now = self._clock()
        if not isinstance(now, dt.datetime) or now.utcoffset() is None:
            raise ServiceError(f"the clock must give a timezone-aware datetime (got {now!r})")
        self.now = now.astimezone(dt.UTC)
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
