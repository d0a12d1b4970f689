"""The latent disease course of a virtual patient, and what a scan of it shows.

The twin never hands a progression date to the analysis. It draws a *true* course — tumour burden that shrinks to
a nadir and regrows, or a new lesion that appears — and produces lesion measurements with reader error at the
protocol's scan dates. The engine's RECIST 1.1 assessment of those measurements decides response and progression.

Model (per patient, months since randomization):
- true progression time ``T`` from a piecewise-constant hazard per arm;
- target lesions shrink linearly to ``nadir_ratio`` of baseline at ``nadir_month``, then regrow exponentially so
  that the sum is 30 % above the nadir at ``T`` (clear of the 20 % + 5 mm rule plus reader error); or, when
  progression shows first as a new lesion, stay near the nadir and a new lesion appears at ``T``;
- death before progression at a constant rate; after progression after a log-normal post-progression survival;
- consent withdrawal at a constant rate.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from trialtwin.engine.recist.lesions import Assessment, LesionStatus, NonTargetLesion, TargetLesion
from trialtwin.sim.scenario import ArmOutcome, Tumour

ORGANS = ("liver", "lung", "lymph node", "breast", "chest wall", "adrenal", "peritoneum", "pleura", "skin")
ORGAN_WEIGHTS = np.array([0.30, 0.22, 0.18, 0.09, 0.06, 0.05, 0.04, 0.03, 0.03])


@dataclass(frozen=True, slots=True)
class BaselineLesion:
    id: str
    organ: str
    nodal: bool
    diameter_mm: float


@dataclass(frozen=True, slots=True)
class DiseaseCourse:
    """A patient's true course; months are counted from randomization."""

    progression_month: float
    progression_by_new_lesion: bool
    nadir_ratio: float
    nadir_month: float
    growth_per_month: float
    death_month: float
    withdrawal_month: float
    targets: tuple[BaselineLesion, ...]
    non_targets: tuple[BaselineLesion, ...]

    def size_factor(self, month: float) -> float:
        """True target burden relative to baseline at ``month``."""
        if month <= 0:
            return 1.0
        if month <= self.nadir_month:
            return 1.0 - (1.0 - self.nadir_ratio) * month / self.nadir_month
        return self.nadir_ratio * math.exp(self.growth_per_month * (month - self.nadir_month))


def draw_piecewise_exponential(
    hazards: tuple[float, ...], cuts: tuple[float, ...], *, rng: np.random.Generator
) -> float:
    """A time from a piecewise-constant hazard (inverse cumulative hazard of one unit exponential)."""
    target = rng.exponential()
    start = 0.0
    for i, h in enumerate(hazards):
        end = cuts[i] if i < len(cuts) else math.inf
        span = end - start
        if target <= h * span:
            return start + target / h
        target -= h * span
        start = end
    return math.inf  # pragma: no cover - the last piece is open-ended


def simulate_course(outcome: ArmOutcome, tumour: Tumour, *, rng: np.random.Generator) -> DiseaseCourse:
    """Draw one patient's true disease course for an arm."""
    prog = draw_piecewise_exponential(outcome.progression_hazards, outcome.progression_cuts, rng=rng)
    by_new = bool(rng.random() < tumour.p_progression_by_new_lesion)
    responder = bool(rng.random() < outcome.p_response)
    nadir_ratio = float(rng.uniform(0.25, 0.62) if responder else rng.uniform(0.74, 1.02))
    nadir_month = float(min(2.8, max(0.2, 0.6 * prog)))
    growth = 0.02 if by_new else math.log(1.3) / max(prog - nadir_month, 0.25)
    pre_death = rng.exponential(1.0 / outcome.pre_progression_death_rate)
    sigma = 0.9
    post = float(np.exp(np.log(outcome.post_progression_median) + sigma * rng.standard_normal()))
    death = min(pre_death, prog + post)
    withdrawal = float(rng.exponential(1.0 / outcome.withdrawal_rate))
    targets, non_targets = _baseline_lesions(tumour, rng=rng)
    return DiseaseCourse(
        progression_month=prog,
        progression_by_new_lesion=by_new,
        nadir_ratio=nadir_ratio,
        nadir_month=nadir_month,
        growth_per_month=growth,
        death_month=float(death),
        withdrawal_month=withdrawal,
        targets=targets,
        non_targets=non_targets,
    )


