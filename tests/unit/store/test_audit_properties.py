"""Property tests of the audit chain (trial-system-requirements A9/G9; Crosby & Wallach 2009 §3):

* any single random edit, deletion, insertion, reordering, tail truncation or key-less rewrite (content changed,
  every later hash and the head recomputed) of the checkpointed trail makes verification fail, in 100 % of
  1,000 generated cases (an exported signed checkpoint is given to the verifier, as ``trialtwin audit verify
  --checkpoint`` does);
* 1,000 untampered trails of random content always verify (0 false alarms).

Each trial works inside one transaction on one connection, verified by the real ``verify_chain`` over the
(tampered) tables, then rolled back: the same check as a database per trial, about 10 times cheaper.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from _chain import (
    SIGNER,
    T0,
    build_chain,
    entry_hash,
    insert,
    length,
    rechain_from,
    row,
    set_head,
    tamper_connection,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from trialtwin.store import Database
from trialtwin.store.audit import AuditEvent, Checkpoint, append_audit, verify_chain
from trialtwin.store.tables import AuditAction

#: requirement G9: 1,000 tamper trials, 1,000 untampered logs.
TRIALS = 1000
#: One trial: the raw connection (for tampering) and a session (for verifying) in the same transaction.
Trial = tuple[sqlite3.Connection, Session]
N = 12
TEXT_COLUMNS = ("action", "table_name", "record_id", "fields", "old_value", "new_value", "reason", "prev_hash", "hash")


@pytest.fixture(scope="module")
def chain_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Checkpoint]:
    """A checkpointed chain of ``N`` entries, its protecting triggers dropped (what a DBA could do)."""
    path = tmp_path_factory.mktemp("chain") / "chain.db"
    shutil.copyfile(migrated_template, path)
    db = Database(f"sqlite:///{path}")
    checkpoint = build_chain(db, N)
    db.dispose()
    tamper_connection(path).close()
    return path, checkpoint


@contextmanager
def rolled_back(path: Path) -> Iterator[tuple[Database, Callable[[], AbstractContextManager[Trial]]]]:
    """One connection to ``path`` inside a transaction that is rolled back after each use."""
    db = Database(f"sqlite:///{path}", pool_size=1)
    try:
        with db.engine.connect() as connection:
            # As in a DBA's own sqlite3 session (``tamper_connection``): foreign keys are not enforced.
            raw = connection.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA foreign_keys = OFF")

            @contextmanager
            def trial() -> Iterator[Trial]:
                outer = connection.begin()
                try:
                    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
                        yield raw, session
                finally:
                    outer.rollback()

            yield db, trial
    finally:
        db.dispose()


edits = st.one_of(
    st.tuples(st.sampled_from(TEXT_COLUMNS), st.text(max_size=20)),
    st.tuples(st.just("user_id"), st.integers(min_value=-5, max_value=10**6)),
    st.tuples(
        st.just("at"),
        st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
            lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")
        ),
    ),
)
#: What a key-less rewrite changes before recomputing the hashes (not the hashes themselves: those it recomputes).
content_edits = edits.filter(lambda e: e[0] not in ("prev_hash", "hash"))

tampering = st.one_of(
    st.tuples(st.just("edit"), st.integers(1, N), edits),
    st.tuples(st.just("delete"), st.integers(1, N), st.none()),
    # An entry inserted inside the checkpointed range, with a recomputed or a made-up hash; or appended after
    # the checkpoint with a made-up hash. (An append after the last checkpoint with a correctly recomputed
    # hash is what any writer does: no chain without a per-entry key can tell it from a real entry.)
    st.tuples(st.just("insert"), st.integers(1, N), st.tuples(st.text(max_size=20), st.booleans())),
    st.tuples(st.just("insert"), st.just(N + 1), st.tuples(st.text(max_size=20), st.just(False))),
    st.tuples(st.just("swap"), st.integers(1, N), st.integers(1, N - 1)),
    st.tuples(st.just("truncate"), st.integers(1, N), st.none()),
    # Key-less rewrite: change an entry, recompute every later hash and the head, and drop the stored
    # checkpoints; only the exported, signed checkpoint is left to catch it.
    st.tuples(st.just("rewrite"), st.integers(1, N), content_edits),
)


def _apply(conn: sqlite3.Connection, kind: str, seq: int, arg: object) -> bool:
    """Apply one tampering; False when it would change nothing (the example is then not a tampering)."""
    if kind in ("edit", "rewrite"):
        assert isinstance(arg, tuple)
        column, value = arg
        if row(conn, seq)[column] == value:
            return False
        conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", (value, seq))
        if kind == "rewrite":
            rechain_from(conn, seq)
            conn.execute("DELETE FROM audit_checkpoints")
    elif kind == "delete":
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
        set_head(conn)
    elif kind == "insert":
        assert isinstance(arg, tuple)
        content, rehash = arg
        for s in range(length(conn), seq - 1, -1):
            conn.execute("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", (s,))
        template = row(conn, seq + 1 if seq <= N else N)
        prev = row(conn, seq - 1)["hash"] if seq > 1 else "0" * 64
        forged = template | {"seq": seq, "new_value": content, "prev_hash": prev}
        forged["hash"] = entry_hash(forged) if rehash else "f" * 64
        insert(conn, forged)
        set_head(conn)
    elif kind == "swap":
        assert isinstance(arg, int)
        other = (seq - 1 + arg) % N + 1
        conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", (seq,))
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq, other))
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", (other,))
    else:
        conn.execute("DELETE FROM audit_log WHERE seq >= ?", (seq,))
        set_head(conn)
        conn.execute("DELETE FROM audit_checkpoints")
    return True


def test_every_single_tampering_is_detected(chain_template: tuple[Path, Checkpoint]) -> None:
    """G9: 1,000 tamper trials (every kind above), 100 % detected."""
    template, checkpoint = chain_template
    applied: Counter[str] = Counter()
    with rolled_back(template) as (_, trial):
        with trial() as (_, session):  # the untouched chain verifies: a failure below is the tampering's
            assert verify_chain(session, checkpoints=[checkpoint], signer=SIGNER).ok

        @settings(max_examples=TRIALS + 150, deadline=None, database=None)
        @given(tamper=tampering)
        def one(tamper: tuple[str, int, object]) -> None:
            with trial() as (raw, session):
                if not _apply(raw, *tamper):
                    return
                report = verify_chain(session, checkpoints=[checkpoint], signer=SIGNER)
            applied[tamper[0]] += 1
            assert not report.ok, f"undetected: {tamper}"

        one()
    assert sum(applied.values()) >= TRIALS, applied
    assert set(applied) == {"edit", "delete", "insert", "swap", "truncate", "rewrite"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
events = st.builds(
    AuditEvent,
    action=st.just(AuditAction.CREATE),
    table=st.sampled_from(["subjects", "consents", "labs"]),
    record_id=st.integers(1, 10**6).map(str),
    new=st.dictionaries(st.text(min_size=1, max_size=8), json_values, min_size=1, max_size=4),
)


#: How one untampered log is laid out from an example's events: which events (indices, repeats allowed) in
#: what order, how many per transaction, and the microseconds of its timestamps.
layouts = st.tuples(st.lists(st.integers(0, 7), min_size=1, max_size=12), st.integers(1, 4), st.integers(0, 999_999))
LOGS_PER_EXAMPLE = 5


def test_untampered_trails_always_verify(migrated_template: Path, tmp_path: Path) -> None:
    """G9: 1,000 untampered trails (200 examples of random content, each laid out as 5 different logs and
    appended as the service does) verify: 0 false alarms."""
    path = tmp_path / "t.db"
    shutil.copyfile(migrated_template, path)
    verified: list[int] = []
    with rolled_back(path) as (_, trial):

        @settings(max_examples=TRIALS // LOGS_PER_EXAMPLE, deadline=None, database=None)
        @given(
            contents=st.lists(events, min_size=1, max_size=8),
            logs=st.lists(layouts, min_size=LOGS_PER_EXAMPLE, max_size=LOGS_PER_EXAMPLE),
        )
        def one(contents: list[AuditEvent], logs: list[tuple[list[int], int, int]]) -> None:
            for picks, per_transaction, micros in logs:
                chosen = [contents[i % len(contents)] for i in picks]
                with trial() as (_, session):
                    for i in range(0, len(chosen), per_transaction):
                        at = T0 + dt.timedelta(seconds=i, microseconds=micros)
                        append_audit(session, chosen[i : i + per_transaction], user_id=1, at=at)
                    report = verify_chain(session)
                assert report.ok, report.problems
                assert report.length == len(chosen)
                verified.append(report.length)

        one()
    assert len(verified) >= TRIALS
