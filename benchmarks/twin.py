"""Benchmark of the patient-level twin (issue 4): seconds per full-fidelity EVER-132-002 replicate on one core,
replicates per minute with 2 worker processes, and peak memory. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/twin.py [--replicates 8]
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from trialtwin.protocol import load_protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial


def one(seed: np.random.SeedSequence) -> int:
    record = simulate_trial(load_protocol("ever-132-002"), Scenario(), rng=np.random.default_rng(seed))
    return int(record.meta["randomized"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=8)
    args = parser.parse_args()
    seeds = np.random.SeedSequence(2024).spawn(args.replicates)
    one(seeds[0])  # warm caches (compiled rules, imports)

    start = time.perf_counter()
    for seed in seeds:
        one(seed)
    serial = (time.perf_counter() - start) / len(seeds)

    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, seeds))
    parallel = time.perf_counter() - start

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"EVER-132-002 twin, {args.replicates} replicates (331 randomized, ~440 screened each)")
    print(f"  seconds per replicate, 1 core      : {serial:6.2f} s   (target <= 2 s)")
    print(f"  replicates per minute, 2 workers   : {60 * len(seeds) / parallel:6.1f}")
    print(f"  replicates per minute, 1 core      : {60 / serial:6.1f}")
    print(f"  peak RSS of the serial process     : {peak_mb:6.0f} MB")


if __name__ == "__main__":
    main()