def _baseline_lesions(
    tumour: Tumour, *, rng: np.random.Generator
) -> tuple[tuple[BaselineLesion, ...], tuple[BaselineLesion, ...]]:
    levels = list(tumour.n_targets_probs)
    n = int(levels[rng.choice(len(levels), p=list(tumour.n_targets_probs.values()))])
    per_organ: dict[str, int] = {}
    targets: list[BaselineLesion] = []
    while len(targets) < n:
        organ = str(ORGANS[rng.choice(len(ORGANS), p=ORGAN_WEIGHTS / ORGAN_WEIGHTS.sum())])
        if per_organ.get(organ, 0) >= 2:  # RECIST 1.1 §3.3.1: at most 2 targets per organ
            continue
        per_organ[organ] = per_organ.get(organ, 0) + 1
        nodal = organ == "lymph node"
        floor = 15.0 if nodal else 10.0
        size = max(floor, float(tumour.diameter_median_mm * tumour.diameter_gsd ** rng.standard_normal()))
        targets.append(BaselineLesion(f"T{len(targets) + 1}", organ, nodal, round(min(size, 120.0))))
    n_non = int(rng.integers(0, 3))
    non_targets = [
        BaselineLesion(f"N{i + 1}", organ, organ == "lymph node", 0.0)
        for i, organ in enumerate(rng.choice(ORGANS, size=n_non, replace=False))
    ]
    return tuple(targets), tuple(non_targets)


def scan(
    course: DiseaseCourse,
    date: dt.date,
    month: float,
    *,
    cv: float,
    rng: np.random.Generator,
    new_lesion_lag: float = 0.0,
) -> Assessment:
    """What one reader measures on a scan at ``month``: targets with reader error, non-targets, new lesions.

    ``new_lesion_lag`` (months): this reader sees progression that long late — a new lesion after it appears,
    regrowth as it was ``new_lesion_lag`` earlier (never before the nadir).

    At baseline (``month`` 0) a reader records a target only as measurable (RECIST 1.1 §3.2: ≥ 10 mm longest
    diameter, ≥ 15 mm short axis for a node), so a baseline measurement below that floor is read at the floor."""
    seen = month if month <= course.nadir_month else max(course.nadir_month, month - new_lesion_lag)
    factor = course.size_factor(seen)
    targets = []
    for lesion in course.targets:
        true = lesion.diameter_mm * factor
        measured = true * math.exp(cv * float(rng.standard_normal()))
        if month <= 0.0:
            measured = max(measured, 15.0 if lesion.nodal else 10.0)
        if lesion.nodal:
            targets.append(TargetLesion(lesion.id, lesion.organ, True, round(measured, 0)))
        elif true < 3.0:
            targets.append(TargetLesion(lesion.id, lesion.organ, False, 0.0))
        elif measured < 5.0:
            targets.append(TargetLesion(lesion.id, lesion.organ, False, None, too_small=True))
        else:
            targets.append(TargetLesion(lesion.id, lesion.organ, False, round(measured, 0)))
    non_targets = tuple(
        NonTargetLesion(
            lesion.id,
            lesion.organ,
            lesion.nodal,
            LesionStatus.PRESENT,
        )
        for lesion in course.non_targets
    )
    new = course.progression_by_new_lesion and month >= course.progression_month + new_lesion_lag
    return Assessment(date=date, target=tuple(targets), non_target=non_targets, new_lesions=new)
