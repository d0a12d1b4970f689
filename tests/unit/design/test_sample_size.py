"""Events and subjects (trialtwin.design.sample_size): Schoenfeld, Freedman, inflation factor, accrual."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from trialtwin.design import (
    DesignInputError,
    HwangShihDeCaniSpending,
    PocockSpending,
    boundary_crossing_probabilities,
    drift_for_events,
    equally_spaced,
    event_probability,
    events_for_drift,
    freedman_events,
    group_sequential_events,
    gsd_bounds,
    inflation_factor,
    schoenfeld_events,
    subjects_for_events,
)

Z_975 = 1.959963984540054
Z_90 = 1.2815515655446004
Z_80 = 0.8416212335729143


@pytest.mark.parametrize(
    ("hr", "power", "allocation", "expected"),
    [
        pytest.param(0.67, 0.9, 0.5, 262.0594487908701, id="ever-132-002 HR 0.67, 90%, 1:1"),
        pytest.param(0.5, 0.8, 0.5, 65.3456592588709, id="HR 0.5, 80%, 1:1 -> 66 events"),
        pytest.param(0.5, 0.8, 2 / 3, 65.3456592588709 * 0.25 / (2 / 9), id="2:1 costs 12.5% more"),
    ],
)
def test_schoenfeld_by_hand(hr: float, power: float, allocation: float, expected: float) -> None:
    """Schoenfeld (1981, Biometrika 68:316): d = (z_{1−α} + z_{1−β})² / (r(1 − r) ln²HR), one-sided α = 0.025.
    By hand: HR 0.67: (1.959964 + 1.281552)² = 10.50742; ln² 0.67 = 0.160383; / 0.25 → 262.06.
    HR 0.5, 80%: (1.959964 + 0.841621)² · 4 / ln² 2 = 65.35 (the textbook 66 events)."""
    z = Z_975 + (Z_90 if power == 0.9 else Z_80)
    closed = z**2 / (allocation * (1 - allocation) * math.log(hr) ** 2)
    assert closed == pytest.approx(expected, rel=1e-12)
    assert schoenfeld_events(hr, power=power, allocation=allocation) == pytest.approx(expected, rel=1e-12)
    assert math.ceil(schoenfeld_events(0.5, power=0.8)) == 66


def test_schoenfeld_symmetric_in_allocation_and_hr() -> None:
    """r(1 − r) and ln²HR are symmetric: r ↔ 1 − r and HR ↔ 1/HR give the same events."""
    assert schoenfeld_events(0.7, allocation=0.6) == pytest.approx(schoenfeld_events(0.7, allocation=0.4))
    assert schoenfeld_events(0.7) == pytest.approx(schoenfeld_events(1 / 0.7))


@pytest.mark.parametrize(
    ("hr", "allocation", "expected"),
    [
        pytest.param(0.5, 0.5, (Z_975 + Z_80) ** 2 * 9, id="1:1: (1+HR)^2/(1-HR)^2 = 9 -> 70.64 (71 events)"),
        pytest.param(0.5, 2 / 3, (Z_975 + Z_80) ** 2 * 8, id="2:1: (1+2*0.5)^2/(2*0.25) = 8 -> 62.79"),
    ],
)
def test_freedman_by_hand(hr: float, allocation: float, expected: float) -> None:
    """Freedman (1982, Stat Med 1:121): d = (z_{1−α} + z_{1−β})² (1 + r'HR)² / (r'(1 − HR)²), r' = E:C ratio."""
    assert freedman_events(hr, power=0.8, allocation=allocation) == pytest.approx(expected, rel=1e-12)


def test_freedman_1_to_1_above_schoenfeld_and_rounds_to_71() -> None:
    assert math.ceil(freedman_events(0.5, power=0.8)) == 71
    for hr in (0.5, 0.67, 0.8):
        assert freedman_events(hr) > schoenfeld_events(hr)


def test_freedman_allocation_ratio_direction() -> None:
    """With HR < 1 the experimental arm has fewer deaths, so Freedman favours allocating more to it (r' > 1)."""
    assert freedman_events(0.6, allocation=2 / 3) < freedman_events(0.6, allocation=1 / 3)


def test_drift_and_events_are_inverse() -> None:
    """θ = −ln(HR)√(d r(1 − r)); at the Schoenfeld events θ = z_{1−α} + z_{1−β}."""
    d = schoenfeld_events(0.67)
    assert drift_for_events(0.67, d) == pytest.approx(Z_975 + Z_90, rel=1e-12)
    assert events_for_drift(drift_for_events(0.67, 300.0, allocation=0.6), 0.67, allocation=0.6) == pytest.approx(300)


def test_inflation_factor_single_look_is_one() -> None:
    assert inflation_factor([1.0]) == pytest.approx(1.0, abs=1e-9)


def test_inflation_factor_ordering() -> None:
    """Pocock-type spending costs more than O'Brien–Fleming type; more looks cost more (J&T §2.5)."""
    obf2, obf4 = inflation_factor(equally_spaced(2)), inflation_factor(equally_spaced(4))
    poc2 = inflation_factor(equally_spaced(2), spending=PocockSpending())
    assert 1.0 < obf2 < obf4 < poc2
    with_futility = inflation_factor(equally_spaced(2), beta_spending=HwangShihDeCaniSpending(-2))
    assert with_futility > obf2


