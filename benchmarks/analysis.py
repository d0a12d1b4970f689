"""Benchmark: Kaplan–Meier + stratified log-rank + stratified Cox (Efron) — trialtwin vs lifelines vs statsmodels.

Prints figures, never asserts. Data: a two-arm trial with 8 strata, exponential event times (HR 0.75) and
uniform administrative censoring, both in whole days (ties, as in real ADTTE data); ``--continuous`` uses
fractional days instead (no ties, a slower sort path).

    python benchmarks/analysis.py                       # all three packages at 1,000,000 rows (about a minute)
    python benchmarks/analysis.py --peer-rows 200000    # peers at 200,000 rows (plus a linear extrapolation)

Each package does the same three tasks: KM per arm, log-rank stratified by the 8 strata, Cox with one treatment
indicator stratified by the 8 strata. lifelines has no stratified log-rank test; its row times its unstratified
``logrank_test`` (marked *) — the closest it offers. Peer figures at fewer rows than trialtwin's are
extrapolated linearly to trialtwin's row count only in the column so labelled.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from trialtwin.analysis import cox_ph, kaplan_meier, logrank_test


def make_data(n: int, n_strata: int, *, continuous: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    stratum = rng.integers(0, n_strata, n)
    base = 1.0 / 365.0 * (1.0 + 0.15 * stratum)  # median ≈ 253 days in stratum 0
    t_event = rng.exponential(1.0 / (base * np.where(arm == 1, 0.75, 1.0)))
    t_cens = rng.uniform(30.0, 1500.0, n)
    t = np.minimum(t_event, t_cens)
    days = t if continuous else np.ceil(t)
    return pd.DataFrame({"time": days, "event": (t_event <= t_cens).astype(np.int64), "arm": arm, "stratum": stratum})


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_trialtwin(df: pd.DataFrame, repeat: int) -> dict[str, tuple[float, Any]]:
    t, e, a, s = (df[c].to_numpy() for c in ("time", "event", "arm", "stratum"))
    km = best_of(repeat, lambda: kaplan_meier(t, e, a))
    lr = best_of(repeat, lambda: logrank_test(t, e, a, s))
    cox = best_of(repeat, lambda: cox_ph(t, e, a.astype(np.float64), s))
    return {
        "KM (per arm)": (km[0], km[1].summary["median"].tolist()),
        "log-rank (stratified)": (lr[0], lr[1].chisq),
        "Cox (stratified, Efron)": (cox[0], float(cox[1].coef[0])),
    }


def run_lifelines(df: pd.DataFrame) -> dict[str, tuple[float, Any]]:
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test as ll_logrank

    def km() -> list[float]:
        return [
            float(KaplanMeierFitter().fit(g["time"], g["event"]).median_survival_time_) for _, g in df.groupby("arm")
        ]

    def lr() -> float:
        a, b = df[df["arm"] == 0], df[df["arm"] == 1]
        return float(ll_logrank(a["time"], b["time"], a["event"], b["event"]).test_statistic)

    def cox() -> float:
        fit = CoxPHFitter().fit(df[["time", "event", "arm", "stratum"]], "time", "event", strata=["stratum"])
        return float(fit.params_["arm"])

    return {
        "KM (per arm)": best_of(1, km),
        "log-rank (stratified)": best_of(1, lr),
        "Cox (stratified, Efron)": best_of(1, cox),
    }


def run_statsmodels(df: pd.DataFrame) -> dict[str, tuple[float, Any]]:
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    t, e, a, s = (df[c].to_numpy() for c in ("time", "event", "arm", "stratum"))

    def km() -> list[float]:
        return [float(SurvfuncRight(t[a == g], e[a == g]).quantile(0.5)) for g in (0, 1)]

    def lr() -> float:
        return float(survdiff(t, e, a, strata=s)[0])

    def cox() -> float:
        return float(PHReg(t, a.astype(np.float64)[:, None], status=e, strata=s, ties="efron").fit().params[0])

    return {
        "KM (per arm)": best_of(1, km),
        "log-rank (stratified)": best_of(1, lr),
        "Cox (stratified, Efron)": best_of(1, cox),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for trialtwin (default 1,000,000)")
    parser.add_argument(
        "--peer-rows", type=int, default=None, help="rows for lifelines/statsmodels (default: --rows; ~1 min at 1e6)"
    )
    parser.add_argument("--strata", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="trialtwin: best of this many runs")
    parser.add_argument("--continuous", action="store_true", help="fractional-day times (no ties)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["lifelines", "statsmodels"])
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    kind = "fractional days (no ties)" if args.continuous else "whole days (tied times)"
    print(f"data: 2 arms, {args.strata} strata, times in {kind}; trialtwin best of {args.repeat}, peers 1 run")
    big = make_data(args.rows, args.strata, continuous=args.continuous, seed=args.seed)
    peer_rows = args.rows if args.peer_rows is None else args.peer_rows
    small = big.iloc[:peer_rows] if peer_rows < args.rows else big
    print(f"rows: trialtwin {len(big):,} (events {int(big['event'].sum()):,}); peers {len(small):,}\n")

    ours_big = run_trialtwin(big, args.repeat)
    ours_small = run_trialtwin(small, args.repeat) if small is not big else ours_big
    peers: dict[str, dict[str, tuple[float, Any]]] = {}
    for name, runner in (("lifelines", run_lifelines), ("statsmodels", run_statsmodels)):
        if name not in args.skip:
            print(f"running {name} on {len(small):,} rows ...", flush=True)
            peers[name] = runner(small)

    tasks = list(ours_big)
    scale = len(big) / len(small)
    n_big, n_small = f"{len(big) / 1e6:g}M", f"{len(small) / 1e6:g}M"
    same = scale == 1
    header = f"{'task':<26}{'trialtwin ' + n_big:>16}" + ("" if same else f"{'trialtwin ' + n_small:>16}")
    for name in peers:
        header += f"{name + ' ' + n_small:>20}{'ratio':>8}"
        if not same:
            header += f"{name + ' ' + n_big + ' (extrap.)':>26}"
    print("\n" + header)
    print("-" * len(header))
    totals = {"big": 0.0, "small": 0.0, **dict.fromkeys(peers, 0.0)}
    for task in tasks:
        tb, ts = ours_big[task][0], ours_small[task][0]
        totals["big"] += tb
        totals["small"] += ts
        line = f"{task:<26}{tb:>15.3f}s" + ("" if same else f"{ts:>15.3f}s")
        for name, res in peers.items():
            tp = res[task][0]
            totals[name] += tp
            star = "*" if name == "lifelines" and task.startswith("log-rank") else " "
            line += f"{tp:>18.3f}s{star}{tp / ts:>7.0f}x"
            if not same:
                line += f"{tp * scale:>25.1f}s"
        print(line)
    line = f"{'total':<26}{totals['big']:>15.3f}s" + ("" if same else f"{totals['small']:>15.3f}s")
    for name in peers:
        line += f"{totals[name]:>18.3f}s {totals[name] / totals['small']:>7.0f}x"
        if not same:
            line += f"{totals[name] * scale:>25.1f}s"
    print(line)
    print("\nratio = peer time / trialtwin time at the same rows. * lifelines: unstratified logrank_test (it has no")
    print("stratified log-rank). 'extrap.' = peer time × rows ratio (linear; Cox and sorting are superlinear, so")
    print("these understate the peers' true time).")
    print("\nresults (same data, peers' rows): median per arm | log-rank chi-square | Cox log-HR")
    for name, res in (("trialtwin", ours_small), *peers.items()):
        km, lr, cox = (res[t][1] for t in tasks)
        print(f"  {name:<12} {km} | {lr:.6f} | {cox:.10f}")


if __name__ == "__main__":
    main()
