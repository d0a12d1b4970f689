"""``trialtwin stats tte``: JSON/table output on a two-arm CSV; exit 2 with file/column named on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from lifelines.datasets import load_lung
from typer.testing import CliRunner

from trialtwin.analysis import cox_ph, logrank_test
from trialtwin.cli.main import app


@pytest.fixture
def lung_csv(tmp_path: Path) -> Path:
    df = load_lung()
    df["arm"] = df["sex"].map({1: "male", 2: "female"})
    path = tmp_path / "lung.csv"
    df.to_csv(path, index=False)
    return path


def _run(runner: CliRunner, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["stats", "tte", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_json_matches_r_lung_results(runner: CliRunner, lung_csv: Path) -> None:
    """R on lung: coxph HR(sex=2 vs 1) = exp(−0.531) = 0.588; survdiff chi-square 10.3; log-log medians
    270 (210, 306) and 426 (345, 524) days (survfit(conf.type = "log-log"))."""
    data = _run(runner, str(lung_csv), "--time", "time", "--event", "status", "--arm", "arm", "--reference", "male")
    assert data["n"] == 228 and data["events"] == 165
    assert (data["reference"], data["treatment"]) == ("male", "female")
    assert round(data["hr"], 3) == 0.588  # type: ignore[call-overload]
    assert round(data["logrank_chisq"], 1) == 10.3  # type: ignore[call-overload]
    assert data["median"] == {
        "male": {"n": 138, "events": 112, "estimate": 270.0, "ci": [210.0, 306.0]},
        "female": {"n": 90, "events": 53, "estimate": 426.0, "ci": [345.0, 524.0]},
    }
    lo, hi = data["hr_ci"]  # type: ignore[misc]
    assert lo < data["hr"] < hi  # type: ignore[operator]


def test_default_reference_is_first_sorted_level(runner: CliRunner, lung_csv: Path) -> None:
    """Without --reference the HR is of the second sorted level ("male") versus the first ("female")."""
    data = _run(runner, str(lung_csv), "--time", "time", "--event", "status", "--arm", "arm")
    assert (data["reference"], data["treatment"]) == ("female", "male")
    flipped = _run(runner, str(lung_csv), "--time", "time", "--event", "status", "--arm", "arm", "--reference", "male")
    assert data["hr"] == pytest.approx(1 / flipped["hr"], rel=1e-9)  # type: ignore[operator]


def test_numeric_arms_sort_numerically(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "num.csv"
    pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 1, 0, 1], "a": [9, 10, 9, 10, 9, 10]}).to_csv(
        path, index=False
    )
    data = _run(runner, str(path), "--time", "t", "--event", "e", "--arm", "a")
    assert (data["reference"], data["treatment"]) == ("9", "10")


def test_strata_and_ties_are_applied(runner: CliRunner, lung_csv: Path) -> None:
    """--strata stratifies both the log-rank test and Cox; --ties breslow switches the Cox tie handling."""
    df = load_lung().dropna(subset=["ph.ecog"])
    path = lung_csv.with_name("ecog.csv")
    df.to_csv(path, index=False)
    data = _run(
        runner,
        str(path),
        "--time",
        "time",
        "--event",
        "status",
        "--arm",
        "sex",
        "--strata",
        "ph.ecog",
        "--ties",
        "breslow",
    )
    strata = df["ph.ecog"].astype(int).astype(str)
    lr = logrank_test(df["time"], df["status"], df["sex"], strata)
    fit = cox_ph(df["time"], df["status"], (df["sex"] == 2).astype(float), strata, ties="breslow")
    assert data["logrank_chisq"] == pytest.approx(lr.chisq, rel=1e-12)
    assert data["hr"] == pytest.approx(float(fit.hr[0]), rel=1e-12)
    assert data["strata"] == ["ph.ecog"] and data["ties"] == "breslow"


def test_median_not_reached_is_null(runner: CliRunner, tmp_path: Path) -> None:
    """NaN (median not reached, CI limit undefined) is written as JSON null."""
    path = tmp_path / "few.csv"
    pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 0, 0, 1, 1, 1], "a": ["x", "x", "x", "y", "y", "y"]}).to_csv(
        path, index=False
    )
    data = _run(runner, str(path), "--time", "t", "--event", "e", "--arm", "a")
    assert data["median"]["x"]["estimate"] is None  # type: ignore[index]
    assert None in data["median"]["x"]["ci"]  # type: ignore[index]


def test_tables_without_json(runner: CliRunner, lung_csv: Path) -> None:
    result = runner.invoke(app, ["stats", "tte", str(lung_csv), "--time", "time", "--event", "status", "--arm", "arm"])
    assert result.exit_code == 0, result.output
    assert "Hazard ratio (Cox, efron)" in result.stdout
    assert "Log-rank chi-square (1 df)" in result.stdout
    assert "female (reference)" in result.stdout
    assert "Greenwood" in result.stdout and "Brookmeyer" in result.stdout


def test_help_teaches(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats", "tte", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout and "--reference" in result.stdout


GOOD = "t,e,a,s\n1,1,A,x\n2,0,B,y\n3,1,A,x\n4,1,B,y\n"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        pytest.param(
            GOOD, ["--time", "T"], "column 'T' (--time) not found; columns are: t, e, a, s", id="missing column"
        ),
        pytest.param(
            GOOD.replace("3,1,A", "x3,1,A"),
            [],
            "column 't' must be numeric; data row 3 has 'x3'",
            id="non-numeric time",
        ),
        pytest.param(
            GOOD.replace("2,0,B", "-2,0,B"), [], "column 't' has a negative time in data row 2: -2", id="negative time"
        ),
        pytest.param(
            GOOD.replace("4,1,B", "4,2,B"),
            [],
            "column 'e' must be 0 (censored) or 1 (event); data row 4 has 2",
            id="event not 0/1",
        ),
        pytest.param(GOOD.replace(",B,", ",A,"), [], "column 'a' has only one arm ('A')", id="one arm"),
        pytest.param(GOOD + "5,1,C,x\n", [], "column 'a' has 3 arms (A, B, C)", id="three arms"),
        pytest.param(
            GOOD.replace("3,1,A", "3,,A"), [], "column 'e' has a missing value in data row 3", id="missing event"
        ),
        pytest.param("", [], "file is empty", id="empty file"),
        pytest.param("t,e,a\n", [], "no data rows", id="header only"),
        pytest.param('t,e,a\n1,1,"A\n', [], "cannot read as CSV", id="unreadable CSV"),
        pytest.param(
            GOOD, ["--reference", "Z"], "--reference 'Z' is not an arm in column 'a' (A, B)", id="bad reference"
        ),
        pytest.param(GOOD, ["--strata", "s,zz"], "column 'zz' (--strata) not found", id="missing stratum column"),
    ],
)
def test_bad_input_exits_2_naming_file_and_column(
    runner: CliRunner, tmp_path: Path, content: str, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    base = {"--time": "t", "--event": "e", "--arm": "a"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["stats", "tte", str(path), *[v for kv in base.items() for v in kv]]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    if "--reference" not in args:
        assert str(path.name) in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_and_directory_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    for target, message in ((tmp_path / "nope.csv", "file not found"), (tmp_path, "is a directory")):
        result = runner.invoke(app, ["stats", "tte", str(target), "--time", "t", "--event", "e", "--arm", "a"])
        assert result.exit_code == 2
        assert message in result.stderr
