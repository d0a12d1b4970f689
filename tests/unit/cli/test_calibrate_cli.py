"""``trialtwin calibrate`` on a couple of replicates (the 200-replicate table lives in docs/calibration.md)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from trialtwin.cli.main import app


def test_calibrate_writes_the_comparison_table(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "calibration.md"
    result = runner.invoke(app, ["calibrate", "-n", "2", "-w", "1", "--seed", "4", "--markdown", str(out)])
    assert result.exit_code == 0, result.output
    assert "published figures inside" in result.stdout
    text = out.read_text()
    assert "| PFS-BICR hazard_ratio | " in text and "NATMED" in text


def test_calibrate_rejects_a_mismatched_scenario(runner: CliRunner) -> None:
    result = runner.invoke(app, ["calibrate", "--study", "tropics-02", "--scenario", "ever-132-002", "-n", "2"])
    assert result.exit_code == 2
    assert "not 'tropics-02'" in result.stderr
