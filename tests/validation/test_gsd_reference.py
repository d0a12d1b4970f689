"""Group-sequential boundaries against published tables, reference software output and two independent methods.

Published tables (two-sided symmetric tests, α = 0.05, K equally spaced looks; the one-sided α = 0.025 constants
agree to 4 decimals and are checked too):

- Jennison C, Turnbull BW (2000) *Group Sequential Methods with Applications to Clinical Trials*, Table 2.1
  (Pocock 1977 tests, constant C_P(K, α)): K = 2 2.178, 3 2.289, 4 2.361, 5 2.413; maximum sample size relative
  to the fixed design R_P(K, α, β): β = 0.2: 1.110, 1.166, 1.202, 1.229; β = 0.1: 1.100, 1.151, 1.183, 1.207.
- Jennison & Turnbull (2000) Table 2.3 (O'Brien & Fleming 1979 tests; final-look constant C_B(K, α), bound at
  look k C_B·√(K/k)): K = 2 1.977, 3 2.004, 4 2.024, 5 2.040; R_B(K, α, β): β = 0.2: 1.008, 1.017, 1.024,
  1.028; β = 0.1: 1.007, 1.016, 1.022, 1.026.

Reference software (one-sided α = 0.025):

- Lan–DeMets O'Brien–Fleming-type spending, equally spaced (gsDesign ``sfLDOF``, rpact ``asOF``): K = 2 2.963,
  1.969; K = 3 3.710, 2.511, 1.993; K = 4 4.333, 2.963, 2.359, 2.014; K = 5 4.877, 3.357, 2.680, 2.290, 2.031.
- gsDesign's default design ``gsDesign()`` (K = 3, HSD γ = −4 alpha spending, HSD γ = −2 beta spending,
  β = 0.1, non-binding): efficacy 3.01, 2.55, 2.00; futility −0.24, 0.94, 2.00; inflation factor 1.07.
- rpact ``getDesignGroupSequential(sided = 1, alpha = 0.025, beta = 0.2, informationRates = c(0.3, 0.6, 1),
  typeOfDesign = "asOF", futilityBounds = c(0, -Inf), bindingFutility = FALSE)``, summary as printed in the
  rpact training slides (rpact.com, "Design specification", 2026): inflation factor 1.0718, ASN H1 0.8826,
  ASN H01 0.8852, ASN H0 0.695 (relative to the fixed design), cumulative alpha spent 0.0038 at stage 2.

Independent methods: scipy's multivariate normal CDF (Genz) on the canonical covariance √(t_j/t_k), the same
integration on a finer grid (r = 32), and Monte Carlo of the canonical process (200 000 seeded paths).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from trialtwin.design import (
    OBRIEN_FLEMING,
    POCOCK,
    GroupSequentialDesign,
    HwangShihDeCaniSpending,
    OBrienFlemingSpending,
    PocockSpending,
    PowerSpending,
    SpendingFunction,
    boundary_crossing_probabilities,
    equally_spaced,
    gsd_bounds,
    inflation_factor,
    wang_tsiatis_constant,
)

Z_975 = float(stats.norm.ppf(0.975))

JT_POCOCK_C = {2: 2.178, 3: 2.289, 4: 2.361, 5: 2.413}
JT_OBF_C = {2: 1.977, 3: 2.004, 4: 2.024, 5: 2.040}
JT_POCOCK_R = {0.2: {2: 1.110, 3: 1.166, 4: 1.202, 5: 1.229}, 0.1: {2: 1.100, 3: 1.151, 4: 1.183, 5: 1.207}}
JT_OBF_R = {0.2: {2: 1.008, 3: 1.017, 4: 1.024, 5: 1.028}, 0.1: {2: 1.007, 3: 1.016, 4: 1.022, 5: 1.026}}
LDOF = {
    2: [2.963, 1.969],
    3: [3.710, 2.511, 1.993],
    4: [4.333, 2.963, 2.359, 2.014],
    5: [4.877, 3.357, 2.680, 2.290, 2.031],
}


def _round3(x: npt.ArrayLike) -> list[float]:
    return [round(float(v), 3) for v in np.atleast_1d(np.asarray(x))]


# ------------------------------------------------------------------------------------ published tables


@pytest.mark.parametrize("looks", [2, 3, 4, 5])
@pytest.mark.parametrize("sides", [2, 1])
def test_pocock_constant_jennison_turnbull_table_2_1(looks: int, sides: int) -> None:
    """Jennison & Turnbull (2000) Table 2.1, C_P(K, 0.05): two-sided α = 0.05 (and one-sided 0.025) to 3 decimals."""
    alpha = 0.05 if sides == 2 else 0.025
    c = wang_tsiatis_constant(equally_spaced(looks), 0.5, alpha=alpha, sides=sides)
    assert round(c, 3) == JT_POCOCK_C[looks]


@pytest.mark.parametrize("looks", [2, 3, 4, 5])
@pytest.mark.parametrize("sides", [2, 1])
def test_obrien_fleming_constant_jennison_turnbull_table_2_3(looks: int, sides: int) -> None:
    """Jennison & Turnbull (2000) Table 2.3, C_B(K, 0.05): two-sided α = 0.05 (and one-sided 0.025) to 3 decimals."""
    alpha = 0.05 if sides == 2 else 0.025
    c = wang_tsiatis_constant(equally_spaced(looks), 0.0, alpha=alpha, sides=sides)
    assert round(c, 3) == JT_OBF_C[looks]


@pytest.mark.parametrize("looks", [2, 3, 4, 5])
def test_classical_designs_bound_shapes(looks: int) -> None:
    """O'Brien & Fleming (1979): look k bound C_B·√(K/k); Pocock (1977): C_P at every look (J&T Tables 2.1/2.3)."""
    t = equally_spaced(looks)
    k = np.arange(1, looks + 1)
    obf = gsd_bounds(t, spending=OBRIEN_FLEMING)
    assert obf.constant is not None
    np.testing.assert_allclose(obf.efficacy, obf.constant * np.sqrt(looks / k), rtol=1e-12)
    assert _round3(obf.efficacy[-1]) == [JT_OBF_C[looks]]
    poc = gsd_bounds(t, spending=POCOCK)
    assert _round3(poc.efficacy) == [JT_POCOCK_C[looks]] * looks
    assert poc.type_one_error == pytest.approx(0.025, abs=1e-9)


