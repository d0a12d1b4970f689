"""``trialtwin randomization list|simulate`` (issue 3, point 2): exit codes 0/2, tables, JSON, SHA-256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.protocol import Protocol, dump_protocol


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---- list ---------------------------------------------------------------------------------------------------


def test_list_table_shows_every_stratum_and_the_digest(runner: CliRunner) -> None:
    result = runner.invoke(app, ["randomization", "list", "ever-132-002", "--seed", "2020", "--n", "12"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "SHA-256: 53da61e41f339d85b0cb391ed726f105c445170fd1de620eb79a8ec6f7eea341" in text
    assert "prior_lines / visceral / prior_cdk46" in text
    for cell in ("2 / yes / yes", "2 / no / no", "3-4 / yes / no", "3-4 / no / no"):
        assert cell in text


def test_list_json_has_n_entries_per_stratum_and_a_checkable_digest(runner: CliRunner) -> None:
    result = runner.invoke(app, ["randomization", "list", "ever-132-002", "--seed", "7", "--n", "9", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 7 and data["n_per_stratum"] == 9 and data["block_sizes"] == [2, 4]
    assert len(data["strata"]) == 8
    assert all(len(s["entries"]) == 9 for s in data["strata"])
    assert set(data["strata"][0]["entries"][0]) == {"sequence", "arm", "block", "block_size", "block_position"}
    content = {k: v for k, v in data.items() if k not in ("seed", "sha256")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert hashlib.sha256(canonical.encode()).hexdigest() == data["sha256"]


def test_list_same_seed_same_digest_other_seed_other_digest(runner: CliRunner) -> None:
    def digest(seed: str) -> str:
        out = runner.invoke(app, ["randomization", "list", "ever-132-002", "--seed", seed, "--n", "6", "--json"])
        assert out.exit_code == 0
        value: str = json.loads(out.stdout)["sha256"]
        return value

    assert digest("1") == digest("1") != digest("2")


def test_list_of_a_minimization_protocol_is_refused(runner: CliRunner, ever: Protocol, tmp_path: Path) -> None:
    assert ever.randomization is not None
    spec = ever.randomization.model_copy(update={"method": "minimization"})
    path = tmp_path / "mini.yaml"
    path.write_text(dump_protocol(ever.model_copy(update={"randomization": spec})), encoding="utf-8")
    result = runner.invoke(app, ["randomization", "list", str(path), "--seed", "1", "--n", "4"])
    assert result.exit_code == 2
    assert "no list can be pre-generated" in _flat(result.stderr)
    simulated = runner.invoke(app, ["randomization", "simulate", str(path), "--seed", "1", "--n", "40", "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.stdout)["method"] == "minimization"


# ---- simulate -----------------------------------------------------------------------------------------------


def test_simulate_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["randomization", "simulate", "ever-132-002", "--seed", "1", "--n", "331"])
    assert result.exit_code == 0, result.output
    text = _flat(result.stdout)
    assert "ever-132-002: 331 subjects, permuted_block, arms sg/tpc 1:1, seed 1" in text
    assert "Balance overall and per stratum" in text and "Marginal balance per factor level" in text
    assert "│ all subjects │ 331 │" in text
    assert "visceral = yes" in text
    assert "Predictability (convergence guess within the stratum):" in text


@pytest.mark.parametrize("method", ["permuted_block", "minimization"])
def test_simulate_json(runner: CliRunner, method: str) -> None:
    args = ["randomization", "simulate", "ever-132-002", "--seed", "3", "--n", "100", "--method", method, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 3 and data["n"] == 100 and data["method"] == method
    assert sum(data["overall"]["counts"].values()) == 100
    assert len(data["strata"]) == 8 and len(data["margins"]) == 6
    assert 0.0 <= data["predictability"]["share"] <= 1.0
    assert data == json.loads(runner.invoke(app, args).stdout)


def test_simulate_defaults_to_the_enrollment_count(runner: CliRunner) -> None:
    """ever-132-002.yaml enrollment.count: 331 (NATMED: 331 randomized)."""
    result = runner.invoke(app, ["randomization", "simulate", "ever-132-002", "--seed", "0", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["n"] == 331


# ---- bad input → exit 2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "no-such-study", "--seed", "1", "--n", "3"], "no-such-study"),
        (["simulate", "no-such-study", "--seed", "1"], "no-such-study"),
        (["list", "ever-132-002", "--seed", "1", "--n", "0"], "--n"),
        (["list", "ever-132-002", "--seed", "1", "--n", "abc"], "--n"),
        (["list", "ever-132-002", "--seed", "1"], "--n"),
        (["simulate", "ever-132-002", "--seed", "1", "--n", "-5"], "--n"),
        (["simulate", "ever-132-002", "--seed", "1", "--method", "urn"], "--method"),
        (["simulate", "ever-132-002", "--n", "10"], "--seed"),
        (["list", "ever-132-002", "--seed", "-1", "--n", "3"], "--seed"),
    ],
    ids=[
        "list-unknown-study",
        "simulate-unknown-study",
        "n-zero",
        "n-not-a-number",
        "n-missing",
        "n-negative",
        "unknown-method",
        "seed-missing",
        "seed-negative",
    ],
)
def test_bad_input_exits_2_with_a_message(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["randomization", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_help_teaches_with_examples(runner: CliRunner) -> None:
    for command in ("list", "simulate"):
        result = runner.invoke(app, ["randomization", command, "--help"])
        assert result.exit_code == 0
        assert f"trialtwin randomization {command} ever-132-002 --seed" in _flat(result.stdout)
