"""Balance and predictability by simulation (issue 3, point 2).

Predictability reference: Blackwell & Hodges 1957 (Ann Math Stat 28:449) convergence strategy; for a block of
2m (1:1) the expected number of correct guesses is m + 2^(2m−1)/C(2m, m) − 1/2, i.e. 1.5 of 2 (block 2) and
2.833 of 4 (block 4); blocks of 2 and 4 drawn with equal probability give (1.5 + 2.833)/6 = 72.2 % per subject.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from trialtwin.engine.randomization import (
    RandomizationError,
    build_state,
    compute_imbalance,
    initial_state,
    simulate_allocation,
)
from trialtwin.protocol import Protocol


@pytest.mark.parametrize(
    ("counts", "ratio", "expected"),
    [((5, 3), (1, 1), 2.0), ((4, 2), (2, 1), 0.0), ((6, 2), (2, 1), 1.0), ((1, 1, 4), (1, 1, 1), 3.0)],
    ids=["1:1", "2:1-on-target", "2:1-off", "three-arms"],
)
def test_ratio_adjusted_imbalance(counts: tuple[int, ...], ratio: tuple[int, ...], expected: float) -> None:
    """max_j n_j/w_j − min_j n_j/w_j; for 1:1 the difference between the arm counts."""
    assert compute_imbalance(counts, ratio) == expected


@pytest.mark.parametrize("method", ["permuted_block", "minimization"])
def test_counts_add_up(ever: Protocol, method: str) -> None:
    result = simulate_allocation(initial_state(ever, method=method), 200, rng=np.random.default_rng(4))
    assert result.n == 200 and sum(result.overall.counts) == 200
    assert tuple(map(sum, zip(*(b.counts for b in result.strata), strict=True))) == result.overall.counts
    assert len(result.strata) == 8 and len(result.margins) == 6
    for factor in ("prior_lines", "visceral", "prior_cdk46"):
        levels = [m for m in result.margins if m.factor == factor]
        assert sum(m.balance.n for m in levels) == 200
    assert 0 <= result.correct_guesses <= 200 and 0 <= result.correct_margin_guesses <= 200
    assert result.method.value == method
    data = result.to_dict()
    assert data["overall"]["n"] == 200 and len(data["strata"]) == 8 and len(data["margins"]) == 6
    assert data["predictability"]["share"] == result.predictability


def test_stratified_blocks_bound_stratum_imbalance(ever: Protocol) -> None:
    """Blocks of 2 and 4 (1:1): no stratum is ever more than 2 apart (half the largest block)."""
    result = simulate_allocation(initial_state(ever), 500, rng=np.random.default_rng(8))
    assert result.max_stratum_imbalance <= 2
    assert all(b.imbalance <= b.max_imbalance <= 2 for b in result.strata)


def test_same_seed_same_result(ever: Protocol) -> None:
    a = simulate_allocation(initial_state(ever, method="minimization"), 120, rng=np.random.default_rng(3))
    b = simulate_allocation(initial_state(ever, method="minimization"), 120, rng=np.random.default_rng(3))
    assert a == b


@pytest.mark.slow
def test_predictability_of_blocks_of_2_and_4_is_72_percent(ever: Protocol) -> None:
    """Blackwell & Hodges convergence guessing: 72.2 % expected (module docstring). 4000 subjects: SD of the share
    <= 0.008, so 0.69-0.755 is a > 4 SD window (fixed seed: deterministic)."""
    result = simulate_allocation(initial_state(ever), 4000, rng=np.random.default_rng(12))
    assert 0.69 <= result.predictability <= 0.755


@pytest.mark.slow
def test_minimization_is_unpredictable_by_stratum_but_not_by_margins(ever: Protocol) -> None:
    """Under minimisation (p = 0.8) the stratum-convergence guess is near 50 %; a guesser who computes the
    preferred arm from the margins is right about p of the time when one arm is preferred (≈ 0.8) and half the
    time on ties, so well above 60 %. 3000 subjects, SD <= 0.01 (fixed seed)."""
    result = simulate_allocation(initial_state(ever, method="minimization"), 3000, rng=np.random.default_rng(12))
    assert 0.45 <= result.predictability <= 0.58
    assert result.margin_predictability >= 0.65


def test_level_probabilities_shift_arrivals(ever: Protocol) -> None:
    result = simulate_allocation(
        initial_state(ever), 400, level_probabilities={"visceral": (1.0, 0.0)}, rng=np.random.default_rng(1)
    )
    visceral = {m.level: m.balance.n for m in result.margins if m.factor == "visceral"}
    assert visceral == {"yes": 400, "no": 0}


@pytest.mark.parametrize(
    ("n", "probabilities", "message"),
    [
        (0, None, "positive integer"),
        (10, {"site": (0.5, 0.5)}, r"unknown factors \['site'\]"),
        (10, {"visceral": (0.5, 0.6)}, "summing to 1"),
        (10, {"visceral": (1.0,)}, "must be 2 numbers"),
    ],
    ids=["zero-subjects", "unknown-factor", "not-summing-to-1", "wrong-length"],
)
def test_bad_arguments_are_refused(
    ever: Protocol, n: int, probabilities: dict[str, tuple[float, ...]] | None, message: str
) -> None:
    with pytest.raises(RandomizationError, match=message):
        simulate_allocation(initial_state(ever), n, level_probabilities=probabilities, rng=np.random.default_rng(0))


def test_unstratified_ratio_2_to_1() -> None:
    result = simulate_allocation(build_state({"a": 2, "b": 1}, block_sizes=(3,)), 300, rng=np.random.default_rng(2))
    assert result.overall.counts == (200, 100)
    assert result.margins == ()
    assert result.max_stratum_imbalance <= 1.0


#: Requirement G4: 10,000 simulated trials. The suite runs 100 (about 1 s per design); set TRIALTWIN_G4_TRIALS=10000
#: for the full figure (about 2 min per design).
G4_TRIALS = int(os.environ.get("TRIALTWIN_G4_TRIALS", "100"))
#: Subjects per simulated trial: EVER-132-002's enrolment (requirement G1's 331).
G4_SUBJECTS = 331


@pytest.mark.parametrize(
    ("block_sizes", "max_guess_rate"),
    [
        # The requirement's default design: blocks of 4, 6 and 8; rate ≤ 0.70 (G4; measured there 0.678). A
        # guesser who also knew the block boundaries would get the Blackwell-Hodges (1957) 12.26/18 = 0.681.
        ((4, 6, 8), 0.70),
        # EVER-132-002's protocol: blocks of 2 and 4; Blackwell-Hodges with known boundaries gives 0.722 (module
        # docstring), the documented price of its tighter balance (|nA−nB| ≤ 2).
        ((2, 4), 0.7222),
    ],
    ids=["blocks-4-6-8", "ever-blocks-2-4"],
)
def test_g4_balance_and_predictability_over_many_trials(
    ever: Protocol, block_sizes: tuple[int, ...], max_guess_rate: float, record_property: Any
) -> None:
    """G4: in every one of ``G4_TRIALS`` simulated trials of 331 subjects over EVER-132-002's 8 strata, every
    stratum stays within |nA−nB| ≤ max_block/2 at all times (Cochrane Handbook 8.15.1.3); the pooled
    convergence-guess rate is recorded (``convergence_guess_rate``) and stays at or below ``max_guess_rate``
    and well above 1/2 (blocks are predictable: that is what is documented, not hidden)."""
    base = initial_state(ever)
    state = build_state(dict(zip(base.arms, base.ratio, strict=True)), base.factors, block_sizes=block_sizes)
    assert state.n_strata == 8
    bound = max(block_sizes) / 2
    correct = subjects = 0
    worst = 0.0
    for seed in np.random.SeedSequence(2020).spawn(G4_TRIALS):
        result = simulate_allocation(state, G4_SUBJECTS, rng=np.random.default_rng(seed))
        worst = max(worst, result.max_stratum_imbalance)
        assert all(b.max_imbalance <= bound for b in result.strata), result.to_dict()["strata"]
        correct += result.correct_guesses
        subjects += result.n
    rate = correct / subjects
    record_property("trials", G4_TRIALS)
    record_property("convergence_guess_rate", round(rate, 4))
    record_property("max_stratum_imbalance", worst)
    print(f"G4 {block_sizes}: {G4_TRIALS} trials, guess rate {rate:.4f}, max |nA-nB| {worst}")
    assert worst == bound  # the bound is reached, so the check above can fail
    assert 0.6 <= rate <= max_guess_rate
