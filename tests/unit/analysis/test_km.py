"""Kaplan–Meier (trialtwin.analysis.km): estimates, Greenwood SE, CI transforms, quantile rules, at-risk tables."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import trialtwin.analysis.km as km_module
from trialtwin.analysis import AnalysisInputError, ConfType, kaplan_meier, pointwise_ci

# Freireich et al. (1963) 6-MP arm (Gehan 1965), 21 patients, "+" = censored.
SIX_MP = ["6", "6", "6", "6+", "7", "9+", "10", "10+", "11+", "13", "16", "17+", "19+", "20+", "22", "23", "25+"]
SIX_MP += ["32+", "32+", "34+", "35+"]
SIX_MP_TIME = [float(v.rstrip("+")) for v in SIX_MP]
SIX_MP_EVENT = [0 if v.endswith("+") else 1 for v in SIX_MP]


def test_six_mp_matches_published_table() -> None:
    """6-MP arm of the Freireich leukaemia trial: R ``summary(survfit(Surv(time, cens) ~ 1, data = MASS::gehan,
    subset = treat == "6-MP"))`` prints S = 0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448 with Greenwood
    SE 0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346 at t = 6, 7, 10, 13, 16, 22, 23; median 23."""
    curve = kaplan_meier(SIX_MP_TIME, SIX_MP_EVENT).curves[0]
    events = curve.n_event > 0
    np.testing.assert_array_equal(curve.time[events], [6, 7, 10, 13, 16, 22, 23])
    np.testing.assert_array_equal(curve.n_risk[events], [21, 17, 15, 12, 11, 7, 6])
    np.testing.assert_allclose(np.round(curve.survival[events], 3), [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448])
    np.testing.assert_allclose(
        np.round(curve.std_err[events], 4), [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346]
    )
    assert curve.quantile(0.5)[0] == 23.0


@pytest.mark.parametrize(
    ("time", "event", "p", "expected"),
    [
        pytest.param([1, 2, 3, 4], [1, 1, 1, 1], 0.5, 2.5, id="flat exactly at 0.5: midpoint of the flat (R)"),
        pytest.param([1, 2, 3, 4], [1, 1, 1, 1], 0.4, 2.0, id="jump over the target: time of the jump"),
        pytest.param([1, 2], [1, 0], 0.5, 1.5, id="curve ends at the target: midpoint to last follow-up (R)"),
        pytest.param([1, 2, 3], [1, 0, 0], 0.5, np.nan, id="never reaches the target: NaN"),
        pytest.param([5, 5, 5, 5], [1, 1, 0, 0], 0.5, 5.0, id="tied events reach the target at once"),
    ],
)
def test_quantile_estimate_follows_r_rule(time: list[float], event: list[int], p: float, expected: float) -> None:
    """R ``quantile.survfit`` (findq): first time Ŝ ≤ 1 − p, midpoint of a flat exactly at 1 − p."""
    est = kaplan_meier(time, event).curves[0].quantile(p)[0]
    np.testing.assert_equal(est, expected)


def test_greenwood_by_hand() -> None:
    """Greenwood (1926): Var(log Ŝ) = Σ d/(n(n−d)); four deaths in four patients."""
    curve = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1]).curves[0]
    np.testing.assert_allclose(curve.survival, [0.75, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(curve.greenwood[:3], np.cumsum([1 / 12, 1 / 6, 1 / 2]))
    np.testing.assert_allclose(curve.std_err[:3], curve.survival[:3] * np.sqrt(curve.greenwood[:3]))
    assert np.isnan(curve.std_err[3])


@pytest.mark.parametrize(
    ("conf_type", "lower", "upper"),
    [
        pytest.param("plain", 0.75 - 1.959964 * 0.75 * np.sqrt(1 / 12), 1.0, id="plain: S ± z·SE, clipped at 1"),
        pytest.param("log", 0.75 * np.exp(-1.959964 * np.sqrt(1 / 12)), 1.0, id="log: S·exp(±z·se_log), ≤ 1"),
        pytest.param(
            "log-log",
            0.75 ** np.exp(1.959964 * np.sqrt(1 / 12) / abs(np.log(0.75))),
            0.75 ** np.exp(-1.959964 * np.sqrt(1 / 12) / abs(np.log(0.75))),
            id="log-log: S^exp(±z·se_log/|log S|)",
        ),
    ],
)
def test_ci_transforms(conf_type: str, lower: float, upper: float) -> None:
    """R ``survfit_confint`` formulas (Klein & Moeschberger 2003, eqs 4.3.1–4.3.3) at Ŝ = 0.75, n = 4."""
    lo, hi = pointwise_ci(np.array([0.75]), np.array([1 / 12]), 0.95, conf_type)
    np.testing.assert_allclose([lo[0], hi[0]], [lower, upper], rtol=1e-6)


@pytest.mark.parametrize("conf_type", list(ConfType))
def test_ci_is_one_before_first_event_and_undefined_at_zero(conf_type: ConfType) -> None:
    """Ŝ = 1 (no event yet): CI [1, 1]; Ŝ = 0: undefined (NaN), as R."""
    lo, hi = pointwise_ci(np.array([1.0, 0.0]), np.array([0.0, np.inf]), 0.95, conf_type)
    assert (lo[0], hi[0]) == (1.0, 1.0)
    assert np.isnan(lo[1]) and np.isnan(hi[1])


def test_groups_sorted_with_summary_and_footnote() -> None:
    """One curve per sorted group level; the summary names its methods in attrs["footnote"]."""
    km = kaplan_meier([3, 1, 2, 4, 5, 6], [1, 1, 0, 1, 1, 0], ["b", "a", "a", "b", "a", "b"])
    assert km.labels == ("a", "b")
    summary = km.summary
    assert summary.loc["a", "n"] == 3 and summary.loc["b", "events"] == 2
    assert "Greenwood" in summary.attrs["footnote"] and "log-log" in summary.attrs["footnote"]
    assert "Brookmeyer–Crowley" in km.quantiles().attrs["footnote"]
    with pytest.raises(AnalysisInputError, match="'c' is not one of a, b"):
        km.curve("c")


def test_landmark_and_numbers_at_risk() -> None:
    """Landmark rates are right-continuous; before the first time Ŝ = 1; after the last follow-up NaN; the number
    at risk at t counts time ≥ t (0 after the last time)."""
    km = kaplan_meier(SIX_MP_TIME, SIX_MP_EVENT)
    table = km.landmark([0, 6, 12, 40])
    np.testing.assert_allclose(table["survival"].to_numpy()[:3], [1.0, 18 / 21, 18 / 21 * 16 / 17 * 14 / 15])
    assert np.isnan(table["survival"].to_numpy()[3])
    risk = km.at_risk([0, 6, 6.5, 10, 35, 36])
    np.testing.assert_array_equal(risk.iloc[0].to_numpy(), [21, 21, 17, 15, 1, 0])


def test_quantiles_table_and_ci_contains_estimate() -> None:
    """Quartiles with CIs: lower ≤ estimate ≤ upper wherever defined."""
    rng = np.random.default_rng(3)
    t = np.ceil(rng.exponential(20, 300))
    e = rng.integers(0, 2, 300)
    q = kaplan_meier(t, e, rng.integers(0, 2, 300)).quantiles()
    assert len(q) == 6
    ok = q.dropna()
    assert (ok["lower"] <= ok["estimate"]).all() and (ok["estimate"] <= ok["upper"]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"conf_type": "logit"}, "conf_type: 'logit' is not one of", id="unknown transform"),
        pytest.param({"conf_level": 1.5}, "conf_level: must be strictly between 0 and 1", id="bad level"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        kaplan_meier([1, 2], [1, 0], **kwargs)  # type: ignore[arg-type]


def test_bad_quantile_probability() -> None:
    with pytest.raises(AnalysisInputError, match="p: quantile probability"):
        kaplan_meier([1, 2], [1, 0]).curves[0].quantile(1.0)


def test_docstring_examples() -> None:
    assert doctest.testmod(km_module).failed == 0