def test_group_sequential_events() -> None:
    """Events of the GSD = Schoenfeld events × inflation factor; at those events the drift gives the target power."""
    t = [0.5, 0.75, 1.0]
    design = group_sequential_events(0.67, t, beta_spending=HwangShihDeCaniSpending(-2))
    assert design.final_events == pytest.approx(
        schoenfeld_events(0.67) * inflation_factor(t, beta_spending=HwangShihDeCaniSpending(-2))
    )
    assert design.events is not None
    np.testing.assert_allclose(design.events, np.array(t) * design.final_events)
    theta = drift_for_events(0.67, design.final_events)
    power = boundary_crossing_probabilities(design.efficacy, t, theta, futility=design.futility).total_upper
    assert power == pytest.approx(0.9, abs=1e-8)
    hr = design.efficacy_hr
    assert hr is not None
    assert np.all(np.diff(hr) > 0)  # later looks accept a weaker observed effect
    assert 0.67 < hr[-1] < 1.0


def test_group_sequential_events_rejects_harmful_hr() -> None:
    with pytest.raises(DesignInputError, match="hr"):
        group_sequential_events(1.3, [0.5, 1.0])


def test_event_probability_closed_forms() -> None:
    """No accrual period: P = 1 − e^{−λF}. With drop-out η: λ/(λ+η)(1 − e^{−(λ+η)F}) (competing exponentials)."""
    assert event_probability(0.1, accrual=0.0, follow_up=10.0) == pytest.approx(1 - math.exp(-1.0), rel=1e-14)
    assert event_probability(0.1, accrual=0.0, follow_up=10.0, dropout_hazard=0.02) == pytest.approx(
        0.1 / 0.12 * (1 - math.exp(-1.2)), rel=1e-14
    )


@pytest.mark.parametrize(("hazard", "accrual", "follow_up", "dropout"), [(0.1155, 24, 12, 0.0), (0.05, 18, 6, 0.01)])
def test_event_probability_matches_numerical_average(
    hazard: float, accrual: float, follow_up: float, dropout: float
) -> None:
    """Lachin & Foulkes (1986) uniform entry: the closed form equals the average over follow-up s ~ U[F, A + F]
    of λ/(λ+η)(1 − e^{−(λ+η)s}), integrated numerically."""
    c = hazard + dropout

    def integrand(s: float) -> float:
        return hazard / c * (1 - math.exp(-c * s))

    numeric = integrate.quad(integrand, follow_up, accrual + follow_up)[0] / accrual
    assert event_probability(hazard, accrual=accrual, follow_up=follow_up, dropout_hazard=dropout) == pytest.approx(
        numeric, rel=1e-10
    )


def test_subjects_for_events_by_hand() -> None:
    """N = d / (r P_E + (1 − r) P_C) with λ_C = ln 2 / median, λ_E = HR λ_C; no accrual period, F = one median:
    P_C = 1/2, P_E = 1 − 2^{−HR}; HR 0.5: N = 100 / (0.25 + 0.5(1 − 2^{−1/2}))."""
    n = subjects_for_events(100, control_median=6.0, hr=0.5, accrual=0.0, follow_up=6.0)
    assert n == pytest.approx(100 / (0.25 + 0.5 * (1 - 2**-0.5)), rel=1e-12)
    longer = subjects_for_events(100, control_median=6.0, hr=0.5, accrual=0.0, follow_up=12.0)
    assert longer < n


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: schoenfeld_events(1.0), "hr", id="hr-one"),
        pytest.param(lambda: schoenfeld_events(-0.5), "hr", id="hr-negative"),
        pytest.param(lambda: schoenfeld_events("x"), "hr", id="hr-text"),  # type: ignore[arg-type]
        pytest.param(lambda: schoenfeld_events(0.7, alpha=1.0), "alpha", id="alpha-one"),
        pytest.param(lambda: freedman_events(0.7, power=0.0), "power", id="power-zero"),
        pytest.param(lambda: freedman_events(0.7, allocation=0.0), "allocation", id="allocation-zero"),
        pytest.param(lambda: drift_for_events(0.7, 0.0), "events", id="events-zero"),
        pytest.param(lambda: event_probability(0.1, accrual=0.0, follow_up=0.0), "at least one", id="no-time"),
        pytest.param(lambda: event_probability(0.0, accrual=1.0, follow_up=1.0), "hazard", id="hazard-zero"),
        pytest.param(lambda: event_probability(0.1, accrual=-1.0, follow_up=1.0), "accrual", id="accrual-negative"),
        pytest.param(
            lambda: subjects_for_events(100, control_median=0, hr=0.7, accrual=12, follow_up=6), "control_median"
        ),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    """Bad input is a DesignInputError (TrialtwinError: CLI exit 2) naming the argument."""
    with pytest.raises(DesignInputError, match=message):
        call()  # type: ignore[operator]


def test_schoenfeld_matches_gsd_single_look() -> None:
    """The one-look design's drift is exactly the Schoenfeld drift: the two modules agree."""
    design = gsd_bounds([1.0], power=0.8)
    assert events_for_drift(design.drift, 0.5) == pytest.approx(schoenfeld_events(0.5, power=0.8), rel=1e-8)
    assert stats.norm.sf(design.efficacy[0]) == pytest.approx(0.025, abs=1e-12)
