"""``trialtwin stats``: statistics on your own analysis files (CSV), to the same standard as the trial report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from trialtwin.analysis import AnalysisInputError, Ties, cox_ph, kaplan_meier, logrank_test
from trialtwin.cli.console import console, print_json
from trialtwin.protocol.errors import TrialtwinError


class StatsInputError(TrialtwinError):
    """A CSV given to ``trialtwin stats`` cannot be analysed; the message names the file and column."""


app = typer.Typer(
    help=(
        "Statistics on analysis files: Kaplan–Meier medians, (stratified) log-rank test and Cox hazard ratio.\n\n"
        "Example: [bold]trialtwin stats tte adtte.csv --time AVAL --event EVENT --arm TRT01P --strata STRAT1[/]"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _number(value: Any) -> float | None:
    """JSON-safe float: NaN and ±inf become null."""
    out = float(value)
    return out if math.isfinite(out) else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except FileNotFoundError:
        raise StatsInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise StatsInputError(f"{path}: is a directory, not a CSV file") from None
    except pd.errors.EmptyDataError:
        raise StatsInputError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, PermissionError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StatsInputError(f"{path}: cannot read as CSV ({reason})") from None
    if frame.empty:
        raise StatsInputError(f"{path}: no data rows (only a header)")
    return frame


def _column(frame: pd.DataFrame, path: Path, name: str, option: str) -> pd.Series:
    if name not in frame.columns:
        listed = ", ".join(str(c) for c in frame.columns)
        raise StatsInputError(f"{path}: column {name!r} ({option}) not found; columns are: {listed}")
    col = frame[name]
    missing = col.isna() | (col.str.strip() == "")
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0]) + 1
        raise StatsInputError(f"{path}: column {name!r} has a missing value in data row {row}")
    return col.str.strip()


def _numeric(col: pd.Series, path: Path, name: str) -> np.ndarray:
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise StatsInputError(f"{path}: column {name!r} must be numeric; data row {row + 1} has {col.iloc[row]!r}")
    return values.to_numpy(dtype=np.float64)


def _sorted_levels(values: pd.Series) -> list[str]:
    levels = sorted(set(values.tolist()))
    try:
        return sorted(levels, key=float)
    except ValueError:
        return levels


def _tte(
    path: Path, time_col: str, event_col: str, arm_col: str, strata_cols: list[str], reference: str | None, ties: Ties
) -> dict[str, Any]:
    frame = _read_csv(path)
    time = _numeric(_column(frame, path, time_col, "--time"), path, time_col)
    negative = np.flatnonzero(time < 0)
    if negative.size:
        row = int(negative[0])
        raise StatsInputError(f"{path}: column {time_col!r} has a negative time in data row {row + 1}: {time[row]:g}")
    event = _numeric(_column(frame, path, event_col, "--event"), path, event_col)
    not_binary = np.flatnonzero((event != 0) & (event != 1))
    if not_binary.size:
        row = int(not_binary[0])
        raise StatsInputError(
            f"{path}: column {event_col!r} must be 0 (censored) or 1 (event); data row {row + 1} has {event[row]:g}"
        )
    arm = _column(frame, path, arm_col, "--arm")
    levels = _sorted_levels(arm)
    if len(levels) < 2:
        raise StatsInputError(f"{path}: column {arm_col!r} has only one arm ({levels[0]!r}); two are needed")
    if len(levels) > 2:
        raise StatsInputError(
            f"{path}: column {arm_col!r} has {len(levels)} arms ({', '.join(levels)}); `stats tte` compares two"
        )
    if reference is not None and reference not in levels:
        raise StatsInputError(f"--reference {reference!r} is not an arm in column {arm_col!r} ({', '.join(levels)})")
    ref = reference if reference is not None else levels[0]
    treatment = levels[1] if ref == levels[0] else levels[0]
    strata = (
        pd.DataFrame({c: _column(frame, path, c, "--strata").to_numpy() for c in strata_cols}) if strata_cols else None
    )
    try:
        km = kaplan_meier(time, event, arm.to_numpy())
        lr = logrank_test(time, event, arm.to_numpy(), strata)
        indicator = (arm == treatment).to_numpy(dtype=np.float64)
        cox = cox_ph(time, event, {f"{arm_col}={treatment}": indicator}, strata, ties=ties)
    except AnalysisInputError as exc:
        raise StatsInputError(f"{path}: {exc}") from None
    medians: dict[str, Any] = {}
    for level in (ref, treatment):
        curve = km.curve(level)
        est, lo, hi = curve.quantile(0.5)
        medians[level] = {
            "n": curve.n,
            "events": curve.events,
            "estimate": _number(est),
            "ci": [_number(lo), _number(hi)],
        }
    return {
        "file": str(path),
        "n": int(time.shape[0]),
        "events": int(event.sum()),
        "reference": ref,
        "treatment": treatment,
        "strata": strata_cols,
        "ties": ties.value,
        "hr": _number(cox.hr[0]),
        "hr_ci": [_number(cox.hr_lower[0]), _number(cox.hr_upper[0])],
        "hr_p": _number(cox.p_value[0]),
        "cox_converged": cox.converged,
        "logrank_chisq": _number(lr.chisq),
        "logrank_df": lr.df,
        "logrank_p": _number(lr.p_value),
        "median": medians,
        "footnotes": [km.footnote, lr.footnote, cox.footnote],
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    return "NE" if value is None else f"{value:.{digits}f}"


def _fmt_p(value: float | None) -> str:
    if value is None:
        return "NE"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _print_tables(result: dict[str, Any]) -> None:
    arms = Table(title=f"Time to event — {result['file']}", title_justify="left")
    for name in ("Arm", "N", "Events", "Median", "95% CI"):
        arms.add_column(name, justify="left" if name == "Arm" else "right")
    for level, m in result["median"].items():
        lo, hi = m["ci"]
        role = " (reference)" if level == result["reference"] else ""
        arms.add_row(f"{level}{role}", str(m["n"]), str(m["events"]), _fmt(m["estimate"]), f"{_fmt(lo)}, {_fmt(hi)}")
    console.print(arms)
    strat = ", ".join(result["strata"]) if result["strata"] else "none"
    tests = Table(title=f"{result['treatment']} vs {result['reference']} (strata: {strat})", title_justify="left")
    for name in ("Statistic", "Estimate", "95% CI", "p"):
        tests.add_column(name, justify="left" if name == "Statistic" else "right")
    lo, hi = result["hr_ci"]
    tests.add_row(
        f"Hazard ratio (Cox, {result['ties']})",
        _fmt(result["hr"], 3),
        f"{_fmt(lo, 3)}, {_fmt(hi, 3)}",
        _fmt_p(result["hr_p"]),
    )
    tests.add_row(
        f"Log-rank chi-square ({result['logrank_df']} df)",
        _fmt(result["logrank_chisq"], 3),
        "",
        _fmt_p(result["logrank_p"]),
    )
    console.print(tests)
    for note in result["footnotes"]:
        console.print(f"[dim]{note}[/]", soft_wrap=True)


_TTE_HELP = (
    "Kaplan–Meier medians per arm, log-rank test and Cox hazard ratio of a two-arm time-to-event CSV "
    "(one row per subject).\n\n"
    "The hazard ratio is of the second arm in sorted order versus the first, unless [bold]--reference[/] names "
    "the comparator. With [bold]--strata[/] the log-rank test and the Cox model are stratified (separate "
    "baseline hazards per stratum). Medians carry Brookmeyer–Crowley 95% CIs (log-log transform), the hazard "
    "ratio a Wald 95% CI. Bad input (missing column, non-numeric or negative time, event not 0/1, one arm only) "
    "stops with a message naming the file and column, exit code 2.\n\n"
    "Example: [bold]trialtwin stats tte os.csv --time days --event died --arm arm --strata region "
    "--reference TPC --json[/]"
)


@app.command("tte", help=_TTE_HELP)
def tte_command(
    file: Annotated[Path, typer.Argument(help="CSV file, one row per subject.", show_default=False)],
    time: Annotated[str, typer.Option("--time", help="Column with the follow-up time (≥ 0, any unit).")],
    event: Annotated[str, typer.Option("--event", help="Column with the event indicator: 1 = event, 0 = censored.")],
    arm: Annotated[str, typer.Option("--arm", help="Column with the treatment arm (exactly two levels).")],
    strata: Annotated[
        str | None,
        typer.Option("--strata", help="Comma-separated stratification columns (stratified log-rank and Cox)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference arm (default: the first arm in sorted order).")
    ] = None,
    ties: Annotated[Ties, typer.Option("--ties", help="Cox handling of tied event times.")] = Ties.EFRON,
    json_output: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
) -> None:
    """Time-to-event summary of a two-arm CSV (see ``_TTE_HELP``)."""
    strata_cols = [c.strip() for c in strata.split(",") if c.strip()] if strata else []
    result = _tte(file, time, event, arm, strata_cols, reference, ties)
    if json_output:
        print_json(result)
    else:
        _print_tables(result)
