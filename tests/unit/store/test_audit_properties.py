"""Property tests of the audit chain (trial-system-requirements A9/G9; Crosby & Wallach 2009 §3):

* any single random edit, deletion, insertion, reordering or tail truncation of the checkpointed trail
  makes verification fail, in 100 % of generated cases (an exported signed checkpoint is given to the
  verifier, as ``trialtwin audit verify --checkpoint`` does);
* untampered trails of random content always verify (0 false alarms).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pytest
from _chain import SIGNER, T0, build_chain, entry_hash, insert, length, row, set_head, tamper_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialtwin.store import Database
from trialtwin.store.audit import AuditEvent, Checkpoint, append_audit, verify_chain
from trialtwin.store.tables import AuditAction

N = 12
TEXT_COLUMNS = ("action", "table_name", "record_id", "fields", "old_value", "new_value", "reason", "prev_hash", "hash")


@pytest.fixture(scope="module")
def chain_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Checkpoint]:
    path = tmp_path_factory.mktemp("chain") / "chain.db"
    shutil.copyfile(migrated_template, path)
    db = Database(f"sqlite:///{path}")
    checkpoint = build_chain(db, N)
    db.dispose()
    return path, checkpoint


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
)


def _apply(path: Path, kind: str, seq: int, arg: object) -> bool:
    """Apply one tampering; False when it would change nothing (the example is then not a tampering)."""
    conn = tamper_connection(path)
    try:
        if kind == "edit":
            assert isinstance(arg, tuple)
            column, value = arg
            if row(conn, seq)[column] == value:
                return False
            conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", (value, seq))
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
    finally:
        conn.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tamper=tampering)
def test_every_single_tampering_is_detected(
    chain_template: tuple[Path, Checkpoint], tamper: tuple[str, int, object]
) -> None:
    template, checkpoint = chain_template
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        shutil.copyfile(template, path)
        if not _apply(path, *tamper):
            return
        db = Database(f"sqlite:///{path}")
        try:
            with db.read_session() as session:
                report = verify_chain(session, checkpoints=[checkpoint], signer=SIGNER)
        finally:
            db.dispose()
    assert not report.ok, f"undetected: {tamper}"


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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(events, min_size=1, max_size=4), min_size=1, max_size=4),
    micros=st.integers(0, 999_999),
)
def test_untampered_trails_always_verify(migrated_template: Path, batches: list[list[AuditEvent]], micros: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        shutil.copyfile(migrated_template, path)
        db = Database(f"sqlite:///{path}")
        try:
            for i, batch in enumerate(batches):
                at = T0 + dt.timedelta(seconds=i, microseconds=micros)
                with db.session() as session, session.begin():
                    append_audit(session, batch, user_id=1, at=at)
            with db.read_session() as session:
                report = verify_chain(session)
        finally:
            db.dispose()
    assert report.ok, report.problems
    assert report.length == sum(len(b) for b in batches)
