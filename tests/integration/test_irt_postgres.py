"""IRT use cases on PostgreSQL (E5/G3, E7, E9): the shared cases of ``_irt_cases``, plus the same list hash as
on SQLite. Skipped, with the reason printed, when no PostgreSQL server is reachable (see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import _irt_cases
import pytest
from _trial import Trial
from sqlalchemy import text

from trialtwin.services.irt import randomization_list_hash
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade

globals().update({k: v for k, v in vars(_irt_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(pg_trial: Trial) -> Trial:
    return pg_trial


@pytest.fixture
def fresh_db(pg_server: Any) -> Iterator[_irt_cases.FreshDb]:
    names: list[str] = []

    def make() -> Database:
        name = pg_server.create()
        names.append(name)
        url = pg_server.url_for(name)
        upgrade(url)
        return Database(url)

    yield make
    for name in names:
        pg_server.drop(name)


def test_list_sha256_is_the_same_on_sqlite_and_postgresql(sqlite_trial: Trial, pg_trial: Trial) -> None:
    """G3: the hash recorded on PostgreSQL equals the one recorded on SQLite (same seed and protocol)."""
    on_sqlite = randomization_list_hash(sqlite_trial.db, sqlite_trial.study)
    on_pg = randomization_list_hash(pg_trial.db, pg_trial.study)
    assert on_sqlite.recorded is not None and on_sqlite.matches and on_pg.matches
    assert on_pg.recorded == on_sqlite.recorded


def test_postgres_irt_tables_refuse_update_and_delete(pg_url: str) -> None:
    """E7/E9: migration 0004's triggers on PostgreSQL (no UPDATE, DELETE or TRUNCATE of the IRT tables)."""
    db = Database(pg_url)
    try:
        with db.engine.connect() as conn:
            triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    finally:
        db.dispose()
    for table in ("randomization_lists", "randomization_invalidations", "manual_allocations", "site_activations"):
        assert {f"trg_{table}_no_delete", f"trg_{table}_no_update", f"trg_{table}_no_truncate"} <= triggers
