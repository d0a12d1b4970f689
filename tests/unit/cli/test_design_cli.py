"""``trialtwin design``: operating characteristics with Monte-Carlo errors, and its plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app


def test_design_reports_bounds_power_and_type_one_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["design", "--replicates", "4000", "--workers", "1", "--grid", "1.0,0.67", "--out", str(tmp_path), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # Lan-DeMets O'Brien-Fleming at information 0.5 and 1, one-sided 0.025: 2.963 and 1.969 (gsDesign sfLDOF).
    assert [round(z, 3) for z in data["efficacy_bounds_z"]] == [2.963, 1.969]
    assert data["events"] == [116, 232]
    # Type I error within 4 MC SE of the nominal alpha; power well above it.
    assert abs(data["type_one_error"] - 0.025) < 4 * data["type_one_error_mc_se"] + 1e-9
    assert data["power"] == pytest.approx(0.84, abs=0.05)
    assert sum(data["stop_for_efficacy_at_look"]) == pytest.approx(data["power"], abs=1e-9)
    assert (tmp_path / "power_curve.png").stat().st_size > 10_000
    assert (tmp_path / "boundaries.png").stat().st_size > 10_000


def test_design_bad_grid(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["design", "--grid", "one,two", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--grid" in result.stderr
