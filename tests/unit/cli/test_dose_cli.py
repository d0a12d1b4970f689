"""``trialtwin dose`` (issue 3, point 4): decisions with amounts in mg, JSON shape, and exit code 2 with a clear
message for every kind of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"
LABS = str(EXAMPLES / "labs-example.json")
HISTORY = str(EXAMPLES / "history-example.json")
PATIENT = ["--weight", "70", "--height", "170"]


def _args(*extra: str, arm: str = "sg", drug: str = "sg", cycle: int = 2, day: int = 1, labs: str = LABS) -> list[str]:
    return [
        "dose", "ever-132-002", "--arm", arm, "--drug", drug, *PATIENT,
        "--cycle", str(cycle), "--day", str(day), "--labs", labs, *extra,
    ]  # fmt: skip


def _write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_example_reduces_after_febrile_neutropenia(runner: CliRunner) -> None:
    """The documented example: febrile neutropenia in cycle 1 → 7.5 mg/kg × 70 kg = 525 mg on C2D1
    (Trodelvy US PI Table 2), BSA 1.82 m² (Mosteller)."""
    result = runner.invoke(app, _args("--history", HISTORY))
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "REDUCE" in out
    assert "0 → -1" in out
    assert "7.5 mg/kg" in out
    assert "525 mg per administration" in out
    assert "BSA 1.82 m2 (mosteller)" in out
    assert "[SG-FN-REDUCE]" in out
    assert "Trodelvy US PI" in out


def test_json_shape(runner: CliRunner) -> None:
    """--json: the decision (DoseDecision.to_data), BSA and the amounts in mg."""
    result = runner.invoke(app, _args("--history", HISTORY, "--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == [
        "study", "arm", "regimen", "weight_kg", "height_cm", "bsa_m2", "bsa_method", "bsa_cap", "decision",
        "amount", "resume_amount",
    ]  # fmt: skip
    assert data["bsa_m2"] == pytest.approx(math.sqrt(70 * 170 / 3600), abs=1e-4)
    assert data["decision"]["action"] == "reduce" and data["decision"]["level"] == -1
    assert data["decision"]["findings"][0]["rule"] == "SG-FN-REDUCE"
    assert data["amount"]["per_administration_mg"] == 525.0
    assert data["amount"]["per_day_mg"] == 525.0
    assert data["resume_amount"] is None


def test_capecitabine_twice_daily_tablets(runner: CliRunner) -> None:
    """Capecitabine 1250 mg/m² BID, BSA 1.8181 m²: 2250 mg per administration (3 × 500 + 5 × 150 mg), 4500 mg/day;
    arm by label and drug by name."""
    arm = "Treatment of Physician's Choice (TPC)"
    result = runner.invoke(app, _args("--json", arm=arm, drug="Capecitabine", cycle=1, day=1))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["action"] == "give"
    assert data["amount"]["per_administration_mg"] == 2250.0
    assert data["amount"]["times_per_day"] == 2
    assert data["amount"]["per_day_mg"] == 4500.0
    assert data["amount"]["tablets"] == [{"strength_mg": 500, "count": 3}, {"strength_mg": 150, "count": 5}]
    table = runner.invoke(app, _args(arm="tpc", drug="capecitabine", cycle=1, day=1))
    assert "2250 mg per administration x 2 a day = 4500 mg per day [3 x 500 mg + 5 x 150 mg]" in _flat(table.stdout)


def test_hold_shows_the_resume_dose(tmp_path: Path, runner: CliRunner) -> None:
    """ANC 1.2 on Day 1 with febrile neutropenia behind: hold, resume at 7.5 mg/kg = 525 mg (Trodelvy PI)."""
    labs = _write(tmp_path, "labs.json", {"anc": {"value": 1200, "unit": "/uL"}})
    result = runner.invoke(app, _args("--history", HISTORY, labs=labs))
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "HOLD" in out and "nothing given today" in out
    assert "level -1: 7.5 mg/kg = 525 mg per administration" in out
    assert "[SG-ANC-D1]" in out
    data = json.loads(runner.invoke(app, _args("--history", HISTORY, "--json", labs=labs)).stdout)
    assert data["amount"] is None
    assert data["resume_amount"]["per_administration_mg"] == 525.0


def test_same_day_percent_and_bsa_cap(tmp_path: Path, runner: CliRunner) -> None:
    """Gemcitabine Day 8, ANC 0.8: 50 % (Gemzar breast table); BSA capped at 2.0 m² → 1000 mg."""
    labs = _write(tmp_path, "labs.json", {"anc": 0.8, "platelets": 150})
    args = [
        "dose", "ever-132-002", "--arm", "tpc", "--drug", "gemcitabine", "--weight", "100", "--height", "190",
        "--cycle", "1", "--day", "8", "--labs", labs, "--bsa-cap", "2.0", "--json",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["percent"] == 50.0
    assert data["amount"]["per_administration_mg"] == 1000.0


def test_labs_from_stdin(runner: CliRunner) -> None:
    """--labs - reads the labs JSON from stdin."""
    result = runner.invoke(app, _args("--json", labs="-"), input='{"anc": 0.9}')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"]["action"] == "hold"


def test_level_option_never_re_escalates(runner: CliRunner) -> None:
    """--level -2: the last dose was 5 mg/kg; with nothing new the dose stays 5 mg/kg = 350 mg."""
    result = runner.invoke(app, _args("--level", "-2", "--json"))
    data = json.loads(result.stdout)
    assert data["decision"]["level"] == -2
    assert data["amount"]["per_administration_mg"] == 350.0


def test_help_teaches(runner: CliRunner) -> None:
    """--help says what the command does and shows an example."""
    result = runner.invoke(app, ["dose", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    out = _flat(result.stdout)
    assert "Decide one dose" in out
    assert "Example: trialtwin dose ever-132-002 --arm sg --drug sg" in out


BAD_INPUT = [
    pytest.param({"arm": "placebo"}, None, "no arm 'placebo'", id="unknown-arm"),
    pytest.param({"drug": "paclitaxel"}, None, "no regimen 'paclitaxel'", id="unknown-drug"),
    pytest.param({"arm": "tpc", "drug": "sg"}, None, "regimen 'sg' (sacituzumab govitecan) is not given in arm 'tpc'",
                 id="drug-not-in-arm"),
    pytest.param({"weight": "-70"}, None, "weight_kg must be above 0", id="negative-weight"),
    pytest.param({"height": "1.7"}, None, "height_cm must be above 30", id="height-in-metres"),
    pytest.param({}, '{"anc": 1.2,', "not valid JSON (labs): line 1", id="malformed-labs-json"),
    pytest.param({}, '{"neutrophils": 1.2}', "unknown lab 'neutrophils'", id="unknown-lab-name"),
    pytest.param({}, '{"platelets": 150}', "labs.anc (10^9/L) is needed", id="missing-anc"),
    pytest.param({"day": "3"}, None, "day 3 is not a dosing day of regimen 'sg'", id="not-a-dosing-day"),
    pytest.param({"level": "-3"}, None, "current level -3 is not a level", id="bad-level"),
    pytest.param({"labs_path": "no/such/labs.json"}, None, "cannot read the labs file", id="missing-labs-file"),
    pytest.param({"history": '[{"term": "Nausea", "grade": 9, "cycle": 1, "day": 1}]'}, None, "grade must be 1-5",
                 id="bad-history-grade"),
    pytest.param({"history": "[oops"}, None, "not valid JSON (history)", id="malformed-history-json"),
    pytest.param({"bsa_method": "haycock"}, None, "unknown BSA method 'haycock'", id="unknown-bsa-method"),
    pytest.param({"study": "no-such-study"}, None, "no built-in study or file", id="unknown-study"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "labs_text", "message"), BAD_INPUT)
def test_bad_input_exits_2(
    tmp_path: Path, runner: CliRunner, options: dict[str, str], labs_text: str | None, message: str
) -> None:
    """Every kind of bad input exits 2 with one clear message on stderr, never a traceback."""
    labs = options.get("labs_path") or _write(tmp_path, "labs.json", labs_text or '{"anc": 2.0}')
    args = [
        "dose", options.get("study", "ever-132-002"), "--arm", options.get("arm", "sg"),
        "--drug", options.get("drug", "sg"), "--weight", options.get("weight", "70"),
        "--height", options.get("height", "170"), "--cycle", "1", "--day", options.get("day", "1"),
        "--labs", labs, "--level", options.get("level", "0"), "--bsa-method", options.get("bsa_method", "mosteller"),
    ]  # fmt: skip
    if "history" in options:
        args += ["--history", _write(tmp_path, "history.json", options["history"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in _flat(result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""
