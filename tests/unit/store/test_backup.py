"""Backup and restore (requirement D4/G19; ICH E6(R3) 4.3.3(c)(d)) on SQLite: backup → restore into a new
database → every row of every table equal to the source's (read back independently through SQLAlchemy from
both databases), row counts equal to the manifest, and ``audit verify`` passing; a database with data is
refused and a damaged backup writes nothing. The PostgreSQL case is tests/integration/test_backup_postgres.py.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from _trial import Trial, build_trial, facts_for, trial_on
from sqlalchemy import func, select
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.services import randomize
from trialtwin.store import Database
from trialtwin.store.audit import HmacSigner, create_checkpoint, verify_chain
from trialtwin.store.backup import BACKUP_FORMAT, backup, read_manifest, restore
from trialtwin.store.errors import StoreError
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import Base


def populate(db: Database) -> Trial:
    """The study with four accounts, three randomized subjects, one screened one and a signed checkpoint."""
    upgrade(db)
    trial = trial_on(db, build_trial(db))
    for stratum in (0, 3, 5):
        sid = trial.screen("CN-001", facts_for(stratum))
        randomize(db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    trial.screen("CN-002", facts_for(1), actor=trial.coordinator)
    with db.session() as session, session.begin():
        create_checkpoint(session, HmacSigner(b"k" * 32), now=trial.clock())
    return trial


def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order."""
    with db.engine.connect() as connection:
        return {
            t.name: [dict(r) for r in connection.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Path]:
    folder = tmp_path_factory.mktemp("backup-source")
    db = Database(f"sqlite:///{folder / 'source.db'}")
    populate(db)
    out = folder / "backup.zip"
    backup(db, out)
    yield db, out
    db.dispose()


def test_backup_restores_every_row_and_the_chain_verifies(source: tuple[Database, Path], tmp_path: Path) -> None:
    db, out = source
    target = Database(f"sqlite:///{tmp_path / 'restored.db'}")  # a new file: restore migrates it first
    try:
        report = restore(out, target)
        manifest = read_manifest(out)
        want, got = dump(db), dump(target)
        assert got == want
        assert {name: len(rows) for name, rows in got.items()} == {n: t["rows"] for n, t in manifest.tables.items()}
        assert manifest.total_rows > 50 and len(got["audit_log"]) > 20 and len(got["subjects"]) == 4
        assert report.chain.ok and report.chain.length == manifest.audit_head["seq"] == len(got["audit_log"])
        assert report.chain.checkpoints == 1 and report.migrated and report.seconds > 0
        with target.read_session() as session:
            assert verify_chain(session, signer=HmacSigner(b"k" * 32)).ok
    finally:
        target.dispose()


def test_restored_database_takes_new_records(source: tuple[Database, Path], tmp_path: Path) -> None:
    """Ids and the audit chain continue after a restore: one more subject is screened and randomized."""
    _, out = source
    target = Database(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        restore(out, target)
        trial = trial_on(target, build_ids(target))
        sid = trial.screen("CN-001", facts_for(2))
        randomize(target, trial.study, sid, actor=trial.investigator, clock=trial.clock)
        with target.read_session() as session:
            report = verify_chain(session)
        assert report.ok and report.length > read_manifest(out).audit_head["seq"]
    finally:
        target.dispose()


def build_ids(db: Database) -> Any:
    from _trial import TrialIds

    from trialtwin.store.tables import User

    with db.read_session() as session:
        ids = dict(session.execute(select(User.username, User.id)).all())
    return TrialIds(ids["admin"], ids["ivan"], ids["cora"], ids["mona"])


def test_restore_into_a_database_with_data_is_refused(source: tuple[Database, Path]) -> None:
    db, out = source
    before = dump(db)
    with pytest.raises(StoreError, match=r"is not empty: .*subjects \(4 rows\).*nothing restored"):
        restore(out, db)
    assert dump(db) == before


def test_damaged_backup_writes_nothing(source: tuple[Database, Path], tmp_path: Path) -> None:
    """One audit entry's reason edited in the backup file: the digest and the chain catch it; the target
    stays empty (the one transaction is rolled back)."""
    _, out = source
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tables/audit_log.jsonl":
                lines = data.decode().splitlines(keepends=True)
                row = json.loads(lines[5])
                row["user_id"] = 4 if row["user_id"] != 4 else 3
                lines[5] = json.dumps(row, sort_keys=True) + "\n"
                data = "".join(lines).encode()
            dst.writestr(item, data)
    target = Database(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        with pytest.raises(StoreError, match=r"audit_log: data file does not match.*entry 6: its content"):
            restore(damaged, target)
        with target.engine.connect() as connection:
            counts = {
                t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
            }
        assert set(counts.values()) <= {0, 1} and counts["audit_head"] == 1 and sum(counts.values()) == 1
    finally:
        target.dispose()


def test_backup_of_another_schema_revision_or_not_a_backup_is_refused(
    source: tuple[Database, Path], tmp_path: Path
) -> None:
    _, out = source
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "manifest.json":
                data = json.dumps({**json.loads(data), "schema_revision": "0000"}).encode()
            dst.writestr(item, data)
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    target = Database(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        with pytest.raises(StoreError, match="schema revision 0000"):
            restore(other, target)
        with pytest.raises(StoreError, match="not a trialtwin backup"):
            restore(junk, target)
    finally:
        target.dispose()
    assert json.loads(zipfile.ZipFile(out).read("manifest.json"))["format"] == BACKUP_FORMAT


def test_backup_never_overwrites(source: tuple[Database, Path]) -> None:
    db, out = source
    before = out.read_bytes()
    with pytest.raises(StoreError, match="exists"):
        backup(db, out)
    assert out.read_bytes() == before


def test_cli_backup_and_restore(source: tuple[Database, Path], tmp_path: Path) -> None:
    db, _ = source
    runner = CliRunner()
    url = db.url.render_as_string(hide_password=False)
    out, restored = tmp_path / "cli.zip", f"sqlite:///{tmp_path / 'cli-restored.db'}"
    made = runner.invoke(app, ["db", "backup", "--db", url, "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "tables, audit trail at entry" in " ".join(made.output.split())
    done = runner.invoke(app, ["db", "restore", "--from", str(out), "--db", restored])
    text = " ".join(done.output.split())
    assert done.exit_code == 0, done.output
    assert re.search(r"row counts match the manifest.*audit trail intact.*restore time \d+\.\d\d s", text)
    verify = runner.invoke(app, ["audit", "verify", "--db", restored])
    assert verify.exit_code == 0 and "audit trail intact" in verify.output
    again = runner.invoke(app, ["db", "restore", "--from", str(out), "--db", restored])
    assert again.exit_code != 0 and "is not empty" in " ".join(again.output.split())
