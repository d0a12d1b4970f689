"""Response statistics (trialtwin.analysis.response): rates, difference, CMH — identities and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from trialtwin.analysis import AnalysisInputError, cmh_test, rate_difference, response_rate


def test_rates_per_group_with_exact_ci_edges() -> None:
    """Clopper–Pearson: 0/n has lower limit 0, n/n upper limit 1; upper of 0/10 at 95% is 1 − 0.025^(1/10)."""
    res = response_rate([0] * 10 + [1] * 5, ["a"] * 10 + ["b"] * 5)
    table = res.summary
    assert table.loc["a", "responders"] == 0 and table.loc["b", "rate"] == 1.0
    assert table.loc["a", "lower"] == 0.0 and table.loc["b", "upper"] == 1.0
    assert table.loc["a", "upper"] == pytest.approx(1 - 0.025 ** (1 / 10))
    assert "Clopper–Pearson" in table.attrs["footnote"]


def test_difference_orientation_follows_reference() -> None:
    """Difference = treatment − reference; naming the other reference flips sign and limits."""
    response = [1] * 30 + [0] * 20 + [1] * 20 + [0] * 30
    groups = ["T"] * 50 + ["C"] * 50
    default = rate_difference(response, groups)  # reference = first sorted level "C"
    flipped = rate_difference(response, groups, reference="T")
    assert (default.treatment, default.reference) == ("T", "C")
    assert default.difference == pytest.approx(0.2)
    assert (flipped.difference, flipped.lower, flipped.upper) == pytest.approx(
        (-default.difference, -default.upper, -default.lower)
    )
    assert "Newcombe" in default.summary.attrs["footnote"]


def test_cmh_one_stratum_is_scaled_pearson() -> None:
    """With one stratum the CMH statistic is (N − 1)/N × Pearson's chi-square and the MH OR is ad/bc."""
    a, b, c, d = 15, 10, 8, 17
    response = [1] * a + [0] * b + [1] * c + [0] * d
    groups = ["T"] * (a + b) + ["C"] * (c + d)
    res = cmh_test(response, groups, reference="C")
    n = a + b + c + d
    pearson = stats.chi2_contingency([[a, b], [c, d]], correction=False)[0]
    assert res.chisq == pytest.approx((n - 1) / n * pearson)
    assert res.odds_ratio == pytest.approx(a * d / (b * c))
    assert cmh_test(response, groups, reference="C", correction=True).chisq < res.chisq
    assert "Robins–Breslow–Greenland" in res.summary.attrs["footnote"]


def test_cmh_tables_layout() -> None:
    """tables[k] = [[treatment responders, non-responders], [reference responders, non-responders]]."""
    res = cmh_test(
        [1, 0, 0, 1, 1, 1], ["T", "T", "C", "C", "T", "C"], ["s1", "s1", "s1", "s1", "s2", "s2"], reference="C"
    )
    np.testing.assert_array_equal(res.tables, [[[1, 1], [1, 1]], [[1, 0], [1, 0]]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: response_rate([1, 2]), "response: values must be 0 or 1", id="response not 0/1"),
        pytest.param(lambda: response_rate([]), "response: no observations", id="empty"),
        pytest.param(lambda: rate_difference([1, 0, 1], ["a", "b", "c"]), "exactly two groups", id="three groups"),
        pytest.param(lambda: rate_difference([1, 0], ["a", "b"], reference="z"), "'z' is not a group", id="bad ref"),
        pytest.param(lambda: cmh_test([1, 0], ["a", "a"]), "exactly two groups are needed, found 1", id="one group"),
        pytest.param(lambda: response_rate([1, 0], conf_level=0), "conf_level", id="bad level"),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        call()  # type: ignore[operator]
