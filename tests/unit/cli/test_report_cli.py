"""``trialtwin analyze`` and ``trialtwin report`` on a simulated record (simulated once per session), and the
clear exit-2 messages for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app


@pytest.fixture(scope="session")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated EVER-132-002 record (seed 3), shared by the tests (they copy it before changing it)."""
    out = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(app, ["simulate", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "rep-0001"


@pytest.fixture(scope="session")
def analysed(record: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``trialtwin analyze --json`` run once on a copy of the record."""
    folder = tmp_path_factory.mktemp("analysed") / "rep"
    shutil.copytree(record, folder)
    result = CliRunner().invoke(app, ["analyze", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return folder, result.stdout


def _copy(record: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "rep"
    shutil.copytree(record, folder)
    return folder


def test_analyze_writes_report_figures_and_datasets(analysed: tuple[Path, str]) -> None:
    folder, stdout = analysed
    out = folder / "analysis"
    data = json.loads(stdout)
    meta = json.loads((folder / "meta.json").read_text())
    assert data["cutoff"] == meta["cutoff"] and data["study"] == "ever-132-002"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"<dt>Data cut-off</dt><dd>{meta['cutoff']}</dd>" in html
    for name in ("km_pfs", "km_os", "forest_pfs", "consort", "waterfall", "swimmer"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    for name in ("adsl", "adtte", "adrs", "adae"):
        parquet = pd.read_parquet(out / f"{name}.parquet")
        csv = pd.read_csv(out / f"{name}.csv")
        assert len(parquet) == len(csv) > 0
    adsl = pd.read_parquet(out / "adsl.parquet")
    assert data["key_results"]["Patients randomized (ITT)"]["value"]["SG"] == str(int((adsl["ARMCD"] == "sg").sum()))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".analysis")]  # no temporary folder left


def test_report_replaces_only_the_report(record: Path, tmp_path: Path) -> None:
    """``report`` writes report.html and figures/ into --out and leaves other files there alone."""
    folder = _copy(record, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("old", encoding="utf-8")
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(folder), "--out", str(out), "--study", "ever-132-002"])
    assert result.exit_code == 0, result.output
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Key results" in html
    assert (out / "figures" / "km_pfs.svg").is_file()
    assert not (out / "adsl.parquet").exists()
    assert "Wrote the report to" in result.stdout


def _error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.stderr.split())


def test_missing_folder(tmp_path: Path) -> None:
    message = _error(["analyze", str(tmp_path / "nowhere")])
    assert "nowhere: no such record folder" in message


def test_missing_frame_file(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    (folder / "deaths.parquet").unlink()
    (folder / "deaths.csv").unlink()
    message = _error(["analyze", str(folder)])
    assert "lacks frame(s) ['deaths']" in message
    assert not (folder / "analysis").exists()


def test_malformed_csv(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    (folder / "subjects.parquet").unlink()
    (folder / "subjects.csv").write_text('subject_id,site_id\n"S1,CN-001\n', encoding="utf-8")
    message = _error(["report", str(folder)])
    assert "subjects.csv: cannot read CSV" in message


def test_frame_failing_the_schema(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    subjects = pd.read_parquet(folder / "subjects.parquet").drop(columns=["arm"])
    (folder / "subjects.parquet").unlink()
    subjects.to_csv(folder / "subjects.csv", index=False)
    message = _error(["analyze", str(folder)])
    assert "frame 'subjects' lacks column(s) ['arm']" in message


def test_bad_cutoff_option(record: Path, tmp_path: Path) -> None:
    message = _error(["analyze", str(_copy(record, tmp_path)), "--cutoff", "31/03/2022"])
    assert "--cutoff: '31/03/2022' is not a date" in message


def test_cutoff_before_the_records_own(record: Path, tmp_path: Path) -> None:
    """The best-response frame was decided at the record's cut-off; an earlier --cutoff cannot use it."""
    message = _error(["analyze", str(_copy(record, tmp_path)), "--cutoff", "2021-06-30"])
    assert "best response dated after the cut-off 2021-06-30" in message


def test_meta_without_study(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    (folder / "meta.json").write_text('{"cutoff": "2022-03-31"}', encoding="utf-8")
    message = _error(["analyze", str(folder)])
    assert "meta.json names no study; pass --study" in message


def test_refuses_to_replace_a_foreign_folder(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious", encoding="utf-8")
    message = _error(["analyze", str(folder), "--out", str(foreign)])
    assert "refusing to replace it" in message
    assert (foreign / "thesis.txt").read_text(encoding="utf-8") == "precious"


def test_out_must_not_be_the_record(record: Path, tmp_path: Path) -> None:
    folder = _copy(record, tmp_path)
    message = _error(["analyze", str(folder), "--out", str(folder)])
    assert "must not be the record folder" in message
    assert (folder / "subjects.parquet").is_file()


def test_help_teaches() -> None:
    result = CliRunner().invoke(app, ["analyze", "--help"])
    assert result.exit_code == 0
    assert "Example: trialtwin simulate --seed 1" in " ".join(result.stdout.split())
