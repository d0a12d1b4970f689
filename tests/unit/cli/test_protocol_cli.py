"""The protocol commands of the CLI (issue 2, points 4-5)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.protocol import load_protocol


def test_list(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["ever-132-002", "tropics-02"]
    assert rows[0]["sites"] == 43 and rows[1]["enrollment"] == 543


def test_show_ever(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "show", "ever-132-002"])
    assert result.exit_code == 0
    for text in (
        "NCT04639986",
        "eribulin",
        "Eligibility",
        "Stratification",
        "Tumour assessments",
        "China",
        "Taiwan",
    ):
        assert text in result.stdout, text


def test_show_tropics(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "show", "tropics-02"])
    assert result.exit_code == 0
    assert "NCT03901339" in result.stdout and "site list not public" in result.stdout


def test_show_json_is_the_protocol(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "show", "ever-132-002", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["identification"]["nct_id"] == "NCT04639986"


def test_validate_builtin_file(runner: CliRunner) -> None:
    from trialtwin.protocol.io import study_path

    result = runner.invoke(app, ["protocol", "validate", str(study_path("tropics-02"))])
    assert result.exit_code == 0
    assert "valid" in result.stdout and "NCT03901339" in result.stdout


def test_schema_validates_the_builtin_studies(runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    from trialtwin.protocol.io import study_path

    for study in ("ever-132-002", "tropics-02"):
        doc = json.loads(json.dumps(yaml.safe_load(study_path(study).read_text()), default=str))
        jsonschema.validate(doc, schema)


def test_export_import_round_trip_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    exported = runner.invoke(app, ["protocol", "export-ctgov", "ever-132-002"])
    assert exported.exit_code == 0
    assert json.loads(exported.stdout)["protocolSection"]["identificationModule"]["nctId"] == "NCT04639986"
    out = tmp_path / "ever.yaml"
    imported = runner.invoke(app, ["protocol", "import-ctgov", "-", "--out", str(out)], input=exported.stdout)
    assert imported.exit_code == 0, imported.stderr
    assert load_protocol(str(out)) == load_protocol("ever-132-002")


def test_schedule_json_matches_the_issue(runner: CliRunner) -> None:
    """Issue 2 'done when': doses on days 1, 8, 22, 29, 43, 50, 64, 71 and scans every 6 weeks."""
    result = runner.invoke(
        app,
        [
            "schedule",
            "ever-132-002",
            "--arm",
            "Sacituzumab Govitecan-hziy",
            "--start",
            "2021-03-01",
            "--weeks",
            "12",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["day"] for d in data["doses"]] == [1, 8, 22, 29, 43, 50, 64, 71]
    scans = [s for s in data["scans"] if not s["baseline"]]
    assert [s["week"] for s in scans] == [6, 12]
    assert [s["date"] for s in scans] == ["2021-04-12", "2021-05-24"]
    assert scans[0]["window"] == ["2021-04-05", "2021-04-19"]


def test_schedule_table(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "schedule",
            "ever-132-002",
            "--arm",
            "tpc",
            "--drug",
            "eribulin",
            "--start",
            "2021-03-01",
            "--weeks",
            "6",
        ],
    )
    assert result.exit_code == 0
    assert "C1D8 eribulin 1.4 mg/m2" in result.stdout and "week 6 tumour assessment" in result.stdout


def test_schedule_bad_date(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schedule", "ever-132-002", "--arm", "sg", "--start", "March 1st"])
    assert result.exit_code == 2
    assert "--start 'March 1st' is not a date" in result.stderr


def test_schedule_tpc_without_drug(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schedule", "ever-132-002", "--arm", "tpc", "--start", "2021-03-01"])
    assert result.exit_code == 2
    assert "choose a regimen (eribulin, capecitabine, gemcitabine, vinorelbine)" in result.stderr
