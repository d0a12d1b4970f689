"""``trialtwin recist`` (issue 3 point 5): RECIST 1.1 responses from a JSON file, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.protocol import ResponseRules, dump_protocol, load_protocol

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "recist-example.json"


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_example_table(runner: CliRunner) -> None:
    """docs/examples/recist-example.json: confirmed PR, PD on 2021-08-16 (nadir rule), best change -54.7%."""
    result = runner.invoke(app, ["recist", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Best overall response: PR (first 2021-04-12, confirmed 2021-05-24)" in out
    assert "Progression date: 2021-08-16" in out
    assert "-54.7%" in out
    assert "NON-CR/NON-PD" in out and "+30.8%" in out


def test_example_json(runner: CliRunner) -> None:
    """--json gives the documented shape: timepoints (date, sum, percentages, responses), BOR, progression
    date and best percent change."""
    result = runner.invoke(app, ["recist", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["best_overall_response"] == "PR"
    assert data["progression_date"] == "2021-08-16"
    assert data["best_pct_change"] == -54.65
    assert data["rules"] == {
        "confirmation_required": True,
        "confirmation_min_days": 28,
        "sd_min_days": 35,
        "max_ne_between": 1,
    }
    first = data["timepoints"][0]
    assert first == {
        "date": "2021-04-12",
        "sum_mm": 58.0,
        "nadir_mm": 86.0,
        "pct_from_baseline": -32.56,
        "pct_from_nadir": -32.56,
        "target": "PR",
        "non_target": "NON-CR/NON-PD",
        "new_lesions": False,
        "overall": "PR",
    }
    assert [tp["overall"] for tp in data["timepoints"]] == ["PR", "PR", "PR", "PD"]


def test_stdin(runner: CliRunner) -> None:
    """FILE may be - for stdin."""
    result = runner.invoke(app, ["recist", "-", "--json"], input=EXAMPLE.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "<stdin>"


def test_study_rules_apply(runner: CliRunner, tmp_path: Path) -> None:
    """--study supplies response_rules (RECIST 1.1 §4.6: intervals "defined in the study protocol"): with a
    56-day confirmation interval the PR of 2021-04-12 is confirmed only on 2021-07-05."""
    protocol = load_protocol("ever-132-002")
    custom = protocol.model_copy(update={"response_rules": ResponseRules(confirmation_min_days=56)})
    path = tmp_path / "custom.yaml"
    path.write_text(dump_protocol(custom), encoding="utf-8")
    result = runner.invoke(app, ["recist", str(EXAMPLE), "--study", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rules"]["confirmation_min_days"] == 56
    assert (data["best_overall_response"], data["confirmation_date"]) == ("PR", "2021-07-05")


def test_help_teaches(runner: CliRunner) -> None:
    result = runner.invoke(app, ["recist", "--help"])
    assert result.exit_code == 0
    assert "RECIST 1.1" in result.stdout and "trialtwin recist docs/examples/recist-example.json" in result.stdout


def bad(change: str) -> str:
    """The example with one change, as JSON text."""
    data = example()
    follow_up = data["assessments"][1]
    if change == "unknown_id":
        follow_up["target"].append({"id": "X1", "organ": "lung", "nodal": False, "diameter_mm": 4})
    elif change == "negative":
        follow_up["target"][0]["diameter_mm"] = -3
    elif change == "out_of_order":
        data["assessments"][2]["date"] = "2021-04-01"
    elif change == "duplicate_date":
        data["assessments"][2]["date"] = follow_up["date"]
    elif change == "missing_target":
        del data["assessments"][2]["target"][0]
    elif change == "six_targets":
        data["assessments"][0]["target"] += [
            {"id": f"S{i}", "organ": f"organ{i}", "nodal": False, "diameter_mm": 20} for i in range(2)
        ]
    elif change == "three_in_liver":
        data["assessments"][0]["target"][2]["organ"] = "liver"
    elif change == "too_small_baseline":
        data["assessments"][0]["target"][1]["diameter_mm"] = 7
    elif change == "missing_field":
        del follow_up["date"]
    return json.dumps(data)


BAD = [
    pytest.param(bad("unknown_id"), "assessments[1].target[4](id=X1): unknown lesion id 'X1'", id="unknown_lesion_id"),
    pytest.param(
        bad("negative"), "diameter_mm: Input should be greater than or equal to 0 (got -3)", id="negative_size"
    ),
    pytest.param(
        bad("out_of_order"), "assessments[2].date: 2021-04-01 is not after the previous", id="dates_out_of_order"
    ),
    pytest.param(
        bad("duplicate_date"), "assessments[2].date: 2021-04-12 is not after the previous", id="duplicate_date"
    ),
    pytest.param(bad("missing_target"), "baseline target lesion 'T1' is missing", id="target_missing_at_follow_up"),
    pytest.param(bad("six_targets"), "6 target lesions; RECIST 1.1 allows at most 5", id="more_than_5_targets"),
    pytest.param(bad("three_in_liver"), "3 target lesions in organ 'liver'", id="more_than_2_per_organ"),
    pytest.param(bad("too_small_baseline"), "7 mm is below 10 mm: not measurable", id="target_too_small_to_measure"),
    pytest.param(bad("missing_field"), "assessments[1].date: Field required", id="missing_field"),
    pytest.param(
        '{"randomized": "2021-03-01",\n  "assessments": [}', "line 2, column 19: not valid JSON", id="malformed_json"
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_input_exits_2_with_the_field(runner: CliRunner, text: str, message: str) -> None:
    """Issue 3 point 5: bad input gives exit code 2 and one clear message naming the field, no traceback."""
    result = runner.invoke(app, ["recist", "-"], input=text)
    assert result.exit_code == 2, result.output
    assert "<stdin>: invalid RECIST input" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["recist", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json: invalid RECIST input" in result.stderr and "cannot read the file" in result.stderr


def test_unknown_study_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["recist", str(EXAMPLE), "--study", "no-such-study"])
    assert result.exit_code == 2
    assert "no-such-study" in result.stderr
