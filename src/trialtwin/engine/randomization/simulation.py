"""Operating characteristics of a randomization design: balance and predictability by simulation.

``simulate_allocation`` lets ``n`` subjects arrive with stratification levels drawn at random (independent
factors; equal probability per level unless ``level_probabilities`` says otherwise), allocates them with
:func:`allocate`, and reports:

* balance per stratum, per factor level (Pocock–Simon's marginal totals) and overall: final counts per arm,
  final imbalance and the largest imbalance reached during accrual. Imbalance is the ratio-adjusted range
  max_j n_j/w_j − min_j n_j/w_j (for 1:1, the difference between the arm counts);
* predictability, after Blackwell & Hodges (1957, Ann Math Stat 28:449) "convergence strategy": before each
  allocation a site that knows every past assignment in the subject's stratum guesses the arm that is most
  behind its share (least n_j/w_j; random among ties). The share of correct guesses is ~50 % for an
  unpredictable 1:1 scheme; permuted blocks of 2 and 4 give about 72 % (block 2: 3/4, block 4: 17/24 per
  subject; Rosenberger & Lachin 2016, §3.9). A second guesser who knows every past assignment and
  covariate guesses the arm minimisation would prefer (least Pocock–Simon total imbalance over the
  subject's factor levels; random among ties): about p for minimisation, ~50 % for stratified blocks.

Randomness: three child generators spawned from ``rng`` in this order: arrivals, allocation, guesses; so
the allocation stream is the same whether or not anyone guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialtwin.engine.randomization.allocation import allocate
from trialtwin.engine.randomization.minimization import TIE_TOLERANCE, compute_imbalance_scores
from trialtwin.engine.randomization.state import (
    Method,
    RandomizationError,
    RandomizationState,
    Subject,
)


def compute_imbalance(counts: Sequence[int], ratio: Sequence[int]) -> float:
    """Ratio-adjusted range of arm counts: max_j n_j/w_j − min_j n_j/w_j (1:1 → count difference)."""
    scaled = [c / w for c, w in zip(counts, ratio, strict=True)]
    return max(scaled) - min(scaled)


@dataclass(frozen=True, slots=True)
class Balance:
    """Counts per arm of a group (a stratum, a factor level, or all subjects), its final imbalance and the
    largest imbalance it reached while subjects arrived."""

    label: str
    counts: tuple[int, ...]
    imbalance: float
    max_imbalance: float

    @property
    def n(self) -> int:
        return sum(self.counts)

    def to_dict(self, arms: Sequence[str]) -> dict[str, Any]:
        return {
            "n": self.n,
            "counts": dict(zip(arms, self.counts, strict=True)),
            "imbalance": self.imbalance,
            "max_imbalance": self.max_imbalance,
        }


@dataclass(frozen=True, slots=True)
class MarginBalance:
    """Balance at one level of one stratification factor."""

    factor: str
    level: str
    balance: Balance


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What :func:`simulate_allocation` found; ``predictability`` is the share of correct guesses."""

    study: str
    method: Method
    n: int
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    overall: Balance
    strata: tuple[Balance, ...]
    margins: tuple[MarginBalance, ...]
    correct_guesses: int
    correct_margin_guesses: int

    @property
    def predictability(self) -> float:
        """Share of correct convergence guesses (stratum counts)."""
        return self.correct_guesses / self.n

    @property
    def margin_predictability(self) -> float:
        """Share of correct guesses of the arm minimisation prefers (marginal counts)."""
        return self.correct_margin_guesses / self.n

    @property
    def max_stratum_imbalance(self) -> float:
        return max(b.max_imbalance for b in self.strata)

    @property
    def max_margin_imbalance(self) -> float:
        return max((m.balance.max_imbalance for m in self.margins), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "method": self.method.value,
            "n": self.n,
            "ratio": dict(zip(self.arms, self.ratio, strict=True)),
            "overall": self.overall.to_dict(self.arms),
            "strata": [{"stratum": b.label, **b.to_dict(self.arms)} for b in self.strata],
            "margins": [{"factor": m.factor, "level": m.level, **m.balance.to_dict(self.arms)} for m in self.margins],
            "predictability": {
                "strategy": "convergence (arm most behind its share in the stratum; random on ties)",
                "correct": self.correct_guesses,
                "share": self.predictability,
            },
            "margin_predictability": {
                "strategy": "arm of least Pocock-Simon imbalance over the subject's factor levels; random on ties",
                "correct": self.correct_margin_guesses,
                "share": self.margin_predictability,
            },
        }


