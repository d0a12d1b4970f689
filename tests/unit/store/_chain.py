"""Helpers for the audit tests: build a chain in a database, and tamper with it as a DBA could."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from trialtwin.store import Database
from trialtwin.store.audit import AuditEntry, AuditEvent, Checkpoint, HmacSigner, append_audit, create_checkpoint
from trialtwin.store.tables import AuditAction

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
SIGNER = HmacSigner(b"k" * 32)
COLUMNS = (
    "at",
    "user_id",
    "action",
    "table_name",
    "record_id",
    "fields",
    "old_value",
    "new_value",
    "reason",
    "prev_hash",
    "hash",
)


def event(i: int) -> AuditEvent:
    if i % 3 == 0:
        return AuditEvent(AuditAction.CREATE, "subjects", str(i), {"status": "registered", "n": i})
    return AuditEvent(
        AuditAction.UPDATE, "subjects", str(i // 3), {"status": f"s{i}"}, {"status": f"s{i - 1}"}, f"r{i}"
    )


def build_chain(db: Database, n: int, *, per_transaction: int = 3) -> Checkpoint:
    """``n`` audit entries (in transactions of ``per_transaction``), then a signed checkpoint at the end."""
    done = 0
    while done < n:
        batch = [event(done + k) for k in range(min(per_transaction, n - done))]
        with db.session() as session, session.begin():
            append_audit(session, batch, user_id=1, at=T0 + dt.timedelta(minutes=done))
        done += len(batch)
    with db.session() as session, session.begin():
        return create_checkpoint(session, SIGNER, now=T0 + dt.timedelta(days=1))


def tamper_connection(path: Path | str) -> sqlite3.Connection:
    """A raw connection with the protecting triggers dropped (what a database administrator could do)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in ("trg_audit_log_no_update", "trg_audit_log_no_delete", "trg_audit_checkpoints_no_delete"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def row(conn: sqlite3.Connection, seq: int) -> dict[str, object]:
    cur = conn.execute(f"SELECT seq, {', '.join(COLUMNS)} FROM audit_log WHERE seq = ?", (seq,))
    values = cur.fetchone()
    return dict(zip(("seq", *COLUMNS), values, strict=True))


def length(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def entry_hash(values: dict[str, object]) -> str:
    """The hash an attacker who knows the algorithm (not the key) computes for forged values."""
    at = dt.datetime.fromisoformat(str(values["at"])).replace(tzinfo=dt.UTC)
    entry = AuditEntry(
        seq=int(str(values["seq"])),
        at=at.isoformat(timespec="microseconds"),
        user_id=int(str(values["user_id"])),
        action=str(values["action"]),
        table_name=str(values["table_name"]),
        record_id=str(values["record_id"]),
        fields=str(values["fields"]),
        old_value=None if values["old_value"] is None else str(values["old_value"]),
        new_value=str(values["new_value"]),
        reason=None if values["reason"] is None else str(values["reason"]),
        prev_hash=str(values["prev_hash"]),
    )
    return entry.compute_hash()


def insert(conn: sqlite3.Connection, values: dict[str, object]) -> None:
    names = ("seq", *COLUMNS)
    conn.execute(
        f"INSERT INTO audit_log ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        tuple(values[n] for n in names),
    )


def set_head(conn: sqlite3.Connection) -> None:
    """Make the head row agree with the (tampered) chain, as a careful tamperer would."""
    last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone() or (0, "0" * 64)
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", last)


def rechain_from(conn: sqlite3.Connection, seq: int) -> None:
    """Recompute every hash from ``seq`` on (a key-less rewrite), then fix the head."""
    n = length(conn)
    prev = row(conn, seq - 1)["hash"] if seq > 1 else "0" * 64
    for s in range(seq, n + 1):
        values = row(conn, s)
        values["prev_hash"] = prev
        values["hash"] = entry_hash(values)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (values["prev_hash"], values["hash"], s)
        )
        prev = values["hash"]
    set_head(conn)
