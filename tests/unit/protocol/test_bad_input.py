"""Bad protocol input: one clear message naming the file and the field path, exit code 2, nothing written.

Each row mutates the valid EVER-132-002 file in one way the foundation issue lists (malformed file, unknown unit,
negative or zero dose, dose outside its range, missing field, duplicate site id, undeclared stratum level, arm
referring to an unknown intervention) plus a few more the model guards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.protocol import ProtocolError, protocol_from_data
from trialtwin.protocol.io import study_path

BASE: dict[str, Any] = yaml.safe_load(study_path("ever-132-002").read_text(encoding="utf-8"))


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


CASES = [
    (
        "unknown_dose_unit",
        _set(["regimens", 0, "dose", "unit"], "mg/lb"),
        "regimens[0](id=sg).dose.unit",
        "mg/kg",
    ),
    (
        "negative_dose",
        _set(["regimens", 1, "dose", "amount"], -1.4),
        "regimens[1](id=eribulin).dose.amount",
        "greater than 0",
    ),
    (
        "zero_dose",
        _set(["regimens", 0, "dose", "amount"], 0),
        "regimens[0](id=sg).dose.amount",
        "greater than 0",
    ),
    (
        "dose_above_range",
        _set(["regimens", 2, "dose", "amount"], 1500),
        "regimens[2](id=capecitabine).dose",
        "outside its allowed range",
    ),
    (
        "dose_below_range",
        _set(["regimens", 3, "dose", "amount"], 500),
        "regimens[3](id=gemcitabine).dose",
        "outside its allowed range",
    ),
    ("missing_design", _delete(["design"]), "design", "Field required"),
    ("missing_nct_id", _delete(["identification", "nct_id"]), "identification.nct_id", "Field required"),
    ("malformed_nct_id", _set(["identification", "nct_id"], "NCT123"), "identification.nct_id", "pattern"),
    (
        "duplicate_site_id",
        _set(["sites", 5, "id"], "CN-001"),
        "sites[5](id=CN-001)",
        "duplicate site id 'CN-001'",
    ),
    (
        "undeclared_stratum_level",
        _set(["published_results", 3, "subgroup"], {"prior_lines": "5"}),
        "published_results[3](id=lines-2).subgroup.prior_lines",
        "stratum level '5' is not declared",
    ),
    (
        "undeclared_stratification_factor",
        _set(["randomization", "stratified_by"], ["prior_lines", "ecog"]),
        "randomization.stratified_by",
        "undeclared stratification factor 'ecog'",
    ),
    (
        "arm_unknown_intervention",
        _set(["arms", 0, "intervention_names"], ["Aspirin"]),
        "arms[0](id=sg).intervention_names",
        "unknown intervention 'Aspirin'",
    ),
    (
        "arm_unknown_regimen",
        _set(["arms", 1, "regimens"], ["eribulin", "paclitaxel"]),
        "arms[1](id=tpc).regimens",
        "unknown regimen 'paclitaxel'",
    ),
    (
        "rule_unknown_fact",
        _set(["eligibility", "criteria", 4, "rule", "fact"], "progressed"),
        "eligibility.criteria[4](id=I5).rule",
        "unknown fact 'progressed'",
    ),
    (
        "rule_wrong_unit",
        _set(["eligibility", "criteria", 1, "rule", "all", 0, "unit"], "years"),
        "eligibility.criteria[1](id=I2).rule",
        "does not match the unit",
    ),
    ("unknown_field", _set(["design", "blinding"], "none"), "design.blinding", "Extra inputs"),
    (
        "dosing_day_beyond_cycle",
        _set(["regimens", 0, "dosing_days"], [1, 8, 22]),
        "regimens[0](id=sg)",
        "beyond the 21-day cycle",
    ),
    (
        "ladder_not_decreasing",
        _set(["regimens", 0, "dose_levels", 1, "amount"], 12),
        "regimens[0](id=sg)",
        "must decrease",
    ),
    (
        "block_not_multiple_of_ratio",
        _set(["randomization", "block_sizes"], [3]),
        "randomization",
        "not multiples of the ratio total 2",
    ),
    ("assumption_without_reason", _delete(["randomization", "reason"]), "randomization", "needs a reason"),
    (
        "ratio_unknown_arm",
        _set(["randomization", "ratio"], {"sg": 1, "placebo": 1}),
        "randomization.ratio",
        "unknown arm 'placebo'",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_protocol_names_the_field(
    name: str, mutate: Callable[[dict[str, Any]], None], path: str, message: str
) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    with pytest.raises(ProtocolError) as info:
        protocol_from_data(doc, "bad.yaml")
    text = str(info.value)
    assert text.startswith("bad.yaml: invalid protocol")
    assert any(p == path and message in m for p, m in info.value.problems), text


@pytest.mark.parametrize(("name", "mutate", "path", "message"), CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_validate_cli_exits_2_with_file_and_field(
    tmp_path: Path,
    runner: CliRunner,
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    path: str,
    message: str,
) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.stderr and path in result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("arms: [unclosed\n", "line 2"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
        ("id: x\n\tbad: tab\n", "not valid YAML/JSON"),
    ],
    ids=["unclosed_flow", "not_a_mapping", "empty", "tab_indent"],
)
def test_malformed_file(tmp_path: Path, runner: CliRunner, content: str, expected: str) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 2
    assert "broken.yaml" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["protocol", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_unknown_study(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "show", "ever-999"])
    assert result.exit_code == 2
    assert "ever-999" in result.stderr and "built-in: ever-132-002, tropics-02" in result.stderr


def test_bad_import_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    """A failed import leaves no output file behind (nothing half-written)."""
    out = tmp_path / "out.yaml"
    bad = tmp_path / "study.json"
    bad.write_text('{"protocolSection": {"identificationModule": {"nctId": "NCT1"}}}', encoding="utf-8")
    result = runner.invoke(app, ["protocol", "import-ctgov", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "identification.nct_id" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_import_rejects_non_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "import-ctgov", "-"], input="{not json")
    assert result.exit_code == 2
    assert "<stdin>" in result.stderr and "not valid JSON" in result.stderr