@pytest.mark.parametrize("beta", [0.2, 0.1])
@pytest.mark.parametrize("looks", [2, 3, 4, 5])
def test_maximum_sample_size_ratio_jennison_turnbull(looks: int, beta: float) -> None:
    """Jennison & Turnbull (2000) Tables 2.1 (R_P) and 2.3 (R_B): maximum information over the fixed design's for
    the two-sided α = 0.05 tests at power 1 − β (the lower-boundary crossing under θ > 0 is below 1e-6)."""
    t = equally_spaced(looks)
    z_fixed = Z_975 + float(stats.norm.ppf(1.0 - beta))
    for delta, table in ((0.5, JT_POCOCK_R), (0.0, JT_OBF_R)):
        c = wang_tsiatis_constant(t, delta, alpha=0.05, sides=2)
        bounds = c * t ** (delta - 0.5)
        design = gsd_bounds(t, power=1.0 - beta, spending=OBRIEN_FLEMING if delta == 0.0 else POCOCK)
        np.testing.assert_allclose(design.efficacy, bounds, atol=1e-5)  # one- and two-sided constants agree
        assert round((design.drift / z_fixed) ** 2, 3) == table[beta][looks]


# ---------------------------------------------------------------------------- reference software output


@pytest.mark.parametrize("looks", [2, 3, 4, 5])
def test_lan_demets_obrien_fleming_gsdesign_rpact(looks: int) -> None:
    """gsDesign sfLDOF / rpact asOF, one-sided α = 0.025, equally spaced: bounds to 3 decimals (module docstring)."""
    design = gsd_bounds(equally_spaced(looks))
    assert _round3(design.efficacy) == LDOF[looks]
    assert design.alpha_spent[-1] == pytest.approx(0.025, abs=1e-9)


