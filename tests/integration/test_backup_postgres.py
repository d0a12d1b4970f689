"""Backup and restore on PostgreSQL (requirement D4/G19): backup → restore into a new, empty database →
every row equal, row counts equal to the manifest, the audit chain verifies, and new records get fresh ids
(the id sequences were moved past the restored rows). Also SQLite → PostgreSQL with the same file.

Skipped, with the reason printed, when no PostgreSQL server is reachable (see conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _trial import Trial, TrialIds, facts_for, trial_on
from sqlalchemy import select

from trialtwin.services import randomize
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.backup import backup, read_manifest, restore
from trialtwin.store.errors import StoreError
from trialtwin.store.tables import Base


def _dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    with db.engine.connect() as connection:
        return {
            t.name: [dict(r) for r in connection.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
            for t in Base.metadata.sorted_tables
        }


def _randomize_some(trial: Trial, strata: tuple[int, ...]) -> None:
    for stratum in strata:
        sid = trial.screen("CN-001", facts_for(stratum))
        randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)


def _ids(trial: Trial) -> TrialIds:
    return TrialIds(trial.admin, trial.investigator, trial.coordinator, trial.monitor)


def test_postgres_backup_restores_into_a_new_database(pg_trial: Trial, pg_server: Any, tmp_path: Path) -> None:
    _randomize_some(pg_trial, (0, 3, 6))
    out = tmp_path / "pg.zip"
    manifest = backup(pg_trial.db, out)
    assert manifest.source_backend == "postgresql"
    target = Database(pg_server.url_for(pg_server.create()))
    try:
        report = restore(out, target)
        assert report.migrated and report.chain.ok
        got = _dump(target)
        assert got == _dump(pg_trial.db)
        assert {n: len(r) for n, r in got.items()} == {n: t["rows"] for n, t in read_manifest(out).tables.items()}
        restored = trial_on(target, _ids(pg_trial))
        _randomize_some(restored, (1,))  # would fail on a duplicate id if the sequences were not reset
        with target.read_session() as session:
            assert verify_chain(session).ok
        with pytest.raises(StoreError, match="is not empty"):
            restore(out, target)
    finally:
        target.dispose()


def test_sqlite_backup_restores_into_postgres(sqlite_trial: Trial, pg_server: Any, tmp_path: Path) -> None:
    _randomize_some(sqlite_trial, (2, 5))
    out = tmp_path / "sqlite.zip"
    backup(sqlite_trial.db, out)
    target = Database(pg_server.url_for(pg_server.create()))
    try:
        report = restore(out, target)
        assert report.chain.ok and _dump(target) == _dump(sqlite_trial.db)
    finally:
        target.dispose()
