"""The batched engine against the reference statistics and against theory.

Parity (same data → same numbers): for replicates drawn by the batched simulator, the subject-level data of the
look (``TrialBatch.analysis_data``: time, event, arm, stratum of every subject enrolled by the cut) are given to
``trialtwin.analysis.logrank_test`` / ``cox_ph`` / ``kaplan_meier`` — themselves validated against R survival,
lifelines and statsmodels (tests/validation/test_survival_reference.py) — and must give the engine's Z and log HR
to 1e-10 (both ties methods), its SE to 1e-8 (relative) and its KM medians exactly. Data with many ties (whole
days) go through ``batch_statistics`` the same way.

Theory: at HR = 1 the one-sided level-0.025 log-rank test rejects 2.5% of trials (within Monte-Carlo error); under
proportional hazards with many events the power matches Schoenfeld (1981, Biometrika 68:316–319): Z has mean
−ln(HR)·√(d r(1 − r)), imported from ``trialtwin.design.sample_size.drift_for_events``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trialtwin.analysis import cox_ph, kaplan_meier, logrank_test
from trialtwin.design.batch import BatchDesign, analyse_trials, batch_statistics, simulate_batch, simulate_trials
from trialtwin.design.sample_size import drift_for_events
from trialtwin.protocol import Protocol

Z_975 = stats.norm.ppf(0.975)


@pytest.fixture(scope="module")
def ever_design(ever: Protocol) -> BatchDesign:
    """EVER-132-002 with dropout (censoring before the cut) and an interim look at 116 events, while enrolment
    is still open (subjects left out of the analysis)."""
    return BatchDesign.from_protocol(
        ever, hr=0.67, control_median_months=4.2, events=(116, 232), dropout_per_month=0.02
    )


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_simulated_trials_match_the_analysis_functions(ever_design: BatchDesign, ties: str) -> None:
    """Z, log HR and its SE, and KM medians of 12 simulated trials at both looks equal the reference
    functions' on the same subject-level data (logrank_test z is the second group's, arm 1 = experimental)."""
    batch = simulate_trials(ever_design, 12, rng=np.random.default_rng(20260101))
    out = analyse_trials(batch, ties=ties)
    assert out["subjects"][:, 0].min() < 331  # the interim excludes late enrolments
    for look in (0, 1):
        for r in range(batch.replicates):
            data = batch.analysis_data(r, look)
            assert len(data) == out["subjects"][r, look]
            lr = logrank_test(data.time, data.event, data.arm, strata=data.stratum)
            fit = cox_ph(data.time, data.event, {"arm": data.arm}, strata=data.stratum, ties=ties)
            km = kaplan_meier(data.time, data.event, data.arm)
            assert out["z"][r, look] == pytest.approx(lr.z, abs=1e-10)
            assert out["log_hr"][r, look] == pytest.approx(fit.coef[0], abs=1e-10)
            assert out["se_log_hr"][r, look] == pytest.approx(fit.se[0], rel=1e-8)
            assert out["events"][r, look] == int(data.event.sum())
            for arm, name in ((0, "median_control"), (1, "median_experimental")):
                ref = km.curves[arm].quantile(0.5)[0]
                assert out[name][r, look] == pytest.approx(ref, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_tied_days_match_the_analysis_functions(ties: str) -> None:
    """30 seeded datasets in whole days (many ties between deaths and with censorings), 1–3 strata: the
    tie-aware path equals R survdiff (hypergeometric variance) and coxph (Efron/Breslow) via trialtwin.analysis."""
    rng = np.random.default_rng(7)
    r_count, n = 30, 80
    time = rng.integers(1, 25, (r_count, n))
    event = rng.random((r_count, n)) < 0.7
    arm = rng.integers(0, 2, (r_count, n))
    strata = rng.integers(0, 3, (r_count, n))
    st = batch_statistics(time, event, arm, strata, ties=ties, resolution=1.0)
    assert st.tied.all()
    for r in range(r_count):
        lr = logrank_test(time[r], event[r], arm[r], strata=strata[r])
        fit = cox_ph(time[r], event[r], {"arm": arm[r]}, strata=strata[r], ties=ties)
        km = kaplan_meier(time[r], event[r], arm[r])
        assert st.z[r] == pytest.approx(lr.z, abs=1e-10)
        assert st.log_hr[r] == pytest.approx(fit.coef[0], abs=1e-10)
        assert st.se_log_hr[r] == pytest.approx(fit.se[0], rel=1e-8)
        assert list(st.median[r]) == pytest.approx([c.quantile(0.5)[0] for c in km.curves], nan_ok=True)


@pytest.mark.slow
def test_type_one_error_is_nominal(ever: Protocol) -> None:
    """HR = 1, EVER-132-002 (331 subjects, 8 strata, 232 events), 20,000 trials: the one-sided 0.025 log-rank
    test rejects within 3 Monte-Carlo SEs (√(0.025·0.975/20000) = 0.0011) of 0.025."""
    d = BatchDesign.from_protocol(ever, hr=1.0, control_median_months=4.2, events=232)
    res = simulate_batch(d, 20_000, rng=np.random.default_rng(1))
    rate = float(res.rejected()[:, 0].mean())
    assert abs(rate - 0.025) < 3 * math.sqrt(0.025 * 0.975 / 20_000)
    z = res.z[:, 0]
    assert abs(z.mean()) < 4 / math.sqrt(20_000)
    assert abs(z.std() - 1.0) < 0.02


@pytest.mark.slow
def test_power_matches_schoenfeld() -> None:
    """Proportional hazards, HR 0.8, 600 events of 1,000 subjects in 4 strata, 20,000 trials: power within 3
    Monte-Carlo SEs of Φ(−ln(HR)·√(d/4) − z_0.975) = 0.780 (Schoenfeld 1981)."""
    d = BatchDesign.exponential(
        1000, hr=0.8, control_median_months=6.0, events=600, accrual_months=12.0, strata=(0.25,) * 4
    )
    res = simulate_batch(d, 20_000, rng=np.random.default_rng(2))
    expected = float(stats.norm.cdf(drift_for_events(0.8, 600) - Z_975))
    power = float(res.summary["power"].iloc[0])
    assert expected == pytest.approx(0.780, abs=0.001)
    assert abs(power - expected) < 3 * float(res.summary["power_mc_se"].iloc[0])
