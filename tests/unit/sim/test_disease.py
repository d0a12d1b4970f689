"""The latent disease model of the twin."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from trialtwin.engine.recist.lesions import MAX_TARGETS, MAX_TARGETS_PER_ORGAN
from trialtwin.sim.disease import draw_piecewise_exponential, scan, simulate_course
from trialtwin.sim.scenario import ArmOutcome, Tumour


def test_piecewise_exponential_matches_its_survival_function() -> None:
    """S(t) = exp(-H(t)) with H piecewise linear; checked at 2, 4 and 8 months over 40,000 draws (MC error < 0.005)."""
    rng = np.random.default_rng(1)
    hazards, cuts = (0.1, 0.3, 0.05), (3.0, 6.0)
    draws = np.array([draw_piecewise_exponential(hazards, cuts, rng=rng) for _ in range(40_000)])

    def survival(t: float) -> float:
        h = 0.1 * min(t, 3) + 0.3 * max(0.0, min(t, 6) - 3) + 0.05 * max(0.0, t - 6)
        return math.exp(-h)

    for t in (2.0, 4.0, 8.0):
        assert abs(float(np.mean(draws > t)) - survival(t)) < 0.01


def test_baseline_lesions_respect_recist_selection() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        course = simulate_course(ArmOutcome(), Tumour(), rng=rng)
        assert 1 <= len(course.targets) <= MAX_TARGETS
        organs = [t.organ for t in course.targets]
        assert max(organs.count(o) for o in organs) <= MAX_TARGETS_PER_ORGAN
        for t in course.targets:
            assert t.diameter_mm >= (15 if t.nodal else 10)


def test_course_regrows_30_percent_above_nadir_at_progression() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        course = simulate_course(ArmOutcome(), Tumour(p_progression_by_new_lesion=0.0), rng=rng)
        if course.progression_month > course.nadir_month + 0.25:
            ratio = course.size_factor(course.progression_month) / course.nadir_ratio
            assert abs(ratio - 1.3) < 1e-9


def test_new_lesion_appears_only_after_progression() -> None:
    rng = np.random.default_rng(4)
    course = simulate_course(ArmOutcome(), Tumour(p_progression_by_new_lesion=1.0), rng=rng)
    before = scan(course, dt.date(2021, 1, 1), course.progression_month * 0.9, cv=0.0, rng=rng)
    after = scan(course, dt.date(2021, 6, 1), course.progression_month + 0.01, cv=0.0, rng=rng)
    assert not before.new_lesions and after.new_lesions


def test_baseline_measurements_are_measurable_under_reader_error() -> None:
    """RECIST 1.1 §3.2: a reader records a target at baseline only if measurable (≥ 10 mm, nodes ≥ 15 mm short
    axis), so even a large reader error (CV 30 %) never yields a baseline target below the floor; the engine's
    checked assessment accepts every baseline."""
    from trialtwin.engine.recist import RecistRecord, assess_recist

    rng = np.random.default_rng(5)
    for _ in range(300):
        course = simulate_course(ArmOutcome(), Tumour(), rng=rng)
        baseline = scan(course, dt.date(2021, 1, 1), 0.0, cv=0.3, rng=rng)
        for t in baseline.target:
            assert t.diameter_mm is not None and t.diameter_mm >= (15 if t.nodal else 10)
        assess_recist(RecistRecord(randomized=dt.date(2021, 1, 2), assessments=(baseline,)), check=True)
