"""Service use cases on PostgreSQL (psycopg 3): the shared cases, plus the same allocations as on SQLite.

Skipped, with the reason printed, when no PostgreSQL server is reachable (see conftest.py).
"""

from __future__ import annotations

import _service_cases
import pytest
from _trial import Trial, facts_for
from sqlalchemy import text

from trialtwin.services import randomize
from trialtwin.store import Database
from trialtwin.store.migrations import current_revision, head_revision

globals().update({k: v for k, v in vars(_service_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(pg_trial: Trial) -> Trial:
    return pg_trial


def test_migrated_postgres_database_has_the_schema_and_triggers(pg_url: str) -> None:
    """`upgrade(url)` on a fresh PostgreSQL database creates every table and the no-delete triggers."""
    db = Database(pg_url)
    try:
        assert current_revision(db) == head_revision()
        with db.engine.connect() as conn:
            triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
        assert {"trg_audit_log_no_update", "trg_audit_log_no_delete", "trg_randomization_ledger_no_update"} <= triggers
    finally:
        db.dispose()


def test_same_seed_gives_the_same_allocations_on_sqlite_and_postgresql(sqlite_trial: Trial, pg_trial: Trial) -> None:
    """E5/G3: the same seed and the same subjects give the same arms, strata and slots on both databases."""
    order = [0, 3, 3, 5, 0, 7, 3, 0, 5, 5, 3, 0]

    def run(trial: Trial) -> list[tuple[str, str, int, int]]:
        out = []
        for stratum in order:
            sid = trial.screen("CN-001", facts_for(stratum))
            r = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
            out.append((r.arm, r.stratum, r.sequence, r.stratum_sequence))
        return out

    assert run(sqlite_trial) == run(pg_trial)