def simulate_allocation(
    state: RandomizationState,
    n: int,
    *,
    level_probabilities: Mapping[str, Sequence[float]] | None = None,
    rng: np.random.Generator,
) -> SimulationResult:
    """Allocate ``n`` simulated subjects from ``state`` and measure balance and predictability.

    ``level_probabilities`` maps factor id → probabilities of its levels (declared order); factors left
    out have equal probabilities.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RandomizationError(f"the number of subjects must be a positive integer (got {n!r})")
    arrivals_rng, allocation_rng, guess_rng = rng.spawn(3)
    probs = dict(level_probabilities or {})
    unknown = sorted(set(probs) - {f.id for f in state.factors})
    if unknown:
        raise RandomizationError(f"level probabilities given for unknown factors {unknown}")
    draws = []
    for factor in state.factors:
        p = probs.get(factor.id)
        if p is not None and (len(p) != len(factor.levels) or min(p) < 0 or abs(sum(p) - 1.0) > 1e-9):
            raise RandomizationError(
                f"level probabilities of {factor.id!r} must be {len(factor.levels)} numbers >= 0 summing to 1"
            )
        draws.append(arrivals_rng.choice(len(factor.levels), size=n, p=p).tolist())
    ratio = state.ratio
    arms = range(len(state.arms))
    stratum_max = [0.0] * state.n_strata
    margin_max = [[0.0] * len(f.levels) for f in state.factors]
    overall = [0] * len(state.arms)
    overall_max = 0.0
    correct = correct_margin = 0
    settings = state.minimization
    guess_u = guess_rng.random((n, 2)).tolist()
    for i in range(n):
        levels = {f.id: f.levels[draws[fi][i]] for fi, f in enumerate(state.factors)}
        subject = Subject(id=f"S{i + 1:05d}", levels=levels)
        level_idx, s = state.locate(subject)
        counts = state.strata[s].arm_counts
        shares = [counts[k] / ratio[k] for k in arms]
        behind = [k for k in arms if shares[k] == min(shares)]
        guess = behind[int(guess_u[i][0] * len(behind))]
        rows = [state.margins[f][li] for f, li in enumerate(level_idx)]
        scores = compute_imbalance_scores(rows, ratio, settings.weights, settings.imbalance)
        least = [k for k in arms if scores[k] <= min(scores) + TIE_TOLERANCE * max(1.0, min(scores))]
        margin_guess = least[int(guess_u[i][1] * len(least))]
        assignment, state = allocate(state, subject, rng=allocation_rng)
        arm = state.arms.index(assignment.arm)
        correct += guess == arm
        correct_margin += margin_guess == arm
        stratum_max[s] = max(stratum_max[s], compute_imbalance(state.strata[s].arm_counts, ratio))
        for f, li in enumerate(level_idx):
            margin_max[f][li] = max(margin_max[f][li], compute_imbalance(state.margins[f][li], ratio))
        overall[arm] += 1
        overall_max = max(overall_max, compute_imbalance(overall, ratio))
    strata = tuple(
        Balance(key, st.arm_counts, compute_imbalance(st.arm_counts, ratio), stratum_max[s])
        for s, ((key, _), st) in enumerate(zip(state.iter_strata(), state.strata, strict=True))
    )
    margins = tuple(
        MarginBalance(
            f.id,
            code,
            Balance(
                f"{f.id}={code}",
                state.margins[fi][li],
                compute_imbalance(state.margins[fi][li], ratio),
                margin_max[fi][li],
            ),
        )
        for fi, f in enumerate(state.factors)
        for li, code in enumerate(f.levels)
    )
    total = tuple(overall)
    return SimulationResult(
        study=state.study,
        method=state.method,
        n=n,
        arms=state.arms,
        ratio=ratio,
        overall=Balance("all subjects", total, compute_imbalance(total, ratio), overall_max),
        strata=strata,
        margins=margins,
        correct_guesses=correct,
        correct_margin_guesses=correct_margin,
    )
