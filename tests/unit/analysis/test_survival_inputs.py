"""Shared survival input handling (trialtwin.analysis._survival_data): checks, factors, the one sort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialtwin.analysis._survival_data import AnalysisInputError, as_factor, as_strata, as_time, sort_survival
from trialtwin.protocol.errors import TrialtwinError


def test_error_is_a_trialtwin_error() -> None:
    """The CLI turns TrialtwinError into exit code 2; analysis input errors must be one."""
    assert issubclass(AnalysisInputError, TrialtwinError)


@pytest.mark.parametrize(
    ("values", "levels", "codes"),
    [
        pytest.param([3, 1, 3, 2], (1, 2, 3), [2, 0, 2, 1], id="integers (bincount path)"),
        pytest.param([True, False, True], (False, True), [1, 0, 1], id="booleans"),
        pytest.param(["b", "a", "b"], ("a", "b"), [1, 0, 1], id="strings (hash path)"),
        pytest.param([2.5, 1.0, 2.5], (1.0, 2.5), [1, 0, 1], id="floats"),
        pytest.param([-(10**7), 10**7], (-(10**7), 10**7), [0, 1], id="wide integer range"),
    ],
)
def test_factor_codes_follow_sorted_levels(values: list[object], levels: tuple[object, ...], codes: list[int]) -> None:
    f = as_factor(np.asarray(values), len(values), "g")
    assert f.levels == levels
    np.testing.assert_array_equal(f.codes, codes)


def test_strata_dataframe_and_2d_array_cross_levels() -> None:
    frame = pd.DataFrame({"region": ["EU", "US", "EU", "US"], "ecog": [0, 0, 1, 1]})
    f = as_strata(frame, 4)
    assert f.labels == ("EU/0", "EU/1", "US/0", "US/1")
    np.testing.assert_array_equal(f.codes, [0, 2, 1, 3])
    g = as_strata(np.array([[0, 0], [1, 0], [0, 1], [1, 1]]), 4)
    assert g.size == 4
    assert as_strata(None, 3).labels == ("all",)


@pytest.mark.parametrize("integer_days", [True, False], ids=["radix path (whole days)", "quicksort path"])
def test_sort_blocks_and_at_risk_match_brute_force(integer_days: bool) -> None:
    """Blocks of equal (segment, time) and numbers at risk (time ≥ t within the segment) by brute force."""
    rng = np.random.default_rng(5)
    n = 500
    t = np.ceil(rng.exponential(30, n)) if integer_days else rng.exponential(30, n)
    e = rng.integers(0, 2, n).astype(bool)
    seg = rng.integers(0, 3, n).astype(np.int16)
    srt = sort_survival(t, e, seg, 3)
    np.testing.assert_array_equal(np.sort(srt.order), np.arange(n))
    for b in range(srt.n_blocks):
        s, tb = srt.block_seg[b], srt.block_time[b]
        assert srt.block_at_risk[b] == int(((seg == s) & (t >= tb)).sum())
        assert srt.block_events[b] == int(((seg == s) & (t == tb) & e).sum())
        assert srt.block_size[b] == int(((seg == s) & (t == tb)).sum())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param([[1, 2]], "expected a 1-D array", id="2-D"),
        pytest.param([1.0, np.inf], "1 missing or infinite value", id="infinite"),
        pytest.param([1, -1, -2], "2 negative value\\(s\\), first at row 1: -1", id="negative"),
    ],
)
def test_time_checks(values: object, message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        as_time(values)
