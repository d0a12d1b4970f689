"""IRT use cases on SQLite (E5/G3, E7, E9): the shared cases of ``_irt_cases``."""

from __future__ import annotations

import json
import sqlite3
from itertools import count
from pathlib import Path

import _irt_cases
import pytest
from _trial import PASSWORD, SEED, STUDY, Trial
from sqlalchemy import func, select
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import AuditLog
from trialtwin.store.tables_access import SecurityEvent
from trialtwin.store.tables_irt import RandomizationListRecord

globals().update({k: v for k, v in vars(_irt_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(sqlite_trial: Trial) -> Trial:
    return sqlite_trial


@pytest.fixture
def fresh_db(tmp_path: Path) -> _irt_cases.FreshDb:
    numbers = count(1)

    def make() -> Database:
        url = f"sqlite:///{tmp_path / f'fresh-{next(numbers)}.db'}"
        upgrade(url)
        return Database(url)

    return make


def test_cli_list_hash_shows_the_recorded_and_recomputed_sha256(sqlite_trial: Trial) -> None:
    """E5/G3: ``trialtwin randomization list-hash`` for the statistician: recorded == recomputed (exit 0); the
    value is the list's SHA-256 computed independently from the seed."""
    expected = _irt_cases._independent_sha256(sqlite_trial.protocol, SEED)
    url = sqlite_trial.db.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["randomization", "list-hash", "--db", url, "--study", STUDY, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["recorded_sha256"], data["computed_sha256"], data["matches"]) == (expected, expected, True)
    unknown = CliRunner().invoke(app, ["randomization", "list-hash", "--db", url, "--study", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output


def test_cli_backfills_the_list_hash_of_a_study_loaded_before_migration_0004(sqlite_trial: Trial) -> None:
    """E5/G3 for studies loaded before ``0004_irt`` (which recorded no list hash): ``trialtwin randomization
    backfill-list-hash`` checks an administrator's password like a login, recomputes the list from the seed and
    records its SHA-256 with an audit reason that says it is a backfill; ``list-hash`` then matches. Refused with
    a clear message (non-zero exit, nothing written) for a wrong password, a non-administrator and a second
    backfill. The expected hash is computed independently from the seed (``_irt_cases``)."""
    db = sqlite_trial.db
    path = db.url.database
    assert path is not None
    with sqlite3.connect(path) as conn:  # the state of a study loaded before 0004: no recorded list
        conn.execute("DROP TRIGGER trg_randomization_lists_no_delete")
        conn.execute("DELETE FROM randomization_lists")
    url = db.url.render_as_string(hide_password=False)
    base = ["randomization", "backfill-list-hash", "--db", url, "--study", STUDY, "--reason", "loaded in 2025"]
    before = CliRunner().invoke(app, ["randomization", "list-hash", "--db", url, "--study", STUDY])
    assert before.exit_code != 0 and "missing" in before.output

    wrong = CliRunner().invoke(app, [*base, "--username", "admin", "--password", "not the password"])
    assert wrong.exit_code != 0 and "wrong username or password" in wrong.output
    not_admin = CliRunner().invoke(app, [*base, "--username", "ivan", "--password", PASSWORD])
    assert not_admin.exit_code != 0 and "admin" in not_admin.output
    with db.read_session() as s:
        assert s.execute(select(func.count()).select_from(RandomizationListRecord)).scalar_one() == 0

    done = CliRunner().invoke(app, [*base, "--username", "admin"], input=f"{PASSWORD}\n")  # password prompted
    assert done.exit_code == 0, done.output
    after = CliRunner().invoke(app, ["randomization", "list-hash", "--db", url, "--study", STUDY, "--json"])
    assert after.exit_code == 0, after.output
    expected = _irt_cases._independent_sha256(sqlite_trial.protocol, SEED)
    assert json.loads(after.stdout)["recorded_sha256"] == expected
    with db.read_session() as s:
        *_, entry = s.execute(  # the load's own entry stays in the trail: this database once had a record
            select(AuditLog).where(AuditLog.table_name == "randomization_lists").order_by(AuditLog.seq)
        ).scalars()
        events = set(s.execute(select(SecurityEvent.event).where(SecurityEvent.username == "admin")).scalars())
    assert (
        entry.reason
        == f"randomization list hash backfilled (study loaded before 0004): loaded in 2025, sha256={expected}"
    )
    assert entry.user_id == sqlite_trial.admin and {"login_failed", "cli_verified"} <= events
    again = CliRunner().invoke(app, [*base, "--username", "admin", "--password", PASSWORD])
    assert again.exit_code != 0 and "nothing to backfill" in again.output
