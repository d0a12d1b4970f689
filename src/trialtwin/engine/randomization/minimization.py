"""Pocock–Simon minimisation (Pocock & Simon 1975, Biometrics 31:103-115; Taves 1974, Clin Pharmacol Ther
15:443).

For a new subject with level l_f of each factor f, and for each candidate arm k, the arm counts at l_f are
taken as if the subject went to k, scaled by the ratio (n_j / w_j, the usual adjustment for unequal
allocation), and their imbalance D_f(k) is computed: their range (max − min) or their variance (population
variance). The total imbalance is G_k = Σ_f v_f·D_f(k) with factor weights v_f. The arms of least G are the
preferred ones; one of them is picked at random (ties broken at random). The preferred arm is taken with
probability p (default 0.8, Pocock & Simon §3 "biased coin"); otherwise another arm is taken, at random in
proportion to the ratio. When every arm ties (always so for the first subject), the arm is drawn at random
in proportion to the ratio.

Draw order: exactly two ``rng.random()`` doubles per subject, (u0, u1) = ``rng.random(2)``: u0 picks among
tied preferred arms (or, when all arms tie, the arm by ratio); u1 < p takes the preferred arm, otherwise
(u1 − p)/(1 − p), again uniform, picks one of the other arms by ratio.

Note: with unequal ratios, minimisation does not keep the overall ratio exactly (Kuznetsova & Tymofyeyev
2012, Stat Med 31:701); use permuted blocks when the ratio must hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialtwin.engine.randomization.state import (
    Assignment,
    Imbalance,
    Method,
    RandomizationState,
    StratumState,
    Subject,
)

#: Relative tolerance under which two total imbalances count as tied (they are sums of floats).
TIE_TOLERANCE = 1e-9


def compute_imbalance_scores(
    rows: Sequence[Sequence[int]],
    ratio: Sequence[int],
    weights: Sequence[float],
    imbalance: Imbalance = Imbalance.RANGE,
) -> tuple[float, ...]:
    """G_k for each arm k: Σ_f weights[f]·D(counts of rows[f] with one more on arm k, divided by the ratio).

    ``rows[f]`` are the arm counts at the subject's level of factor f (Pocock & Simon 1975, §3).
    """
    n_arms = len(ratio)
    scores = []
    for k in range(n_arms):
        total = 0.0
        for row, weight in zip(rows, weights, strict=True):
            scaled = [(row[j] + (j == k)) / ratio[j] for j in range(n_arms)]
            if imbalance is Imbalance.RANGE:
                d = max(scaled) - min(scaled)
            else:
                mean = sum(scaled) / n_arms
                d = sum((x - mean) ** 2 for x in scaled) / n_arms
            total += weight * d
        scores.append(total)
    return tuple(scores)


def _pick(candidates: Sequence[int], ratio: Sequence[int], u: float) -> int:
    """One of ``candidates`` with probability proportional to its ratio weight, from a uniform ``u``."""
    target = u * sum(ratio[k] for k in candidates)
    for k in candidates:
        target -= ratio[k]
        if target < 0:
            return k
    return candidates[-1]


def allocate_minimization(
    state: RandomizationState, subject: Subject, *, rng: np.random.Generator
) -> tuple[Assignment, RandomizationState]:
    """Allocate ``subject`` by Pocock–Simon minimisation over the marginal counts of its factor levels.

    Refuses (``AllocationRefused``) a subject whose stratification levels are missing or undeclared.
    """
    levels, s = state.locate(subject)
    settings = state.minimization
    rows = [state.margins[f][li] for f, li in enumerate(levels)]
    scores = compute_imbalance_scores(rows, state.ratio, settings.weights, settings.imbalance)
    u0, u1 = rng.random(2).tolist()
    best = min(scores)
    tolerance = TIE_TOLERANCE * max(1.0, abs(best))
    preferred_arms = [k for k, g in enumerate(scores) if g <= best + tolerance]
    arms = range(len(state.arms))
    preferred: int | None
    if len(preferred_arms) == len(state.arms):
        preferred = None
        arm = _pick(arms, state.ratio, u0)
    else:
        preferred = preferred_arms[int(u0 * len(preferred_arms))]
        p = settings.probability
        arm = preferred if u1 < p else _pick([k for k in arms if k != preferred], state.ratio, (u1 - p) / (1.0 - p))
    stratum = state.strata[s]
    counts = stratum.arm_counts
    new = StratumState((*counts[:arm], counts[arm] + 1, *counts[arm + 1 :]))
    assignment = Assignment(
        subject_id=subject.id,
        arm=state.arms[arm],
        stratum=state.stratum_key(s),
        sequence=stratum.allocated + 1,
        method=Method.MINIMIZATION,
        scores=scores,
        preferred=None if preferred is None else state.arms[preferred],
    )
    return assignment, state.advance(s, levels, arm, new)
