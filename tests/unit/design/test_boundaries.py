"""Group-sequential bounds (trialtwin.design.boundaries): special cases by hand, design properties, bad input.

Reference values against published tables and other software are in tests/validation/test_gsd_reference.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trialtwin.design import (
    OBRIEN_FLEMING,
    CrossingProbabilities,
    DesignInputError,
    HwangShihDeCaniSpending,
    OBrienFlemingSpending,
    PocockSpending,
    WangTsiatis,
    boundary_crossing_probabilities,
    equally_spaced,
    gsd_bounds,
    information_fractions_from_events,
)
from trialtwin.protocol.errors import TrialtwinError

Z_975 = float(stats.norm.ppf(0.975))
Z_90 = float(stats.norm.ppf(0.9))


def test_single_look_is_the_fixed_design() -> None:
    """K = 1: the bound is z_{1−α} = 1.959964 and the drift for 90% power is z_{1−α} + z_{0.9} (Schoenfeld 1981)."""
    design = gsd_bounds([1.0])
    assert design.efficacy[0] == pytest.approx(Z_975, abs=1e-9)
    assert design.drift == pytest.approx(Z_975 + Z_90, abs=1e-8)
    assert design.power == pytest.approx(0.9, abs=1e-10)
    assert not design.has_futility


@pytest.mark.parametrize("drift", [0.0, 1.0, 3.0])
def test_first_look_crossing_is_a_normal_tail(drift: float) -> None:
    """Look 1 alone: P(Z₁ ≥ b) = 1 − Φ(b − θ√t₁), Z₁ ~ N(θ√t₁, 1) (canonical joint distribution, J&T §3.1)."""
    res = boundary_crossing_probabilities([2.5, 2.0], [0.4, 1.0], drift)
    assert res.upper[0] == pytest.approx(stats.norm.sf(2.5 - drift * math.sqrt(0.4)), rel=1e-12)


def test_two_looks_match_the_bivariate_normal() -> None:
    """K = 2: P(Z₁ < b₁, Z₂ ≥ b₂) with corr √(t₁/t₂) from scipy's bivariate normal CDF (1e-8)."""
    t1, b1, b2, theta = 0.5, 2.5, 2.0, 1.5
    mean = theta * np.sqrt([t1, 1.0])
    cov = [[1.0, math.sqrt(t1)], [math.sqrt(t1), 1.0]]
    both_below = stats.multivariate_normal.cdf([b1, b2], mean=mean, cov=cov, abseps=1e-12, releps=1e-12)
    expected = stats.norm.cdf(b1 - mean[0]) - both_below
    res = boundary_crossing_probabilities([b1, b2], [t1, 1.0], theta)
    assert res.upper[1] == pytest.approx(expected, abs=1e-8)


def test_alpha_spent_follows_the_spending_function() -> None:
    """Lan & DeMets (1983): the cumulative type I error at each look equals α(t_k), even at unplanned fractions."""
    t = [0.23, 0.51, 0.68, 1.0]
    design = gsd_bounds(t, spending=PocockSpending())
    np.testing.assert_allclose(design.alpha_spent, PocockSpending().spend(t, 0.025), atol=1e-9)


def test_interim_only_fractions_spend_part_of_alpha() -> None:
    """A last fraction below 1 describes the looks so far: α spent is α(t_K) < α, bounds unchanged by later looks."""
    part = gsd_bounds([0.3, 0.6], drift=2.0)
    whole = gsd_bounds([0.3, 0.6, 1.0], drift=2.0)
    np.testing.assert_allclose(part.efficacy, whole.efficacy[:2], atol=1e-9)
    assert part.type_one_error == pytest.approx(float(OBrienFlemingSpending().spend(0.6, 0.025)), abs=1e-9)


def test_futility_is_non_binding() -> None:
    """Non-binding futility (gsDesign test.type = 4): efficacy bounds do not depend on the futility bounds, and the
    type I error with futility obeyed is below α."""
    t = equally_spaced(3)
    plain = gsd_bounds(t)
    with_fut = gsd_bounds(t, beta_spending=HwangShihDeCaniSpending(-2))
    np.testing.assert_allclose(with_fut.efficacy, plain.efficacy, atol=1e-12)
    assert with_fut.type_one_error == pytest.approx(0.025, abs=1e-9)
    assert with_fut.h0.total_upper < 0.025
    assert with_fut.futility[-1] == with_fut.efficacy[-1]
    assert with_fut.power == pytest.approx(0.9, abs=1e-9)
    assert with_fut.drift > plain.drift  # futility costs power, so more information is needed


