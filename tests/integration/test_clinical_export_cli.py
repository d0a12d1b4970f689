"""``trialtwin export``: the service database as analysis frames that ``load_frames`` (and so
``trialtwin analyze``) reads; bad input exits 2 with one clear line and leaves nothing written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from _clinical_cases import D0, later, sg_subject, visit
from _trial import Trial
from typer.testing import CliRunner

from trialtwin.cli.frames_io import load_frames
from trialtwin.cli.main import app

runner = CliRunner()


@pytest.fixture
def trial(sqlite_trial: Trial) -> Trial:
    return sqlite_trial


def test_export_writes_frames_that_load_and_validate(trial: Trial, tmp_path: Path) -> None:
    clock = later()
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0)
    visit(trial, sid, clock, 1, 8, D0 + dt.timedelta(days=7), labs={"anc": 0.8, "platelets": 200.0})
    out = tmp_path / "edc"
    result = runner.invoke(app, ["export", "--db", str(trial.db.url), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 randomized" in result.output
    frames = load_frames(out)
    assert list(frames["exposure"]["action"]) == ["give", "hold"]  # Trodelvy Table 2: ANC < 1000/mm3 on Day 8
    assert (out / "meta.json").read_text().count('"study": "ever-132-002"') == 1
    cut = runner.invoke(app, ["export", "--db", str(trial.db.url), "--out", str(out), "--cutoff", "2025-03-05"])
    assert cut.exit_code == 0, cut.output
    assert list(load_frames(out)["exposure"]["action"]) == ["give"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "nope"], "--study nope: not in this database"),
        (["--cutoff", "yesterday"], "--cutoff 'yesterday': expected a date"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(trial: Trial, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "edc"
    result = runner.invoke(app, ["export", "--db", str(trial.db.url), "--out", str(out), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not out.exists()


def test_a_missing_database_or_unsafe_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "edc"
    result = runner.invoke(app, ["export", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(out)])
    assert result.exit_code == 2 and "no such file" in result.output and not out.exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("precious")
    result = runner.invoke(app, ["export", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(busy)])
    assert result.exit_code == 2 and "refusing to replace" in " ".join(result.output.split())
    assert (busy / "thesis.txt").read_text() == "precious"
