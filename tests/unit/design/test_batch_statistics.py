"""Batched survival statistics (trialtwin.design.batch.statistics) on small hand-checked data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialtwin.design.batch import BatchInputError, batch_statistics
from trialtwin.design.batch.statistics import key_layout


def test_logrank_by_hand() -> None:
    """Arm 0 dies at 1 and 3, arm 1 at 2 and 4 (Mantel 1966, computed by hand): O₁ = 2, E₁ = 1/2 + 2/3 + 1/2
    + 1 = 8/3, V = 1/4 + 2/9 + 1/4 = 13/18, Z = (2 − 8/3)/√(13/18)."""
    st = batch_statistics([1, 2, 3, 4], [1, 1, 1, 1], [0, 1, 0, 1], resolution=1)
    assert st.z[0] == pytest.approx((2 - 8 / 3) / math.sqrt(13 / 18), rel=1e-12)
    assert st.events[0] == 4
    assert list(st.events_by_arm[0]) == [2, 2]


def test_tied_deaths_use_the_hypergeometric_variance() -> None:
    """Two deaths at time 1 (one per arm) among 4 at risk (2 per arm): E₁ = 1, V = 2·2/3·(1/2)(1/2) = 1/3
    (R survdiff); the censorings at 2 add nothing. Z = 0."""
    st = batch_statistics([1, 1, 2, 2], [1, 1, 0, 0], [0, 1, 0, 1], resolution=1)
    assert st.z[0] == pytest.approx(0.0, abs=1e-15)
    assert bool(st.tied[0])
    st2 = batch_statistics([1, 1, 2, 2], [1, 1, 0, 0], [1, 1, 0, 0], resolution=1)
    assert st2.z[0] == pytest.approx((2 - 1) / math.sqrt(1 / 3), rel=1e-12)


@pytest.mark.parametrize(
    ("time", "event", "median"),
    [
        pytest.param([1, 2, 3, 4], [1, 1, 1, 1], 2.5, id="flat-at-half-midpoint"),
        pytest.param([1, 2, 3, 4], [1, 1, 0, 0], 3.0, id="ends-at-half-midpoint-to-last-time"),
        pytest.param([1, 2, 3, 4, 5], [1, 1, 1, 1, 1], 3.0, id="first-time-below-half"),
        pytest.param([1, 2, 3, 4], [1, 0, 0, 0], math.nan, id="never-reached"),
        pytest.param([2, 2, 2, 5], [1, 1, 1, 0], 2.0, id="tied-deaths-jump-past-half"),
    ],
)
def test_km_median_follows_r_quantile_survfit(time: list[int], event: list[int], median: float) -> None:
    """R quantile.survfit: first time Ŝ ≤ 0.5; midpoint of a flat exactly at 0.5 (to the next death, or to
    the last follow-up time when the curve ends there); NaN when never reached."""
    n = len(time)
    both_arms_t = time + [t + 100 for t in time]
    st = batch_statistics(both_arms_t, event + event, [0] * n + [1] * n, resolution=1)
    got = st.median[0]
    if math.isnan(median):
        assert np.isnan(got).all()
    else:
        assert got[0] == pytest.approx(median)
        assert got[1] == pytest.approx(median + 100)


def test_no_estimate_when_all_events_in_one_arm() -> None:
    """All deaths in arm 0: the Cox estimate is −∞ (R coxph warns; we report −∞, not converged, SE NaN)."""
    st = batch_statistics([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1], resolution=1)
    assert st.log_hr[0] == -math.inf
    assert not st.converged[0]
    assert math.isnan(st.se_log_hr[0])
    assert st.z[0] < 0  # fewer arm-1 deaths than expected


def test_no_events_gives_nan() -> None:
    st = batch_statistics([1, 2, 3, 4], [0, 0, 0, 0], [0, 1, 0, 1], resolution=1)
    assert math.isnan(st.z[0])
    assert math.isnan(st.log_hr[0])
    assert st.events[0] == 0


def test_strata_have_their_own_risk_sets() -> None:
    """Stratified: each stratum's risk sets only; two copies of a trial in two strata double O − E and V."""
    t, e, a = [1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1], [0, 1, 0, 1, 1, 0]
    one = batch_statistics(t, e, a, resolution=1)
    two = batch_statistics(t + t, e + e, a + a, [0] * 6 + [1] * 6, resolution=1)
    assert two.z[0] == pytest.approx(one.z[0] * math.sqrt(2), rel=1e-12)
    assert two.log_hr[0] == pytest.approx(one.log_hr[0], abs=1e-10)
    assert two.se_log_hr[0] == pytest.approx(one.se_log_hr[0] / math.sqrt(2), rel=1e-9)


def test_key_layout_widens_when_needed() -> None:
    """32-bit sort keys while stratum bits + time bits + 2 fit, then 64-bit."""
    assert key_layout(8, 2**20) == (np.uint32, 21)
    assert key_layout(8, 2**27) == (np.uint64, 28)
    with pytest.raises(BatchInputError, match="64-bit"):
        key_layout(256, 2**60)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        pytest.param(([[1, 2]], [[1]], [[0, 1]]), {}, "shape", id="shapes-agree"),
        pytest.param(([[1, -2]], [[1, 1]], [[0, 1]]), {}, "≥ 0", id="time-non-negative"),
        pytest.param(([[1, math.nan]], [[1, 1]], [[0, 1]]), {}, "finite", id="time-finite"),
        pytest.param(([[1, 2]], [[1, 2]], [[0, 1]]), {}, "event: codes must be 0 … 1", id="event-binary"),
        pytest.param(([[1, 2]], [[1, 1]], [[0, 3]]), {}, "arm: codes must be 0 … 1", id="arm-binary"),
        pytest.param(([[1, 2]], [[1, 1]], [[0, 1]], [[0, 300]]), {}, "strata: codes", id="strata-bounded"),
        pytest.param(([[1, 2]], [[1, 1]], [[0, 1]]), {"ties": "exact"}, "ties", id="ties-known"),
        pytest.param(([[1, 2]], [[1, 1]], [[0, 1]]), {"resolution": 0}, "resolution", id="resolution-positive"),
        pytest.param(([[1e12, 2]], [[1, 1]], [[0, 1]]), {"resolution": 1e-3}, "2³¹ ticks", id="ticks-fit"),
        pytest.param((np.zeros((2, 2, 2)), [[1, 1]], [[0, 1]]), {}, "(replicates, subjects)", id="two-dims"),
    ],
)
def test_batch_statistics_rejects(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BatchInputError, match=message):
        batch_statistics(*args, **kwargs)  # type: ignore[arg-type]