def test_given_drift_gives_actual_power() -> None:
    """With the drift given, the bounds are the same and the reported power is whatever that drift gives."""
    design = gsd_bounds(equally_spaced(2), drift=2.0)
    assert design.drift == 2.0
    assert design.power == pytest.approx(design.crossing(2.0).total_upper)
    assert design.power < 0.6


def test_power_increases_with_drift() -> None:
    design = gsd_bounds(equally_spaced(4))
    powers = [design.crossing(theta).total_upper for theta in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert powers[0] == pytest.approx(0.025, abs=1e-9)
    assert np.all(np.diff(powers) > 0)


def test_stopping_probabilities_and_expected_information() -> None:
    """Per-look stopping probabilities sum to 1; E[t at stop] lies between t₁ and 1 and falls as θ grows."""
    design = gsd_bounds(equally_spaced(3), beta_spending=HwangShihDeCaniSpending(-2))
    for res in (design.h0, design.h1):
        assert res.stop.sum() == pytest.approx(1.0, abs=1e-12)
        assert 1 / 3 < res.expected_information < 1.0
    assert design.crossing(2 * design.drift).expected_information < design.h1.expected_information


def test_wang_tsiatis_families() -> None:
    """Wang & Tsiatis (1987): Δ = 0 is O'Brien–Fleming (bounds ∝ 1/√t), Δ = 0.5 Pocock (flat), each at level α."""
    t = equally_spaced(4)
    obf = gsd_bounds(t, spending=OBRIEN_FLEMING)
    assert obf.efficacy[0] / obf.efficacy[-1] == pytest.approx(2.0)
    mid = gsd_bounds(t, spending=WangTsiatis(0.25))
    assert mid.type_one_error == pytest.approx(0.025, abs=1e-9)
    assert mid.efficacy[0] / mid.efficacy[-1] == pytest.approx(0.25**-0.25)


def test_information_fractions_from_events() -> None:
    np.testing.assert_allclose(information_fractions_from_events([116, 174, 232]), [0.5, 0.75, 1.0])
    np.testing.assert_allclose(equally_spaced(4), [0.25, 0.5, 0.75, 1.0])


def test_summary_with_events_and_hazard_ratios() -> None:
    """HR at a bound: exp(−z/√(d_k r(1 − r))) (Schoenfeld 1981); nominal p 1 − Φ(z)."""
    design = gsd_bounds([0.5, 1.0], final_events=262.0, beta_spending=HwangShihDeCaniSpending(-2))
    frame = design.summary
    assert list(frame.index) == [1, 2]
    assert {"events", "efficacy_z", "efficacy_p", "efficacy_hr", "alpha_spent", "futility_z", "futility_hr"} <= set(
        frame.columns
    )
    assert frame.loc[1, "events"] == pytest.approx(131.0)
    assert frame.loc[2, "efficacy_hr"] == pytest.approx(math.exp(-design.efficacy[1] / math.sqrt(262.0 / 4)))
    assert frame.loc[1, "efficacy_p"] == pytest.approx(stats.norm.sf(design.efficacy[0]))
    assert frame.loc[2, "power_cumulative"] == pytest.approx(0.9, abs=1e-9)
    assert frame["efficacy_h0"].sum() == pytest.approx(0.025, abs=1e-9)
    assert "non-binding" in frame.attrs["footnote"]


def test_summary_without_futility_or_events() -> None:
    frame = gsd_bounds([0.5, 1.0]).summary
    assert "futility_z" not in frame.columns
    assert "events" not in frame.columns
    assert "no futility bound" in frame.attrs["footnote"]


def test_fixed_futility_bounds_shown_where_given() -> None:
    design = gsd_bounds([0.3, 0.6, 1.0], power=0.8, futility_bounds=[0.0, -math.inf])
    fut = design.summary["futility_z"].to_numpy()
    assert fut[0] == 0.0
    assert np.isnan(fut[1])
    assert fut[2] == design.efficacy[2]


def test_crossing_probabilities_result() -> None:
    """With a_K = b_K every path stops: the probabilities add to 1 up to the Simpson error (J&T ch. 19: about
    1e-9 with r = 18, falling as r⁻⁴)."""
    res = boundary_crossing_probabilities([3.0, 2.0], [0.5, 1.0], 0.0, futility=[0.0, 2.0])
    assert isinstance(res, CrossingProbabilities)
    assert res.total_upper + res.total_lower == pytest.approx(1.0, abs=3e-9)
    assert res.lower[0] == pytest.approx(0.5, abs=1e-12)
    fine = boundary_crossing_probabilities([3.0, 2.0], [0.5, 1.0], 0.0, futility=[0.0, 2.0], grid_points=48)
    assert fine.total_upper + fine.total_lower == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"information_fractions": []}, "non-empty", id="no-looks"),
        pytest.param({"information_fractions": [0.5, 0.5, 1.0]}, "increase strictly", id="not-increasing"),
        pytest.param({"information_fractions": [0.0, 1.0]}, r"\(0, 1\]", id="zero-fraction"),
        pytest.param({"information_fractions": [0.5, 1.2]}, r"\(0, 1\]", id="above-one"),
        pytest.param({"information_fractions": ["a", 1.0]}, "numbers", id="text"),
        pytest.param({"information_fractions": [0.5, 1.0], "alpha": 0.0}, "alpha", id="alpha-zero"),
        pytest.param({"information_fractions": [0.5, 1.0], "power": 1.0}, "power", id="power-one"),
        pytest.param({"information_fractions": [0.5, 1.0], "power": 0.01}, "power", id="power-below-alpha"),
        pytest.param({"information_fractions": [0.5, 1.0], "allocation": 1.0}, "allocation", id="allocation"),
        pytest.param({"information_fractions": [0.5, 1.0], "grid_points": 0}, "grid_points", id="grid"),
        pytest.param({"information_fractions": [0.5, 1.0], "drift": math.nan}, "drift", id="drift-nan"),
        pytest.param({"information_fractions": [0.5, 1.0], "final_events": -3}, "final_events", id="events"),
        pytest.param({"information_fractions": [0.5, 1.0], "spending": "obf"}, "spending", id="spending-text"),
        pytest.param(
            {"information_fractions": [0.5, 1.0], "beta_spending": WangTsiatis(0.0)}, "beta_spending", id="beta-wt"
        ),
        pytest.param(
            {
                "information_fractions": [0.5, 1.0],
                "beta_spending": HwangShihDeCaniSpending(-2),
                "futility_bounds": [0.0],
            },
            "not both",
            id="two-futility-rules",
        ),
        pytest.param(
            {"information_fractions": [0.5, 1.0], "futility_bounds": [3.5]}, "at or below", id="futility-above"
        ),
        pytest.param({"information_fractions": [0.5, 1.0], "futility_bounds": [0, 0, 0]}, "one z value", id="len"),
    ],
)
def test_bad_input(kwargs: dict[str, object], message: str) -> None:
    """Bad input raises DesignInputError (a TrialtwinError: the CLI exits 2) naming the argument."""
    t = kwargs.pop("information_fractions")
    with pytest.raises(TrialtwinError, match=message):
        gsd_bounds(t, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: equally_spaced(0), "looks", id="looks-zero"),
        pytest.param(lambda: information_fractions_from_events([10, 5]), "increase", id="events-decrease"),
        pytest.param(lambda: information_fractions_from_events([0, 5]), "positive", id="events-zero"),
        pytest.param(lambda: WangTsiatis(2.0), "delta", id="delta-range"),
        pytest.param(lambda: boundary_crossing_probabilities([2.0], [1.0], 0.0, futility=[2.5]), "futility", id="a>b"),
        pytest.param(lambda: boundary_crossing_probabilities([math.nan], [1.0]), "NaN", id="nan-bound"),
    ],
)
def test_bad_helper_input(call: object, message: str) -> None:
    with pytest.raises(DesignInputError, match=message):
        call()  # type: ignore[operator]
