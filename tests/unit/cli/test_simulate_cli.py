"""``trialtwin simulate``: complete, reproducible records, identical whatever the number of workers."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from trialtwin.analysis.frames import FRAME_NAMES
from trialtwin.cli.frames_io import load_frames
from trialtwin.cli.main import app


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical_whatever_the_workers(runner: CliRunner, tmp_path: Path) -> None:
    one = runner.invoke(app, ["simulate", "--seed", "5", "-n", "2", "-w", "1", "--out", str(tmp_path / "w1")])
    two = runner.invoke(app, ["simulate", "--seed", "5", "-n", "2", "-w", "2", "--out", str(tmp_path / "w2")])
    assert one.exit_code == 0, one.stderr
    assert two.exit_code == 0, two.stderr
    a, b = _files(tmp_path / "w1"), _files(tmp_path / "w2")
    assert len(a) == 2 * (2 * len(FRAME_NAMES) + 1) + 1  # parquet + csv per frame, meta.json; simulation.json
    assert a == b
    frames = load_frames(tmp_path / "w1" / "rep-0001")
    assert set(frames) == set(FRAME_NAMES)


def test_bad_scenario_names_the_field_and_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: ever-132-002\naccrual:\n  duration_months: -3\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", "--scenario", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "accrual.duration_months" in result.stderr
    assert not out.exists()


def test_unknown_parameter(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: ever-132-002\npopulation:\n  age_median: 50\n", encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--scenario", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "population.age_median" in result.stderr


def test_study_scenario_mismatch(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--study", "tropics-02", "--scenario", "ever-132-002", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "scenario is for 'ever-132-002', not 'tropics-02'" in result.stderr


def test_scenario_show_lists_sources(runner: CliRunner) -> None:
    result = runner.invoke(app, ["scenario", "show", "ever-132-002", "--json"])
    assert result.exit_code == 0
    assert "progression_hazards" in result.stdout and "NATMED" in result.stdout


def test_dask_local_cluster_gives_the_same_files(runner: CliRunner, tmp_path: Path) -> None:
    """Issue 4: W=1 and a local Dask cluster give identical outputs for the same seed."""
    local = runner.invoke(app, ["simulate", "--seed", "9", "-n", "2", "--out", str(tmp_path / "plain")])
    dask = runner.invoke(
        app, ["simulate", "--seed", "9", "-n", "2", "-w", "2", "--dask", "local", "--out", str(tmp_path / "dask")]
    )
    assert local.exit_code == 0, local.stderr
    assert dask.exit_code == 0, dask.stderr
    assert _files(tmp_path / "plain") == _files(tmp_path / "dask")


def test_dask_bad_address(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--dask", "nowhere", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "use 'local' or a scheduler address" in result.stderr


def test_scenario_list_and_show_from_the_real_parser(runner: CliRunner) -> None:
    listed = runner.invoke(app, ["scenario", "list"])
    assert listed.exit_code == 0 and "tropics-02" in listed.stdout
    shown = runner.invoke(app, ["scenario", "show", "tropics-02"])
    assert shown.exit_code == 0, shown.output
    assert "scenario tropics-02-default for tropics-02" in shown.stdout
    as_json = runner.invoke(app, ["scenario", "show", "tropics-02", "--json"])
    assert '"accrual.virtual_sites"' in as_json.stdout
