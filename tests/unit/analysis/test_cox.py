"""Cox PH (trialtwin.analysis.cox): identities that must hold, convergence, input errors."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import trialtwin.analysis.cox as cox_module
from trialtwin.analysis import AnalysisInputError, cox_ph, logrank_test


def _data(seed: int, n: int = 300, ties: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    stratum = rng.integers(0, 3, n)
    t = rng.exponential(10 * np.exp(0.5 * arm + 0.2 * x))
    c = rng.exponential(15, n)
    time = np.ceil(np.minimum(t, c)) if ties else np.minimum(t, c)
    return pd.DataFrame({"time": time, "event": (t <= c).astype(int), "arm": arm, "x": x, "stratum": stratum})


def test_efron_equals_breslow_without_ties() -> None:
    """Efron (1977) and Breslow (1974) coincide when no two events share a time."""
    df = _data(1, ties=False)
    efron = cox_ph(df["time"], df["event"], df[["arm", "x"]], ties="efron")
    breslow = cox_ph(df["time"], df["event"], df[["arm", "x"]], ties="breslow")
    np.testing.assert_allclose(efron.coef, breslow.coef, rtol=1e-12)
    np.testing.assert_allclose(efron.se, breslow.se, rtol=1e-12)


def test_score_test_is_logrank_without_ties() -> None:
    """Cox score test of one binary covariate = log-rank chi-square when there are no ties (Cox 1972 §4)."""
    df = _data(2, ties=False)
    fit = cox_ph(df["time"], df["event"], df["arm"], df["stratum"], ties="breslow")
    lr = logrank_test(df["time"], df["event"], df["arm"], df["stratum"])
    assert fit.score_chisq == pytest.approx(lr.chisq, rel=1e-10)


def test_invariant_to_row_order_and_covariate_shift() -> None:
    """The partial likelihood depends on neither the row order nor a shift of a covariate."""
    df = _data(3)
    base = cox_ph(df["time"], df["event"], df[["arm", "x"]], df["stratum"])
    shuffled = df.sample(frac=1.0, random_state=7)
    moved = cox_ph(
        shuffled["time"],
        shuffled["event"],
        shuffled[["arm", "x"]].assign(x=lambda f: f["x"] + 100),
        shuffled["stratum"],
    )
    np.testing.assert_allclose(moved.coef, base.coef, rtol=1e-9)
    np.testing.assert_allclose(moved.se, base.se, rtol=1e-9)
    assert moved.loglik == pytest.approx(base.loglik, rel=1e-12)


@pytest.mark.slow
def test_recovers_true_hazard_ratio() -> None:
    """Simulated exponential data with HR 0.6 (log −0.511), 4000 subjects: estimate within 3 SE."""
    rng = np.random.default_rng(11)
    arm = rng.integers(0, 2, 4000)
    t = rng.exponential(1.0 / (0.1 * np.where(arm == 1, 0.6, 1.0)))
    c = rng.uniform(0, 20, 4000)
    fit = cox_ph(np.minimum(t, c), (t <= c).astype(int), arm)
    assert abs(fit.coef[0] - np.log(0.6)) < 3 * fit.se[0]
    assert fit.hr_lower[0] < 0.6 < fit.hr_upper[0]


def test_monotone_likelihood_is_flagged_not_raised() -> None:
    """All events in one arm: the MLE is infinite (R warns); we stop at max_iter with converged=False."""
    fit = cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], max_iter=20)
    assert not fit.converged
    assert fit.coef[0] < -5
    assert "did not converge" in fit.footnote


def test_summary_tests_and_names() -> None:
    """Names from a mapping; summary in lifelines' layout; three global tests; ties in the footnote."""
    df = _data(4)
    fit = cox_ph(df["time"], df["event"], {"trt": df["arm"], "age": df["x"]}, df["stratum"], ties="breslow")
    summary = fit.summary
    assert list(summary.index) == ["trt", "age"]
    assert list(summary.columns)[:3] == ["coef", "exp(coef)", "se(coef)"]
    assert "ties: Breslow" in summary.attrs["footnote"] and "stratified by 3 strata" in summary.attrs["footnote"]
    assert list(fit.tests.index) == ["likelihood ratio", "wald", "score"]
    np.testing.assert_allclose(summary["exp(coef)"], np.exp(fit.coef))
    assert fit.n == 300 and fit.events == int(df["event"].sum()) and fit.converged


@pytest.mark.parametrize(
    ("covariates", "kwargs", "message"),
    [
        pytest.param(np.ones(6), {}, "'x' constant within every risk set", id="constant covariate"),
        pytest.param(
            np.column_stack([[0, 1, 0, 1, 0, 1], [0, 2, 0, 2, 0, 2]]), {}, "collinear", id="collinear covariates"
        ),
        pytest.param([0, 1, 0, 1, 0, 1], {"ties": "exact"}, "ties: 'exact' is not one of", id="unknown ties"),
        pytest.param([0, 1, 0, 1, 0, 1], {"names": ["a", "b"]}, "2 names for 1 covariates", id="names mismatch"),
        pytest.param([0, 1, 0, 1, 0, np.nan], {}, "covariate 'x': missing", id="missing covariate"),
        pytest.param(["a", "b", "a", "b", "a", "b"], {}, "must be numeric", id="text covariate"),
    ],
)
def test_bad_input(covariates: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 1], covariates, **kwargs)  # type: ignore[arg-type]


def test_no_events_is_an_error() -> None:
    with pytest.raises(AnalysisInputError, match="no events"):
        cox_ph([1, 2, 3], [0, 0, 0], [0, 1, 0])


def test_docstring_examples() -> None:
    assert doctest.testmod(cox_module).failed == 0
