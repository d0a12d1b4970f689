"""``trialtwin run``: the main job on the built-in trial (what `make run` does)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from trialtwin.analysis.frames import FRAME_NAMES
from trialtwin.cli.main import app


def test_run_simulates_analyses_and_reports(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Headline results" in result.stdout and "PFS-BICR: HR" in result.stdout
    assert {p.stem for p in (tmp_path / "frames").glob("*.parquet")} == set(FRAME_NAMES)
    report = (tmp_path / "analysis" / "report.html").read_text(encoding="utf-8")
    assert "NCT04639986" in report and "<svg" in report
    assert (tmp_path / "analysis" / "adtte.parquet").is_file()


def test_run_unknown_study_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "no-such-trial", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no-such-trial" in result.stderr
    assert not any(tmp_path.iterdir())
