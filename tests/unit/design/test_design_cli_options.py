"""``trialtwin design`` options: observation mode, non-binding futility (bounds, stopping probabilities with MC
SEs), Dask, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from trialtwin.cli.main import app

BASE = ["design", "--replicates", "3000", "--workers", "1", "--grid", "1.0", "--json"]


def _run(runner: CliRunner, tmp_path: Path, *extra: str) -> dict[str, object]:
    result = runner.invoke(app, [*BASE, "--out", str(tmp_path), *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_futility_bounds_and_stopping_probabilities(runner: CliRunner, tmp_path: Path) -> None:
    data = _run(runner, tmp_path, "--futility", "hsd:-2", "--observation", "continuous")
    fut = data["futility_bounds_z"]
    eff = data["efficacy_bounds_z"]
    assert isinstance(fut, list) and isinstance(eff, list)
    assert fut[0] < eff[0] and fut[-1] == pytest.approx(eff[-1])  # non-binding bounds meet at the end
    p_fut_h0 = data["stop_for_futility_at_look_h0"]
    se_h0 = data["stop_for_futility_at_look_h0_mc_se"]
    assert isinstance(p_fut_h0, list) and isinstance(se_h0, list)
    # Under H0 the first look's Z is standard normal: P(stop for futility at look 1) = Φ(f₁) (canonical joint
    # distribution, Jennison & Turnbull 2000 §3.1); the simulation must agree within 4 MC SE.
    expected = float(stats.norm.cdf(fut[0]))
    assert abs(p_fut_h0[0] - expected) < 4 * math.sqrt(expected * (1 - expected) / 3000)
    assert se_h0[0] == pytest.approx(math.sqrt(p_fut_h0[0] * (1 - p_fut_h0[0]) / 3000))
    # every simulated trial stops at some look, for efficacy or futility
    eff_h1, fut_h1 = data["stop_for_efficacy_at_look"], data["stop_for_futility_at_look"]
    assert isinstance(eff_h1, list) and isinstance(fut_h1, list)
    assert sum(eff_h1) + sum(fut_h1) == pytest.approx(1.0, abs=1e-9)
    # non-binding: the type I error ignores the futility bounds, so it is at least the futility-obeyed rate
    assert data["type_one_error"] >= data["type_one_error_futility_obeyed"]  # type: ignore[operator]
    assert data["power"] <= data["power_ignoring_futility"]  # type: ignore[operator]


def test_observation_defaults_to_scans_for_ever(runner: CliRunner, tmp_path: Path) -> None:
    data = _run(runner, tmp_path)
    assert data["observation"] == "scans"
    assert data["scans"] == "every 6 weeks to week 36 (±7 d), then every 9 weeks (±7 d)"
    assert data["futility_bounds_z"] is None


def test_dask_local_gives_the_same_numbers(runner: CliRunner, tmp_path: Path) -> None:
    plain = _run(runner, tmp_path / "a", "--replicates", "2000")
    on_dask = _run(runner, tmp_path / "b", "--replicates", "2000", "--dask", "local", "--workers", "2")
    for key in ("power", "type_one_error", "expected_events", "expected_months", "hr_final_2.5_50_97.5"):
        assert plain[key] == on_dask[key], key


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--futility", "sometimes", "--futility 'sometimes'"),
        ("--observation", "weekly", "--observation 'weekly'"),
        ("--dask", "nowhere", "use 'local' or a scheduler address"),
    ],
)
def test_bad_options_exit_2(runner: CliRunner, tmp_path: Path, option: str, value: str, message: str) -> None:
    result = runner.invoke(app, ["design", option, value, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "o").exists()