def test_gsdesign_default_design() -> None:
    """gsDesign() defaults: K = 3, HSD(−4) alpha and HSD(−2) beta spending, β = 0.1, non-binding futility:
    efficacy 3.01, 2.55, 2.00; futility −0.24, 0.94, 2.00; inflation factor 1.07."""
    design = gsd_bounds(
        equally_spaced(3), spending=HwangShihDeCaniSpending(-4), beta_spending=HwangShihDeCaniSpending(-2)
    )
    assert [round(float(b), 2) for b in design.efficacy] == [3.01, 2.55, 2.00]
    assert [round(float(a), 2) for a in design.futility] == [-0.24, 0.94, 2.00]
    assert round((design.drift / (Z_975 + stats.norm.ppf(0.9))) ** 2, 2) == 1.07
    assert design.power == pytest.approx(0.9, abs=1e-9)
    # beta spending: futility crossing probabilities under H1 are the HSD(−2) increments
    spent = HwangShihDeCaniSpending(-2).spend(equally_spaced(3), 0.1)
    np.testing.assert_allclose(np.cumsum(design.h1.lower), spent, atol=1e-9)


def test_rpact_asof_with_fixed_futility_bound() -> None:
    """rpact getDesignGroupSequential(asOF, informationRates 0.3/0.6/1, futilityBounds c(0, -Inf), non-binding,
    β = 0.2) → inflation factor 1.0718, ASN H1 0.8826, ASN H01 0.8852, ASN H0 0.695, alpha spent 0.0038 at
    stage 2 (rpact training slides, module docstring)."""
    t = [0.3, 0.6, 1.0]
    design = gsd_bounds(t, power=0.8, futility_bounds=[0.0, -math.inf])
    z_fixed = Z_975 + float(stats.norm.ppf(0.8))
    inflation = (design.drift / z_fixed) ** 2
    assert round(inflation, 4) == 1.0718
    assert round(inflation * design.h1.expected_information, 4) == 0.8826
    assert round(inflation * design.crossing(design.drift / 2.0).expected_information, 4) == 0.8852
    assert round(inflation * design.h0.expected_information, 3) == 0.695
    assert round(float(design.alpha_spent[1]), 4) == 0.0038
    assert inflation_factor(t, power=0.8, futility_bounds=[0.0, -math.inf]) == pytest.approx(inflation)


# ---------------------------------------------------------------------------- independent cross-checks


CASES: list[tuple[str, list[float], SpendingFunction]] = [
    ("ldof-k2", [0.5, 1.0], OBrienFlemingSpending()),
    ("ldof-k5", list(equally_spaced(5)), OBrienFlemingSpending()),
    ("pocock-unequal", [0.25, 0.45, 0.8, 1.0], PocockSpending()),
    ("hsd-4", [0.3, 0.6, 1.0], HwangShihDeCaniSpending(-4)),
    ("hsd+1-k5", [0.15, 0.4, 0.55, 0.7, 1.0], HwangShihDeCaniSpending(1)),
    ("power3", [0.5, 0.75, 1.0], PowerSpending(3)),
]


def _mvn_upper(bounds: npt.NDArray[np.float64], t: npt.NDArray[np.float64], drift: float) -> float:
    """P(Z_j ≥ b_j for some j) from scipy's multivariate normal CDF (Genz), canonical covariance."""
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    cdf = stats.multivariate_normal.cdf(
        bounds, mean=drift * np.sqrt(t), cov=cov, abseps=1e-9, releps=1e-9, maxpts=400_000, rng=1
    )
    return 1.0 - float(cdf)


@pytest.mark.parametrize(("name", "t", "spending"), CASES, ids=[c[0] for c in CASES])
def test_cumulative_alpha_matches_scipy_multivariate_normal(
    name: str, t: list[float], spending: SpendingFunction
) -> None:
    """Independent method: 1 − Φ_k(b_1..b_k; canonical covariance) equals α(t_k) at every look, and the power at
    the solved drift equals the target power. Tolerance: scipy's quasi-Monte Carlo error, 2e-6 up to 3
    dimensions, 1e-5 in 4–5 (seen: up to 5e-6 with 400 000 points); the finer-grid check below is tighter."""
    design = gsd_bounds(t, spending=spending)
    tt = design.information_fractions
    target = spending.spend(tt, 0.025)
    for k in range(1, tt.size + 1):
        tol = 2e-6 if k <= 3 else 1e-5
        assert _mvn_upper(design.efficacy[:k], tt[:k], 0.0) == pytest.approx(target[k - 1], abs=tol)
    tol = 2e-6 if tt.size <= 3 else 1e-5
    assert _mvn_upper(design.efficacy, tt, design.drift) == pytest.approx(0.9, abs=tol)


