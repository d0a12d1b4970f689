"""``trialtwin db upgrade`` and ``trialtwin audit verify|checkpoint|keygen``: exit codes 0 (ok), 1 (the trail
is broken), 2 (a user error, one line, no traceback)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.store import Database
from trialtwin.store.audit import AuditEvent, append_audit
from trialtwin.store.migrations import head_revision
from trialtwin.store.tables import AuditAction, User

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRIALTWIN_AUDIT_KEY", "TRIALTWIN_AUDIT_KEY_FILE", "TRIALTWIN_DB_URL"):
        monkeypatch.delenv(name, raising=False)


def _db(runner: CliRunner, tmp_path: Path, entries: int = 3) -> str:
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    db = Database(url)
    with db.session() as session, session.begin():
        session.add(User(id=1, username="a", display_name="A", password_hash="x", active=True, created_at=T0))
        session.flush()
        events = [AuditEvent(AuditAction.CREATE, "users", str(i), {"n": i}) for i in range(entries)]
        append_audit(session, events, user_id=1, at=T0)
    db.dispose()
    return url


def test_upgrade_creates_the_database_and_says_the_revision(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = runner.invoke(app, ["db", "upgrade", "--db", url])
    again = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert first.exit_code == again.exit_code == 0
    output = " ".join(first.output.split())  # rich wraps long lines
    assert f"revision {head_revision()} (latest)" in output and (tmp_path / "new.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["db", "upgrade", "--db", "mysql://x@y/z"], "only sqlite and postgresql", id="bad-backend"),
        pytest.param(["audit", "verify", "--db", "sqlite:////nonexistent/x.db"], "no such file", id="missing-file"),
        pytest.param(["audit", "checkpoint", "--out", "cp.json"], "no audit signing key", id="checkpoint-without-key"),
    ],
)
def test_user_errors_exit_2_with_one_line(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_verify_refuses_a_database_without_the_schema(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    result = runner.invoke(app, ["audit", "verify", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 2 and "no trialtwin schema" in result.output


def test_keygen_writes_a_private_key_once(runner: CliRunner, tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    made = runner.invoke(app, ["audit", "keygen", "--out", str(key)])
    assert made.exit_code == 0 and "hmac-sha256" in made.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    again = runner.invoke(app, ["audit", "keygen", "--out", str(key)])
    assert again.exit_code == 2 and "never overwritten" in again.output


def test_checkpoint_then_verify_then_detect_tampering(runner: CliRunner, tmp_path: Path) -> None:
    """The whole inspector story: sign a checkpoint, verify against it (0), tamper (1), refuse to sign (1)."""
    url = _db(runner, tmp_path)
    key, cp = tmp_path / "audit.key", tmp_path / "cp.json"
    assert runner.invoke(app, ["audit", "keygen", "--out", str(key)]).exit_code == 0
    signed = runner.invoke(app, ["audit", "checkpoint", "--db", url, "--key-file", str(key), "--out", str(cp)])
    assert signed.exit_code == 0 and "entry 3" in signed.output
    assert json.loads(cp.read_text())["sequence"] == 3
    ok = runner.invoke(app, ["audit", "verify", "--db", url, "--key-file", str(key), "--checkpoint", str(cp)])
    assert ok.exit_code == 0 and "intact" in ok.output and "3 entries" in ok.output

    conn = sqlite3.connect(tmp_path / "trial.db", isolation_level=None)
    conn.execute("DROP TRIGGER trg_audit_log_no_update")
    conn.execute("UPDATE audit_log SET new_value = '{\"n\":99}' WHERE seq = 2")
    conn.close()
    broken = runner.invoke(app, ["audit", "verify", "--db", url, "--checkpoint", str(cp), "--json"])
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False and any("entry 2" in p for p in report["problems"])
    refused = runner.invoke(app, ["audit", "checkpoint", "--db", url, "--key-file", str(key), "--out", str(cp)])
    assert refused.exit_code == 1 and "no checkpoint signed" in refused.output


def test_help_teaches_with_examples(runner: CliRunner) -> None:
    for args in (["db", "--help"], ["audit", "--help"], ["audit", "verify", "--help"], ["db", "upgrade", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Example" in result.output
