"""Response statistics against published examples and statsmodels / SciPy.

Published values: R ``mantelhaen.test(UCBAdmissions)`` (example in R's ``stats`` documentation; UC Berkeley 1973
graduate admissions, Bickel et al. 1975) and Newcombe (1998) Stat Med 17:873–890, Table II, method 10.
Independent implementations: SciPy ``binomtest(...).proportion_ci(method="exact")`` (Clopper–Pearson),
statsmodels ``confint_proportions_2indep(method="newcomb")`` and ``StratifiedTable`` (CMH test, Mantel–Haenszel
odds ratio with the Robins–Breslow–Greenland variance), on seeded random tables; agreement to 1e-8.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep

from trialtwin.analysis import cmh_test, rate_difference, response_rate

RTOL = 1e-8

# UCBAdmissions by department: (male admitted, male rejected, female admitted, female rejected)
UCB = {
    "A": (512, 313, 89, 19),
    "B": (353, 207, 17, 8),
    "C": (120, 205, 202, 391),
    "D": (138, 279, 131, 244),
    "E": (53, 138, 94, 299),
    "F": (22, 351, 24, 317),
}


def _expand(tables: dict[str, tuple[int, int, int, int]], groups: tuple[str, str]) -> tuple[list[int], ...]:
    response: list[int] = []
    group: list[str] = []
    stratum: list[str] = []
    for key, (a, b, c, d) in tables.items():
        for count, g, r in ((a, groups[0], 1), (b, groups[0], 0), (c, groups[1], 1), (d, groups[1], 0)):
            response += [r] * count
            group += [g] * count
            stratum += [key] * count
    return response, group, stratum  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("correction", "chisq", "p"),
    [
        pytest.param(True, 1.4269, 0.2323, id="continuity-corrected (R default)"),
        pytest.param(False, 1.5246, 0.2169, id="uncorrected (correct = FALSE)"),
    ],
)
def test_cmh_ucb_admissions_matches_r(correction: bool, chisq: float, p: float) -> None:
    """R: ``mantelhaen.test(UCBAdmissions)`` prints Mantel-Haenszel X-squared = 1.4269, df = 1, p-value = 0.2323,
    common odds ratio 0.9046968, 95% CI 0.7719074 1.0603298 (``correct = FALSE``: X-squared = 1.5246,
    p-value = 0.2169)."""
    response, group, stratum = _expand(UCB, ("Male", "Female"))
    res = cmh_test(response, group, stratum, reference="Female", correction=correction)
    assert round(res.chisq, 4) == chisq
    assert round(res.p_value, 4) == p
    assert round(res.odds_ratio, 7) == 0.9046968
    lo, hi = res.or_ci
    assert (round(lo, 7), round(hi, 7)) == (0.7719074, 1.0603298)


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "lower", "upper"),
    [
        pytest.param(56, 70, 48, 80, 0.0524, 0.3339, id="Table II (a) 56/70 - 48/80"),
        pytest.param(9, 10, 3, 10, 0.1705, 0.8090, id="Table II (b) 9/10 - 3/10"),
    ],
)
def test_rate_difference_newcombe_1998_table_ii(x1: int, n1: int, x0: int, n0: int, lower: float, upper: float) -> None:
    """Newcombe (1998) Table II, method 10 (score, no continuity correction): (a) 0.0524 to 0.3339,
    (b) 0.1705 to 0.8090."""
    response = [1] * x1 + [0] * (n1 - x1) + [1] * x0 + [0] * (n0 - x0)
    groups = ["trt"] * n1 + ["ctl"] * n0
    res = rate_difference(response, groups, reference="ctl")
    assert (round(res.lower, 4), round(res.upper, 4)) == (lower, upper)
    assert res.difference == pytest.approx(x1 / n1 - x0 / n0)


def _random_counts(seed: int) -> tuple[int, int, int, int]:
    rng = np.random.default_rng([7, seed])
    n1, n0 = (int(v) for v in rng.integers(5, 120, 2))
    x1 = int(rng.binomial(n1, rng.uniform(0.05, 0.95)))
    x0 = int(rng.binomial(n0, rng.uniform(0.05, 0.95)))
    return x1, n1, x0, n0


@pytest.mark.parametrize("seed", range(30))
def test_clopper_pearson_matches_scipy(seed: int) -> None:
    """SciPy ``binomtest(x, n).proportion_ci(confidence_level, method="exact")`` (Clopper–Pearson)."""
    x1, n1, x0, n0 = _random_counts(seed)
    for x, n in ((x1, n1), (x0, n0), (0, n1), (n0, n0)):
        res = response_rate([1] * x + [0] * (n - x), conf_level=0.9).summary.iloc[0]
        ref = stats.binomtest(x, n).proportion_ci(confidence_level=0.9, method="exact")
        np.testing.assert_allclose([res["lower"], res["upper"]], [ref.low, ref.high], rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("seed", range(30))
def test_rate_difference_matches_statsmodels_newcombe(seed: int) -> None:
    """statsmodels ``confint_proportions_2indep(..., method="newcomb", compare="diff")``."""
    x1, n1, x0, n0 = _random_counts(seed)
    response = [1] * x1 + [0] * (n1 - x1) + [1] * x0 + [0] * (n0 - x0)
    res = rate_difference(response, [1] * n1 + [0] * n0)
    ref = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    np.testing.assert_allclose([res.lower, res.upper], ref, rtol=RTOL)


@pytest.mark.parametrize("seed", range(30))
def test_cmh_matches_statsmodels_stratified_table(seed: int) -> None:
    """statsmodels ``StratifiedTable``: ``test_null_odds(correction=False)``, ``oddsratio_pooled``,
    ``logodds_pooled_se`` (Robins–Breslow–Greenland) and ``oddsratio_pooled_confint``."""
    rng = np.random.default_rng([11, seed])
    k = int(rng.integers(1, 6))
    tables = {f"s{j}": tuple(int(v) for v in rng.integers(1, 40, 4)) for j in range(k)}
    response, group, stratum = _expand(tables, ("trt", "ctl"))  # type: ignore[arg-type]
    res = cmh_test(response, group, stratum, reference="ctl")
    ref = StratifiedTable([np.array([[a, b], [c, d]]) for a, b, c, d in tables.values()])
    null = ref.test_null_odds(correction=False)
    np.testing.assert_allclose(res.chisq, null.statistic, rtol=RTOL)
    np.testing.assert_allclose(res.p_value, null.pvalue, rtol=1e-7)
    np.testing.assert_allclose(res.odds_ratio, ref.oddsratio_pooled, rtol=RTOL)
    np.testing.assert_allclose(res.log_or_se, ref.logodds_pooled_se, rtol=RTOL)
    np.testing.assert_allclose(res.or_ci, ref.oddsratio_pooled_confint(), rtol=RTOL)
