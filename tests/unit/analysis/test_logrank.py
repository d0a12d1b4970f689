"""Log-rank test (trialtwin.analysis.logrank): hand-computed O − E and variance, strata, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from trialtwin.analysis import AnalysisInputError, logrank_test


def test_two_groups_by_hand() -> None:
    """Mantel (1966): A dies at 1, 3; B at 2, 4. O_A − E_A = 2 − 4/3, V = 1/4 + 2/9 + 1/4 = 13/18,
    chi-square = (2/3)² / (13/18) = 8/13; Z of the second group B = −(2/3)/√(13/18)."""
    res = logrank_test([1, 3, 2, 4], [1, 1, 1, 1], ["A", "A", "B", "B"])
    np.testing.assert_allclose(res.observed, [2, 2])
    np.testing.assert_allclose(res.expected, [4 / 3, 8 / 3])
    np.testing.assert_allclose(res.variance, [[13 / 18, -13 / 18], [-13 / 18, 13 / 18]])
    assert res.chisq == pytest.approx(8 / 13)
    assert res.df == 1
    assert res.z == pytest.approx(-(2 / 3) / np.sqrt(13 / 18))


def test_stratified_sums_per_stratum_terms() -> None:
    """Stratified log-rank: U and V are the sums of the per-stratum U and V (risk sets never cross strata)."""
    rng = np.random.default_rng(1)
    t = np.ceil(rng.exponential(10, 200))
    e = rng.integers(0, 2, 200)
    g = rng.integers(0, 2, 200)
    s = rng.integers(0, 3, 200)
    both = logrank_test(t, e, g, s)
    parts = [logrank_test(t[s == k], e[s == k], g[s == k]) for k in range(3)]
    u = sum(p.observed - p.expected for p in parts)
    v = sum(p.variance for p in parts)
    np.testing.assert_allclose(both.observed - both.expected, u)
    np.testing.assert_allclose(both.variance, v)
    assert both.chisq == pytest.approx(u[1] ** 2 / v[1, 1])
    assert both.n_strata == 3


def test_strata_as_dataframe_cross_levels() -> None:
    """Two stratification factors given as a DataFrame are crossed (2 × 2 = 4 strata)."""
    import pandas as pd

    rng = np.random.default_rng(2)
    n = 120
    frame = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.choice(["x", "y"], n)})
    t, e, g = np.ceil(rng.exponential(5, n)), rng.integers(0, 2, n), rng.integers(0, 2, n)
    crossed = frame["a"].astype(str) + "/" + frame["b"]
    assert logrank_test(t, e, g, frame).chisq == pytest.approx(logrank_test(t, e, g, crossed).chisq)
    assert logrank_test(t, e, g, frame).n_strata == 4


def test_three_groups_two_df_and_no_z() -> None:
    rng = np.random.default_rng(4)
    res = logrank_test(np.ceil(rng.exponential(5, 90)), np.ones(90), np.repeat([0, 1, 2], 30))
    assert res.df == 2
    assert np.isnan(res.z)
    assert list(res.groups_table.index) == ["0", "1", "2"]


def test_no_events_gives_nan() -> None:
    res = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 1, 1])
    assert np.isnan(res.chisq) and np.isnan(res.p_value) and res.df == 0


def test_summary_and_footnote() -> None:
    res = logrank_test([1, 3, 2, 4], [1, 1, 1, 1], ["A", "A", "B", "B"], [0, 1, 0, 1])
    assert list(res.summary.columns) == ["test_statistic", "df", "p", "z"]
    assert "stratified by 2 strata" in res.summary.attrs["footnote"]
    assert "hypergeometric" in res.groups_table.attrs["footnote"]


@pytest.mark.parametrize(
    ("time", "event", "groups", "message"),
    [
        pytest.param([1, 2], [1, 1], ["a", "a"], "at least two groups", id="one group"),
        pytest.param([1, -2], [1, 1], ["a", "b"], "time: 1 negative value", id="negative time"),
        pytest.param([1, np.nan], [1, 1], ["a", "b"], "time: 1 missing or infinite", id="missing time"),
        pytest.param([1, 2], [1, 2], ["a", "b"], "event: values must be 0 or 1, row 1 has 2", id="event not 0/1"),
        pytest.param([1, 2], [1], ["a", "b"], "event: length 1 differs", id="length mismatch"),
        pytest.param([1, 2], [1, 1], ["a", None], "groups: missing value at row 1", id="missing group"),
        pytest.param(["x", "y"], [1, 1], ["a", "b"], "time: values must be numeric", id="text time"),
        pytest.param([], [], [], "time: no observations", id="empty"),
    ],
)
def test_bad_input(time: list[object], event: list[object], groups: list[object], message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        logrank_test(time, event, groups)
