"""Time one randomization step (``allocate``) on EVER-132-002 (8 strata), both methods, and list generation.

Prints microseconds per call. Target from issue 3: < 50 µs per allocation (the twin allocates every virtual
patient; the service allocates under a lock).
"""

from __future__ import annotations

import time

import numpy as np

from trialtwin.engine.randomization import Subject, allocate, generate_list, initial_state
from trialtwin.protocol import load_protocol

N = 20_000


def main() -> None:
    protocol = load_protocol("ever-132-002")
    arrivals = np.random.default_rng(0)
    base = initial_state(protocol)
    subjects = [
        Subject(f"S{i}", {f.id: f.levels[int(arrivals.integers(len(f.levels)))] for f in base.factors})
        for i in range(N)
    ]
    for method in ("permuted_block", "minimization"):
        best = float("inf")
        for _ in range(3):
            state = initial_state(protocol, method=method)
            rng = np.random.default_rng(1)
            start = time.perf_counter()
            for subject in subjects:
                _, state = allocate(state, subject, rng=rng)
            best = min(best, (time.perf_counter() - start) / N)
        print(f"allocate ({method:14s}): {best * 1e6:6.1f} µs per call (best of 3 × {N} subjects)")
    start = time.perf_counter()
    result = generate_list(protocol, 1000, rng=np.random.default_rng(2))
    elapsed = time.perf_counter() - start
    print(f"generate_list: 8 strata × 1000 entries in {elapsed * 1e3:.0f} ms ({elapsed / 8000 * 1e6:.1f} µs per entry)")
    start = time.perf_counter()
    digest = result.sha256
    print(f"sha256 of the list: {(time.perf_counter() - start) * 1e3:.1f} ms ({digest[:12]}…)")


if __name__ == "__main__":
    main()
