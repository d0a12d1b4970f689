"""Fixtures for the store tests: a migrated SQLite database (copied from one made per session) with one user."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from trialtwin.store import Database
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import User

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.session() as session, session.begin():
        session.add(User(id=1, username="alice", display_name="Alice", password_hash="x", active=True, created_at=T0))
    db.dispose()
    return path


@pytest.fixture
def db(migrated_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database with user 1 (``alice``)."""
    target = tmp_path / "store.db"
    shutil.copyfile(migrated_template, target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()
