"""Idempotent randomization: a request retried with the same ``Idempotency-Key`` gets the first answer and
never a second allocation (ASVS 2.3.3; trial-system-requirements G2: 5 retries → 1 allocation).

The key and the response are stored in the allocation's own unit of work, so either both exist or neither
does (a crash between them cannot leave an allocation whose retry allocates again). That unit of work goes
through the group-commit writer (:func:`trialtwin.services.uow.run_grouped`), as
:func:`trialtwin.services.randomize.randomize` does, and is answered only after its commit. Two concurrent
requests with one key are serialised by the randomization lock: the second finds the subject randomized, then
finds the key and answers with the stored response. A key stored meanwhile by another request (unique per
user and key) fails the insert, which is flushed inside the unit of work: that use case is then run again
alone and its ``IntegrityError`` answered from the stored key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from trialtwin.services.errors import AlreadyRandomized, ServiceError
from trialtwin.services.randomize import RandomizationResult, randomize_in
from trialtwin.services.uow import Clock, UnitOfWork, run_grouped
from trialtwin.store.audit import to_jsonable
from trialtwin.store.db import Database
from trialtwin.store.tables_access import IdempotencyKey

MAX_KEY_LENGTH = 200


def _from_stored(data: dict[str, object]) -> RandomizationResult:
    values = dict(data)
    values["randomized_at"] = dt.datetime.fromisoformat(str(values["randomized_at"]))
    return RandomizationResult(**values)  # type: ignore[arg-type]


def _stored(db: Database, actor: int, key: str, request: str) -> RandomizationResult | None:
    with db.read_session() as session:
        row = session.execute(
            select(IdempotencyKey).where(IdempotencyKey.user_id == actor, IdempotencyKey.key == key)
        ).scalar_one_or_none()
        if row is None:
            return None
        if row.request != request:
            raise ServiceError(f"Idempotency-Key {key!r} was used for another request ({row.request})")
        return _from_stored(dict(row.response))


def randomize_idempotent(
    db: Database, study_id: str, screening_id: str, *, key: str, actor: int, clock: Clock
) -> tuple[RandomizationResult, bool]:
    """Randomize once per ``key``: returns the allocation and whether it is a replayed answer."""
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ServiceError(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    request = f"randomize {study_id} {screening_id}"
    found = _stored(db, actor, key, request)
    if found is not None:
        return found, True

    def allocate(uow: UnitOfWork) -> RandomizationResult:
        result = randomize_in(uow, study_id, screening_id)
        uow.session.add(
            IdempotencyKey(
                user_id=actor,
                key=key,
                request=request,
                response=to_jsonable(dataclasses.asdict(result)),
                created_at=uow.now,
            )
        )
        uow.session.flush()  # a clash of keys fails here, in this use case, not in the group's COMMIT
        return result

    try:
        return run_grouped(db, allocate, actor=actor, clock=clock), False
    except (AlreadyRandomized, IntegrityError):
        found = _stored(db, actor, key, request)
        if found is None:
            raise
        return found, True
