"""Service use cases on SQLite (WAL, synchronous=FULL): the shared cases, plus list reproducibility."""

from __future__ import annotations

from pathlib import Path

import _service_cases
import pytest
from _trial import Trial, TrialIds, copy_sqlite, facts_for, trial_on

from trialtwin.services import randomize
from trialtwin.store import Database

globals().update({k: v for k, v in vars(_service_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(sqlite_trial: Trial) -> Trial:
    return sqlite_trial


def _arms_by_stratum(trial: Trial, order: list[int]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for stratum in order:
        sid = trial.screen("CN-001", facts_for(stratum))
        result = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
        out.setdefault(result.stratum, []).append(result.arm)
    return out


def test_same_seed_gives_the_same_stratum_lists_whatever_the_arrival_order(
    sqlite_trial: Trial, sqlite_trial_template: tuple[Path, TrialIds], tmp_path: Path
) -> None:
    """E5/G3: a stratum's allocations depend only on the seed and the slot, so two databases that receive the
    same subjects in different interleavings of strata give each stratum the same list."""
    order = [0, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    first = _arms_by_stratum(sqlite_trial, order)
    template, ids = sqlite_trial_template
    copy_sqlite(template, tmp_path / "other.db")
    other = trial_on(Database(f"sqlite:///{tmp_path / 'other.db'}"), ids)
    try:
        second = _arms_by_stratum(other, sorted(order, reverse=True))
    finally:
        other.db.dispose()
    assert first == second
    assert sorted(len(v) for v in first.values()) == [4, 6]
