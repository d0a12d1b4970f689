"""Benchmark: operating characteristics of EVER-132-002 — trialtwin's batched engine vs per-replicate loops.

Prints figures, never asserts. One design throughout: EVER-132-002 (331 subjects, 8 strata, 1:1 permuted blocks
of 2 and 4, 24-month accrual, exponential PFS with control median 4.2 months and HR 0.67, analysis at the 232nd
event). Every replicate is analysed with a stratified log-rank test and a stratified Cox model.

    python benchmarks/design.py                        # trialtwin at 100,000 replicates, peers at 200
    python benchmarks/design.py --replicates 1000000   # a million (also reports the peak memory)

Rows:

- trialtwin, 1 and 2 worker processes: simulate + analyse (log-rank Z, Cox HR and CI with Efron ties, KM medians).
- trialtwin scan-aware (``observation="scans"``): the same, with progression seen only at the protocol's
  tumour assessments (6-weekly to week 36, then 9-weekly, ±7 days): every trial has tied event times.
- floor: generate the (R, 331) array of exponential event times and ``np.sort`` it along rows — the least any
  replicate-by-subject engine must do (one draw, one sort per replicate).
- lifelines: per-replicate loop of ``CoxPHFitter(strata=...)`` + ``logrank_test`` (lifelines has no stratified
  log-rank test, so its unstratified one) on the same simulated trials (generated beforehand, not timed).
- statsmodels: per-replicate loop of ``PHReg(..., strata=..., ties="efron")`` + ``survdiff(..., strata=...)``
  on the same trials (not timed either).
- simtrial (PyPI, the Python port of Merck's simtrial — only a piecewise-exponential sampler): per replicate,
  enrolment, strata and permuted blocks in NumPy, event times from ``simtrial.PiecewiseExponential.sample``, the
  232-event cut, then trialtwin.analysis ``logrank_test`` (stratified) and ``cox_ph``.

Peers loop over ``--peer-replicates`` trials (they take milliseconds each); ratios compare replicates per second.
The machine is shared: figures vary by ±30% between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from trialtwin.analysis import cox_ph, logrank_test
from trialtwin.design.batch import BatchDesign, TrialBatch, simulate_batch, simulate_trials
from trialtwin.protocol import load_protocol


def ever_design(observation: str = "continuous") -> BatchDesign:
    return BatchDesign.from_protocol(
        load_protocol("ever-132-002"), hr=0.67, control_median_months=4.2, events=232, observation=observation
    )


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}"


def time_trialtwin(design: BatchDesign, replicates: int, workers: int) -> tuple[float, float]:
    simulate_batch(design, 2000, rng=np.random.default_rng(0), workers=1)  # warm-up (imports, tables)
    start = time.perf_counter()
    res = simulate_batch(design, replicates, rng=np.random.default_rng(1), workers=workers)
    seconds = time.perf_counter() - start
    return seconds, float(res.summary["power"].iloc[0])


def time_floor(replicates: int, n: int) -> float:
    best = float("inf")
    for seed in range(3):
        start = time.perf_counter()
        np.sort(np.random.default_rng(seed).standard_exponential((replicates, n)), axis=1)
        best = min(best, time.perf_counter() - start)
    return best


def peer_frames(batch: TrialBatch) -> list[pd.DataFrame]:
    return [batch.analysis_data(r) for r in range(batch.replicates)]


def time_lifelines(frames: list[pd.DataFrame]) -> float | str:
    try:
        from lifelines import CoxPHFitter
        from lifelines.statistics import logrank_test as ll_logrank
    except ImportError as exc:  # pragma: no cover - dev extra not installed
        return f"not installed ({exc})"
    start = time.perf_counter()
    for df in frames:
        CoxPHFitter().fit(df[["time", "event", "arm", "stratum"]], "time", "event", strata=["stratum"])
        a = df.arm == 1
        ll_logrank(df.time[a], df.time[~a], df.event[a], df.event[~a])
    return time.perf_counter() - start


def time_statsmodels(frames: list[pd.DataFrame]) -> float | str:
    try:
        from statsmodels.duration.hazard_regression import PHReg
        from statsmodels.duration.survfunc import survdiff
    except ImportError as exc:  # pragma: no cover - dev extra not installed
        return f"not installed ({exc})"
    start = time.perf_counter()
    for df in frames:
        t, e, a, s = (df[c].to_numpy() for c in ("time", "event", "arm", "stratum"))
        PHReg(t, a.astype(float)[:, None], status=e.astype(float), strata=s, ties="efron").fit()
        survdiff(t, e.astype(float), a, strata=s)
    return time.perf_counter() - start


def time_simtrial(design: BatchDesign, replicates: int) -> float | str:
    """simtrial's sampler for the event times; enrolment, blocks and the cut in NumPy; trialtwin's tests."""
    try:
        from simtrial import PiecewiseExponential
    except ImportError as exc:
        return f"not installed: {exc} (pip install simtrial)"
    rng = np.random.default_rng(3)
    n, events = design.n, design.looks[0].events or design.n
    rate = design.enrollment.rates[0]
    hazards = [design.hazard(0, arm).rates[0] for arm in (0, 1)]
    samplers = [PiecewiseExponential(durations=[float("inf")], rates=[h]) for h in hazards]
    start = time.perf_counter()
    for _ in range(replicates):
        enrolled = np.cumsum(rng.exponential(1.0 / rate, n))
        stratum = rng.integers(0, design.n_strata, n)
        arm = np.empty(n, dtype=np.int64)
        for s in range(design.n_strata):  # stratified permuted blocks of 2 and 4
            idx = np.flatnonzero(stratum == s)
            seq: list[int] = []
            while len(seq) < idx.size:
                size = int(rng.choice(design.block_sizes))
                seq.extend(rng.permutation([0, 1] * (size // 2)).tolist())
            arm[idx] = seq[: idx.size]
        t_event = np.empty(n)
        for a in (0, 1):
            mask = arm == a
            t_event[mask] = samplers[a].sample(int(mask.sum()), rng=rng)
        calendar = enrolled + t_event
        cut = np.partition(calendar, events - 1)[events - 1]
        keep = enrolled < cut
        time_ = np.minimum(t_event, cut - enrolled)[keep]
        event = (calendar <= cut)[keep]
        logrank_test(time_, event, arm[keep], strata=stratum[keep])
        cox_ph(time_, event, {"arm": arm[keep]}, strata=stratum[keep])
    return time.perf_counter() - start


def _vm_rss() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_child(replicates: int, workers: int) -> None:
    """Run in a fresh process: simulate ``replicates`` trials and print the peak RSS (MB) of this process and
    of its largest worker process (which shares the pages it was forked with)."""
    design = ever_design()
    baseline = _vm_rss()
    start = time.perf_counter()
    res = simulate_batch(design, replicates, rng=np.random.default_rng(1), workers=workers)
    seconds = time.perf_counter() - start
    # VmHWM: this process's own peak (ru_maxrss would carry the peak of the process it was forked from)
    own = float("nan")
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{seconds:.2f} {own:.0f} {kids:.0f} {float(res.summary['power'].iloc[0]):.5f} {baseline:.0f}")


def table(rows: list[tuple[str, int, float | str]], reference: float) -> None:
    print(f"{'engine':<44} {'replicates':>10} {'seconds':>9} {'replicates/s':>12} {'× slower':>9}")
    for name, count, seconds in rows:
        if isinstance(seconds, str):
            print(f"{name:<44} {count:>10,} {'—':>9} {'—':>12} {'—':>9}   {seconds}")
            continue
        rate = count / seconds
        print(f"{name:<44} {count:>10,} {seconds:>9.3f} {per_second(count, seconds)} {reference / rate:>9.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=100_000, help="trialtwin replicates (default 100,000)")
    parser.add_argument("--peer-replicates", type=int, default=200, help="replicates for the peer loops")
    parser.add_argument("--memory-replicates", type=int, default=1_000_000, help="replicates for the RSS run")
    parser.add_argument("--skip-memory", action="store_true", help="skip the peak-memory run")
    parser.add_argument("--rss-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        peak_rss_child(*args.rss_child)
        return

    design = ever_design()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"EVER-132-002: n = {design.n}, {design.n_strata} strata, blocks {design.block_sizes}, cut at 232 events; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.2f}, "
        f"numpy {np.__version__}, python {platform.python_version()}"
    )
    rows: list[tuple[str, int, float | str]] = []
    one, power = time_trialtwin(design, args.replicates, 1)
    rows.append(("trialtwin simulate_batch, 1 worker", args.replicates, one))
    two, _ = time_trialtwin(design, args.replicates, 2)
    rows.append(("trialtwin simulate_batch, 2 workers", args.replicates, two))
    scans = ever_design("scans")
    s_one, _ = time_trialtwin(scans, args.replicates, 1)
    rows.append(("trialtwin scan-aware, 1 worker", args.replicates, s_one))
    s_two, _ = time_trialtwin(scans, args.replicates, 2)
    rows.append(("trialtwin scan-aware, 2 workers", args.replicates, s_two))
    floor = time_floor(args.replicates, design.n)
    rows.append(("floor: draw + np.sort of the (R, 331) array", args.replicates, floor))

    batch = simulate_trials(design, args.peer_replicates, rng=np.random.default_rng(2))
    frames = peer_frames(batch)
    rows.append(("lifelines CoxPHFitter + logrank_test (loop)", args.peer_replicates, time_lifelines(frames)))
    rows.append(("statsmodels PHReg + survdiff (loop)", args.peer_replicates, time_statsmodels(frames)))
    sim = time_simtrial(design, args.peer_replicates)
    rows.append(("simtrial sampler + trialtwin tests (loop)", args.peer_replicates, sim))

    best = args.replicates / min(one, two)
    print()
    table(rows, best)
    print()
    print(f"power (Z < −1.96) over {args.replicates:,} trials: {power:.4f}")
    print(
        f"trialtwin (best of 1/2 workers) takes {min(one, two) / floor:.1f}× the floor; "
        f"2 workers run {one / two:.2f}× as fast as 1 (pool start-up included)."
    )
    if not args.skip_memory:
        for workers in (1, 2):
            out = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(args.memory_replicates), str(workers)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            seconds, own, kids, pw, base = (float(v) for v in out)
            print(
                f"{args.memory_replicates:,} replicates, {workers} worker(s): {seconds:.1f} s "
                f"({args.memory_replicates / seconds:,.0f}/s), peak RSS {own:.0f} MB in the calling process "
                f"({base:.0f} MB before the run: Python, NumPy, pandas, SciPy)"
                + (f", {kids:.0f} MB in the largest worker" if workers > 1 else "")
                + f"; power {pw:.4f}"
            )


if __name__ == "__main__":
    run: Callable[[], None] = main
    run()
