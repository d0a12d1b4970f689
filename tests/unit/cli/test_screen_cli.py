"""``trialtwin screen`` (issue 3, point 1): exit codes 0/1/2, JSON shape, table, schema, stdin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"
ELIGIBLE = EXAMPLES / "screening-eligible.json"
INELIGIBLE = EXAMPLES / "screening-ineligible.json"


def _eligible() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ELIGIBLE.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_eligible_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", str(ELIGIBLE)])
    assert result.exit_code == 0, result.output
    assert "ELIGIBLE: every criterion allows enrolment." in result.stdout
    assert "Strata: prior_lines=3-4, visceral=yes, prior_cdk46=yes" in result.stdout
    for column in ("criterion", "kind", "result", "reason", "criterion text"):
        assert column in result.stdout


def test_not_eligible_exits_1_and_names_the_criteria(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", str(INELIGIBLE)])
    assert result.exit_code == 1
    assert "NOT ELIGIBLE: excluded by I2, I7, E1." in " ".join(result.stdout.split())


def test_incomplete_exits_1_and_names_missing_facts(runner: CliRunner, tmp_path: Path) -> None:
    data = _eligible()
    del data["anc"]
    result = runner.invoke(app, ["screen", _write(tmp_path, data)])
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "INCOMPLETE: I7 cannot be decided yet; give anc (Absolute neutrophil count)." in text


def test_json_shape_exactly(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", str(INELIGIBLE), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert list(data) == ["eligible", "status", "criteria", "strata"]
    assert data["eligible"] is False and data["status"] == "not_eligible"
    assert len(data["criteria"]) == 16
    for c in data["criteria"]:
        assert list(c) == ["id", "kind", "result", "reason"]
        assert c["kind"] in ("inclusion", "exclusion") and c["result"] in ("met", "not_met", "unknown")
    i7 = next(c for c in data["criteria"] if c["id"] == "I7")
    assert (
        i7["reason"] == "Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L; Platelet count 92×10⁹/L below 100×10⁹/L"
    )
    assert data["strata"] == {"prior_lines": "3-4", "visceral": "no", "prior_cdk46": "no"}


def test_json_eligible(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", str(ELIGIBLE), "--json", "--study", "ever-132-002"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["eligible"] is True and data["status"] == "eligible"


def test_stdin(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", "-", "--json"], input=json.dumps({"age": 17}))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "not_eligible"
    assert data["criteria"][0] == {
        "id": "AGE-MIN",
        "kind": "inclusion",
        "result": "not_met",
        "reason": "Age 17 years below 18 years",
    }
    assert data["strata"] == {"prior_lines": None, "visceral": None, "prior_cdk46": None}


BAD_INPUT: list[tuple[str, Any, str]] = [
    ("unknown-fact", {"neutrophils": 1.2}, "neutrophils: unknown fact 'neutrophils'"),
    ("wrong-type", {"anc": "low"}, "anc: expected a number in 10^9/L, got 'low'"),
    ("undeclared-level", {"sex": "unknown"}, "sex: level 'unknown' is not declared (levels: female, male)"),
    ("out-of-range", {"age": 130}, "age: 130 years is above the maximum 120 years"),
    ("not-a-mapping", [1, 2], "a facts document is a mapping of fact name to value, got list"),
]


@pytest.mark.parametrize(("row", "data", "message"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT])
def test_bad_facts_exit_2_naming_the_field(
    runner: CliRunner, tmp_path: Path, row: str, data: Any, message: str
) -> None:
    path = _write(tmp_path, data)
    result = runner.invoke(app, ["screen", path])
    assert result.exit_code == 2
    assert message in result.stderr
    assert path in result.stderr
    assert "Traceback" not in result.output


def test_bad_json_exits_2_with_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", "-"], input='{"age": 52,\n "sex": }')
    assert result.exit_code == 2
    assert "<stdin>" in result.stderr and "line 2, column 9: not valid JSON" in result.stderr


def test_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["screen", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json: cannot read the file" in result.stderr


def test_no_facts_file_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen"])
    assert result.exit_code == 2
    assert "give a facts file" in result.stderr


def test_unknown_study_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", str(ELIGIBLE), "--study", "no-such-study"])
    assert result.exit_code == 2
    assert "no-such-study" in result.stderr


def test_schema_prints_the_facts_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", "--schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["anc"]["x-unit"] == "10^9/L"
    jsonschema.validate(_eligible(), schema, cls=jsonschema.Draft202012Validator)


def test_schema_for_another_study(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", "--schema", "--study", "tropics-02"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "prior_topoisomerase1_inhibitor" in schema["properties"]
    assert "NCT03901339" in schema["title"]


def test_help_teaches(runner: CliRunner) -> None:
    result = runner.invoke(app, ["screen", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for snippet in ("Exit code: 0 eligible, 1 not eligible or incomplete, 2 bad input", "--schema", "Example:"):
        assert snippet in text