def test_lan_demets_k2_closed_form_first_look() -> None:
    """K = 2 at t = 0.5: b₁ = z at the upper tail α(0.5) = 2(1 − Φ(z_{0.9875}/√0.5)), exactly (single normal)."""
    design = gsd_bounds([0.5, 1.0])
    assert design.efficacy[0] == pytest.approx(stats.norm.isf(OBrienFlemingSpending().spend(0.5, 0.025)), abs=1e-9)
    assert _round3(design.efficacy) == [2.963, 1.969]


@pytest.mark.parametrize(("name", "t", "spending"), CASES, ids=[c[0] for c in CASES])
def test_h0_crossing_sums_to_alpha_on_a_finer_grid(name: str, t: list[float], spending: SpendingFunction) -> None:
    """The bounds found with r = 18 give Σ_k P₀(cross at k) = α to 1e-6 when integrated afresh with r = 32, and the
    bounds found with r = 32 agree with r = 18 to 1e-6."""
    design = gsd_bounds(t, spending=spending)
    fine = boundary_crossing_probabilities(design.efficacy, t, 0.0, grid_points=32)
    assert fine.total_upper == pytest.approx(0.025, abs=1e-6)
    np.testing.assert_allclose(fine.upper, np.diff(spending.spend(t, 0.025), prepend=0.0), atol=1e-7)
    np.testing.assert_allclose(gsd_bounds(t, spending=spending, grid_points=32).efficacy, design.efficacy, atol=1e-6)


# ----------------------------------------------------------------------------------------- Monte Carlo


def _first_stop(
    design: GroupSequentialDesign, drift: float, n: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Simulate n canonical paths (independent score increments) and count first stops per look and side."""
    t = design.information_fractions
    dt = np.diff(t, prepend=0.0)
    rng = np.random.default_rng(seed)
    score = np.cumsum(rng.standard_normal((n, t.size)) * np.sqrt(dt) + drift * dt, axis=1)
    z = score / np.sqrt(t)
    up, lo = z >= design.efficacy, z < design.futility
    stop = up | lo
    first = np.where(stop.any(axis=1), stop.argmax(axis=1), -1)
    rows = np.flatnonzero(first >= 0)
    looks = first[rows]
    upper = np.bincount(looks[up[rows, looks]], minlength=t.size) / n
    lower = np.bincount(looks[lo[rows, looks] & ~up[rows, looks]], minlength=t.size) / n
    return upper.astype(np.float64), lower.astype(np.float64)


MC_DESIGNS: dict[str, Callable[[], GroupSequentialDesign]] = {
    "ldof-k5": lambda: gsd_bounds(equally_spaced(5)),
    "pocock-unequal": lambda: gsd_bounds([0.25, 0.45, 0.8, 1.0], spending=PocockSpending()),
    "hsd-with-futility": lambda: gsd_bounds(
        equally_spaced(3), spending=HwangShihDeCaniSpending(-4), beta_spending=HwangShihDeCaniSpending(-2)
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MC_DESIGNS))
def test_monte_carlo_type_one_error_and_power(name: str) -> None:
    """200 000 seeded canonical paths: type I error (futility ignored, non-binding) within 4 SE of α = 0.025, and
    per-look efficacy and futility stopping under the design drift within 4 SE of the integration."""
    design = MC_DESIGNS[name]()
    n = 200_000
    ignore_futility = dataclasses.replace(design, futility=np.full(design.looks, -math.inf))
    upper0, _ = _first_stop(ignore_futility, 0.0, n, seed=20240601)
    se_alpha = math.sqrt(0.025 * 0.975 / n)
    assert abs(upper0.sum() - design.type_one_error) < 4 * se_alpha
    upper1, lower1 = _first_stop(design, design.drift, n, seed=20240602)
    for simulated, exact in ((upper1, design.h1.upper), (lower1, design.h1.lower)):
        se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / n)
        assert np.all(np.abs(simulated - exact) < 4 * se + 1e-5)
    assert abs(upper1.sum() - 0.9) < 4 * math.sqrt(0.09 / n)
