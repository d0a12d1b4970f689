"""Fixtures for the service tests: a migrated database with a loaded study and users, on SQLite (always)
and on PostgreSQL (when reachable; otherwise the PostgreSQL tests are skipped with the reason printed).

PostgreSQL: ``$TRIALTWIN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) is the
maintenance connection. Each test session creates uniquely named databases (``tt_<pid>_<random>``): a
migrated one (``pg_url``), a template with the trial set up, and one clone of the template per test; all
are dropped when the session ends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from _trial import Trial, TrialIds, build_trial, copy_sqlite, trial_on
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from trialtwin.store import Database
from trialtwin.store.migrations import upgrade

PG_ADMIN_URL = os.environ.get("TRIALTWIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# ---- SQLite ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_trial_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrialIds]:
    path = tmp_path_factory.mktemp("sqlite-template") / "trial.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    ids = build_trial(db)
    db.dispose()  # the last connection checkpoints the WAL into the file
    return path, ids


@pytest.fixture
def sqlite_trial(sqlite_trial_template: tuple[Path, TrialIds], tmp_path: Path) -> Iterator[Trial]:
    template, ids = sqlite_trial_template
    target = tmp_path / "trial.db"
    copy_sqlite(template, target)
    db = Database(f"sqlite:///{target}", pool_size=16)
    yield trial_on(db, ids)
    db.dispose()


# ---- PostgreSQL ------------------------------------------------------------------------------------------------


class _PgServer:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine: Engine = create_engine(
            Database(admin_url).url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return Database(self.admin_url).url.set(database=name).render_as_string(hide_password=False)

    def create(self, *, template: str | None = None) -> str:
        name = f"tt_{os.getpid()}_{secrets.token_hex(4)}"
        with self.engine.connect() as conn:
            clause = f" TEMPLATE {template}" if template else ""
            conn.execute(text(f"CREATE DATABASE {name}{clause}"))
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop(name)
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_PgServer]:
    try:
        server = _PgServer(PG_ADMIN_URL)
        with server.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({reason}); set TRIALTWIN_TEST_PG_URL to a server "
            "where the user may create databases to run the PostgreSQL tests"
        )
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server: _PgServer) -> str:
    """A migrated, empty PostgreSQL database for this test session (dropped at the end)."""
    url = pg_server.url_for(pg_server.create())
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def pg_trial_template(pg_server: _PgServer) -> tuple[str, TrialIds]:
    name = pg_server.create()
    db = Database(pg_server.url_for(name))
    upgrade(db)
    ids = build_trial(db)
    db.dispose()
    return name, ids


@pytest.fixture
def pg_trial(pg_server: _PgServer, pg_trial_template: tuple[str, TrialIds]) -> Iterator[Trial]:
    template, ids = pg_trial_template
    name = pg_server.create(template=template)
    db = Database(pg_server.url_for(name), pool_size=16)
    yield trial_on(db, ids)
    db.dispose()
    pg_server.drop(name)
