"""IRT use cases on SQLite (E5/G3, E7, E9): the shared cases of ``_irt_cases``."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import _irt_cases
import pytest
from _trial import SEED, STUDY, Trial
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade

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
