"""The audit trail: canonical values, the hash chain and its verification, signed checkpoints, the recorder
(21 CFR 11.10(e); ICH E6(R3) 4.2.2; Crosby & Wallach 2009 §3 hash chains; RFC 2104 HMAC; RFC 8032 Ed25519)."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import itertools
import json
import sqlite3
from collections.abc import Callable
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

from trialtwin.store import Database, StoreError
from trialtwin.store.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecorder,
    Checkpoint,
    Ed25519Signer,
    HmacSigner,
    append_audit,
    canonical_json,
    load_checkpoint,
    load_signer,
    rebuild_records,
    save_checkpoint,
    signer_from_bytes,
    verify_chain,
)
from trialtwin.store.errors import AuditKeyError
from trialtwin.store.tables import AuditAction, AuditLog, User

# ---- canonical values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param({"b": 1, "a": [1.5, None]}, '{"a":[1.5,null],"b":1}', id="sorted-keys-no-spaces"),
        pytest.param({"x": "ü"}, '{"x":"ü"}', id="utf8-kept"),
        pytest.param({"d": dt.date(2025, 1, 2)}, '{"d":"2025-01-02"}', id="date-iso"),
        pytest.param(
            {"t": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))},
            '{"t":"2025-01-02T02:04:05.000000+00:00"}',
            id="timestamp-utc-microseconds",
        ),
        pytest.param({"t": (1, 2)}, '{"t":[1,2]}', id="tuple-as-list"),
        pytest.param({"s": AuditAction.CREATE}, '{"s":"create"}', id="enum-value"),
    ],
)
def test_canonical_json(value: object, text: str) -> None:
    assert canonical_json(value) == text


@pytest.mark.parametrize(
    "bad",
    [float("nan"), float("inf"), object(), dt.datetime(2025, 1, 1)],
    ids=["nan", "inf", "object", "naive-datetime"],  # stable ids: pytest-xdist workers must collect the same
)
def test_canonical_json_refuses_values_without_one_json_form(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"v": bad})


# ---- appending and verifying -----------------------------------------------------------------------------------


def test_entries_chain_from_the_genesis_hash(db: Database) -> None:
    """Entry 1 links to 64 zeros, entry n to entry n-1; the head row follows the last entry."""
    build_chain(db, 5)
    with db.read_session() as session:
        rows = session.query(AuditLog).order_by(AuditLog.seq).all()
        report = verify_chain(session)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert report.ok and report.length == 5 and report.head_hash == rows[-1].hash and report.checkpoints == 1


def test_an_update_without_reason_is_refused(db: Database) -> None:
    """ICH E6(R3) 4.2.2(a)(ii): changes after the first save carry a reason."""
    event = AuditEvent(AuditAction.UPDATE, "subjects", "1", {"status": "b"}, {"status": "a"}, reason=" ")
    with pytest.raises(StoreError, match="needs a reason"), db.session() as session, session.begin():
        append_audit(session, [event], user_id=1, at=T0)


def _edit(column: str, value: object) -> Callable[[sqlite3.Connection], None]:
    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = 4", (value,))

    return tamper


def _delete(seq: int, *, fix_head: bool = False) -> Callable[[sqlite3.Connection], None]:
    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
        if fix_head:
            set_head(conn)

    return tamper


def _swap(a: int, b: int) -> Callable[[sqlite3.Connection], None]:
    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", (a,))
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (a, b))
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", (b,))

    return tamper


def _insert_middle(conn: sqlite3.Connection) -> None:
    for s in range(length(conn), 4, -1):
        conn.execute("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", (s,))
    forged = row(conn, 4) | {"seq": 5, "new_value": '{"status":"forged"}', "prev_hash": row(conn, 4)["hash"]}
    forged["hash"] = entry_hash(forged)
    insert(conn, forged)
    set_head(conn)


def _append_forged(conn: sqlite3.Connection) -> None:
    n = length(conn)
    forged = row(conn, n) | {"seq": n + 1, "prev_hash": row(conn, n)["hash"], "new_value": '{"x":1}'}
    forged["hash"] = entry_hash(forged)
    insert(conn, forged)  # the head row is left as it was


def _truncate_tail(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_log WHERE seq > 7")
    set_head(conn)
    conn.execute("DELETE FROM audit_checkpoints")


def _rewrite_without_key(conn: sqlite3.Connection) -> None:
    conn.execute('UPDATE audit_log SET new_value = \'{"status":"forged"}\' WHERE seq = 3')
    rechain_from(conn, 3)
    conn.execute("DELETE FROM audit_checkpoints")


TAMPERING = [
    *[
        pytest.param(_edit(column, value), "edited", id=f"edit-{column}")
        for column, value in (
            ("at", "2025-03-03 09:00:00.000001"),
            ("user_id", 2),
            ("action", "update"),
            ("table_name", "consents"),
            ("record_id", "99"),
            ("fields", "arm"),
            ("old_value", '{"status":"x"}'),
            ("new_value", '{"status":"x"}'),
            ("reason", "other reason"),
        )
    ],
    pytest.param(_edit("hash", "f" * 64), "chain broken", id="edit-hash"),
    pytest.param(_edit("prev_hash", "e" * 64), "chain broken", id="edit-prev_hash"),
    pytest.param(_delete(4), "missing, extra or moved", id="delete-middle"),
    pytest.param(_delete(10), "truncated or extended", id="delete-last"),
    pytest.param(_delete(10, fix_head=True), "truncated", id="delete-last-and-fix-head"),
    pytest.param(_swap(3, 6), "edited", id="reorder-two-entries"),
    pytest.param(_insert_middle, "chain broken", id="insert-in-the-middle"),
    pytest.param(_append_forged, "truncated or extended", id="append-forged-entry-without-head"),
    pytest.param(_truncate_tail, "truncated", id="truncate-tail-and-drop-stored-checkpoints"),
    pytest.param(_rewrite_without_key, "rewritten", id="key-less-rewrite-of-the-whole-tail"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERING)
def test_tampering_is_detected(db: Database, tamper: Callable[[sqlite3.Connection], None], message: str) -> None:
    """A9: every kind of single change to the stored trail fails verification (with the exported checkpoint
    for the changes that also remove the stored checkpoints)."""
    exported = build_chain(db, 10)
    with db.read_session() as session:
        assert verify_chain(session, checkpoints=[exported], signer=SIGNER).ok
    db.dispose()
    assert db.url.database is not None
    conn = tamper_connection(db.url.database)
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, active, created_at) "
        "VALUES (2, 'mallory', 'Mallory', 'x', 1, '2025-01-01 00:00:00')"
    )
    tamper(conn)
    conn.close()
    with db.read_session() as session:
        report = verify_chain(session, checkpoints=[exported], signer=SIGNER)
    assert not report.ok
    assert any(message in p for p in report.problems), report.problems


# ---- checkpoints and keys --------------------------------------------------------------------------------------


def test_checkpoint_file_round_trip_and_signature(db: Database, tmp_path: Path) -> None:
    """The exported checkpoint reads back equal and verifies with the key, not with another key, and not
    once a field is changed."""
    cp = build_chain(db, 4)
    save_checkpoint(cp, tmp_path / "cp.json")
    back = load_checkpoint(tmp_path / "cp.json")
    assert back == cp and back.sequence == 4 and back.verify_signature(SIGNER)
    assert not back.verify_signature(HmacSigner(b"other key, 32 bytes or more!!!!!"))
    forged = Checkpoint(5, back.head_hash, back.timestamp, back.algorithm, back.key_id, back.signature)
    assert not forged.verify_signature(SIGNER)
    with db.read_session() as session:
        report = verify_chain(session, checkpoints=[forged], signer=SIGNER)
    assert not report.ok and any("signature does not verify" in p for p in report.problems)


def test_hmac_keys_need_32_bytes() -> None:
    with pytest.raises(AuditKeyError, match="at least 32"):
        HmacSigner(b"short")


def test_signer_is_read_from_a_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Server settings: --key-file, else $TRIALTWIN_AUDIT_KEY_FILE, else the secret in $TRIALTWIN_AUDIT_KEY."""
    key = tmp_path / "k"
    key.write_text("a" * 64 + "\n")
    monkeypatch.delenv("TRIALTWIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("TRIALTWIN_AUDIT_KEY", raising=False)
    with pytest.raises(AuditKeyError, match="no audit signing key"):
        load_signer()
    from_file = load_signer(key)
    monkeypatch.setenv("TRIALTWIN_AUDIT_KEY", "a" * 64)
    assert load_signer().key_id == from_file.key_id
    monkeypatch.setenv("TRIALTWIN_AUDIT_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(AuditKeyError, match="cannot read"):
        load_signer()


def test_ed25519_keys_sign_and_public_keys_only_verify() -> None:
    """RFC 8032 via ``cryptography`` when installed; otherwise a clear message says what to install."""
    if importlib.util.find_spec("cryptography") is None:
        with pytest.raises(AuditKeyError, match="cryptography"):
            Ed25519Signer.generate()
        return
    signer = Ed25519Signer.generate()
    public = signer_from_bytes(signer.public_pem())
    private = signer_from_bytes(signer.private_pem())
    message = b"checkpoint"
    signature = private.sign(message)
    assert public.verify(message, signature) and public.key_id == signer.key_id
    assert not public.verify(b"other", signature)
    with pytest.raises(AuditKeyError, match="public only"):
        public.sign(message)


# ---- recorder and replay ---------------------------------------------------------------------------------------


def test_recorder_logs_creates_and_changed_fields_only(db: Database) -> None:
    """A2: a create logs every field, an update only the changed fields with old and new values; the
    password hash is never written in clear; an unchanged update logs nothing."""
    with db.session() as session, session.begin():
        recorder = AuditRecorder(session)
        user = User(username="bob", display_name="Bob", password_hash="$argon2id$secret", active=True, created_at=T0)
        recorder.create(user)
        assert recorder.update(user, {"display_name": "Robert", "active": True}, reason="name change")
        assert not recorder.update(user, {"display_name": "Robert"}, reason="nothing")
        assert recorder.update(user, {"password_hash": "$argon2id$new"}, reason="password reset")
        with pytest.raises(StoreError, match="needs a reason"):
            recorder.update(user, {"active": False}, reason="")
        recorder.append(user_id=1, at=T0)
    with db.read_session() as session:
        rows = session.query(AuditLog).order_by(AuditLog.seq).all()
        rebuilt = rebuild_records(session)
    assert [(r.action, r.fields, r.reason) for r in rows] == [
        ("create", "active,created_at,display_name,id,must_change_password,password_hash,username", None),
        ("update", "display_name", "name change"),
        ("update", "password_hash", "password reset"),
    ]
    assert json.loads(rows[1].old_value or "") == {"display_name": "Bob"}
    assert json.loads(rows[1].new_value) == {"display_name": "Robert"}
    assert all("argon2" not in (r.new_value + (r.old_value or "")) for r in rows)
    assert rebuilt[("users", "2")]["display_name"] == "Robert"
    assert rebuilt[("users", "2")]["created_at"] == "2025-03-03T09:00:00.000000+00:00"


def test_signature_is_base64_of_the_hmac_of_the_canonical_message() -> None:
    """RFC 2104: HMAC-SHA256 over the checkpoint's canonical JSON (schema-tagged), so any verifier with the
    key can recompute it."""
    import hashlib
    import hmac

    cp = Checkpoint(3, "a" * 64, "2025-03-03T09:00:00.000000+00:00", "hmac-sha256", SIGNER.key_id)
    expected = hmac.new(b"k" * 32, cp.message(), hashlib.sha256).digest()
    assert SIGNER.sign(cp.message()) == expected
    assert json.loads(cp.message())["schema"] == "trialtwin.audit-checkpoint/1"
    signed = Checkpoint(
        *[getattr(cp, f) for f in ("sequence", "head_hash", "timestamp", "algorithm", "key_id")],
        base64.b64encode(expected).decode(),
    )
    assert signed.verify_signature(SIGNER)
