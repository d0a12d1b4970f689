"""Migrations: ``upgrade(url)`` on a fresh database creates the schema the tables declare, with the
no-delete / append-only triggers; running it again changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from trialtwin.store import Database
from trialtwin.store.migrations import current_revision, head_revision, upgrade
from trialtwin.store.tables import APPEND_ONLY_TABLES, GXP_TABLES, Base


def test_upgrade_creates_the_schema_on_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    assert upgrade(url) == head_revision()
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        db.dispose()
    assert set(Base.metadata.tables) <= tables
    assert diff == [], "the migrations and trialtwin.store.tables disagree; add a revision"
    assert upgrade(url) == head_revision()  # again: nothing to do


def test_every_table_refuses_delete_and_the_append_only_ones_refuse_update(tmp_path: Path) -> None:
    """A3/A5/E7: database triggers, so not even a direct SQL session can delete rows or edit the audit trail."""
    path = tmp_path / "trig.db"
    upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {f"trg_{t}_no_delete" for t in GXP_TABLES} <= triggers
    assert {f"trg_{t}_no_update" for t in APPEND_ONLY_TABLES} <= triggers
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, active, created_at) "
        "VALUES (1, 'u', 'U', 'x', 1, '2025-01-01 00:00:00')"
    )
    conn.execute(
        "INSERT INTO audit_log VALUES (1, '2025-01-01 00:00:00', 1, 'create', 'users', '1', 'id', NULL, '{}', NULL, "
        f"'{'0' * 64}', '{'1' * 64}')"
    )
    for statement, message in (
        ("DELETE FROM audit_head", "audit_head: rows are never deleted"),
        ("DELETE FROM users", "users: rows are never deleted"),
        ("DELETE FROM audit_log", "audit_log: rows are never deleted"),
        ("UPDATE audit_log SET reason = 'x'", "audit_log: rows are never changed"),
    ):
        with pytest.raises(sqlite3.IntegrityError, match=message):
            conn.execute(statement)
    conn.close()
