"""Survival statistics against published R ``survival`` output and two independent implementations.

Published values: R survival on the ``lung`` data (NCCTG advanced lung cancer, Loprinzi 1994), shipped with
lifelines (``load_lung``; status already recoded 1/2 → 0/1, checked below). Independent implementations:
lifelines 0.30 (``CoxPHFitter``, ``KaplanMeierFitter``, ``logrank_test``, ``multivariate_logrank_test``) and
statsmodels 0.14+ (``PHReg``, ``SurvfuncRight``, ``survdiff``), on seeded random data with integer-rounded times
(many ties), 1–3 strata, 2–3 groups and a continuous covariate. Agreement is required to 1e-8 (relative).

What is comparable and what is not (said once here, applied below):

- lifelines' KM CI is the log-log ("exponential Greenwood") transform — our default; R's default is "log".
  lifelines sets the CI to [0, 0] where Ŝ = 0 (we and R: undefined, NaN), so the pointwise CI is compared
  where 0 < Ŝ < 1.
- Quantile point estimates: R takes the midpoint of a flat lying exactly at the target; lifelines and
  statsmodels do not. Datasets whose curve is flat exactly at a target are checked against the R rule by hand in
  tests/unit/analysis/test_km.py and left out of the cross-package point comparison here.
- Quantile CIs: ours is the Brookmeyer–Crowley covering set as statsmodels ``quantile_ci`` (and SAS) report it,
  compared everywhere (statsmodels' +inf for "still covering at the last event" is our NaN). lifelines takes
  the first crossing of each CI curve, the same thing while each CI curve crosses the target once
  (``_crosses_once``); a guard test checks that this holds for at least 85% of the quantile CIs.
- R ``survival`` itself is compared through its published ``lung`` output (monotone CI curves, where R's
  ``quantile.survfit`` equals the covering set).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import logrank_test as ll_logrank_test
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from trialtwin.analysis import KaplanMeierCurve, cox_ph, kaplan_meier, logrank_test

RTOL = 1e-8
N_DATASETS = 30


@dataclass(frozen=True)
class Dataset:
    seed: int
    frame: pd.DataFrame
    n_groups: int
    n_strata: int


def _dataset(seed: int) -> Dataset:
    rng = np.random.default_rng([20240601, seed])
    n = int(rng.integers(40, 260))
    n_groups = 2 if seed % 3 else 3
    n_strata = int(rng.integers(1, 4))
    arm = rng.integers(0, n_groups, n)
    stratum = rng.integers(0, n_strata, n)
    x2 = rng.normal(size=n)
    scale = rng.uniform(6.0, 25.0)
    t_event = rng.exponential(scale * np.exp(0.4 * arm + 0.3 * x2 + 0.2 * stratum))
    t_cens = rng.exponential(scale * 1.6, n)
    time = np.ceil(np.minimum(t_event, t_cens))
    event = (t_event <= t_cens).astype(int)
    frame = pd.DataFrame({"time": time, "event": event, "arm": arm, "x2": x2, "stratum": stratum})
    return Dataset(seed=seed, frame=frame, n_groups=n_groups, n_strata=n_strata)


def _datasets() -> Iterator[Dataset]:
    return (_dataset(seed) for seed in range(N_DATASETS))


DATASETS = list(_datasets())
IDS = [f"seed{d.seed}-g{d.n_groups}-s{d.n_strata}" for d in DATASETS]


# ---- published R survival results on lung -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


def test_lung_is_coded_0_1_with_165_deaths(lung: pd.DataFrame) -> None:
    """R ``survival::lung`` has 228 patients, 165 deaths (status 2 = dead); lifelines recodes status to 0/1."""
    assert sorted(lung["status"].unique().tolist()) == [0, 1]
    assert len(lung) == 228
    assert int(lung["status"].sum()) == 165


def test_lung_coxph_sex_matches_r(lung: pd.DataFrame) -> None:
    """R: ``coxph(Surv(time, status) ~ sex, data = lung)`` prints coef −0.5310, se(coef) 0.1672, z −3.176,
    likelihood ratio test 10.63, Wald 10.09, score (logrank) 10.33 on 1 df (survival package vignette /
    ``print.coxph``; Therneau & Grambsch 2000)."""
    fit = cox_ph(lung["time"], lung["status"], lung["sex"])
    assert round(float(fit.coef[0]), 3) == -0.531
    assert round(float(fit.se[0]), 3) == 0.167
    assert round(float(fit.z[0]), 2) == -3.18
    assert round(fit.lr_chisq, 2) == 10.63
    assert round(fit.wald_chisq, 2) == 10.09
    assert round(fit.score_chisq, 2) == 10.33
    assert fit.converged


def test_lung_coxph_age_sex_matches_r(lung: pd.DataFrame) -> None:
    """R: ``coxph(Surv(time, status) ~ age + sex, data = lung)`` prints age coef 0.017045, se 0.009223,
    sex coef −0.513219, se 0.167458, likelihood ratio test 14.12 on 2 df."""
    fit = cox_ph(lung["time"], lung["status"], lung[["age", "sex"]])
    np.testing.assert_array_equal(np.round(fit.coef, 6), [0.017045, -0.513219])
    np.testing.assert_array_equal(np.round(fit.se, 6), [0.009223, 0.167458])
    assert round(fit.lr_chisq, 2) == 14.12


def test_lung_survdiff_sex_matches_r(lung: pd.DataFrame) -> None:
    """R: ``survdiff(Surv(time, status) ~ sex, data = lung)`` prints Observed 112/53, Expected 91.6/73.4,
    Chisq = 10.3 on 1 degrees of freedom, p = 0.001."""
    lr = logrank_test(lung["time"], lung["status"], lung["sex"])
    assert round(lr.chisq, 1) == 10.3
    assert lr.df == 1
    assert round(lr.p_value, 3) == 0.001
    np.testing.assert_array_equal(lr.observed, [112, 53])
    np.testing.assert_allclose(np.round(lr.expected, 1), [91.6, 73.4])


def test_lung_km_medians_match_r_log_ci(lung: pd.DataFrame) -> None:
    """R: ``survfit(Surv(time, status) ~ sex, data = lung)`` (default conf.type = "log") prints
    sex=1: n 138, events 112, median 270, 0.95LCL 212, 0.95UCL 310; sex=2: 90, 53, 426, 348, 550."""
    summary = kaplan_meier(lung["time"], lung["status"], lung["sex"], conf_type="log").summary
    expected = [[138, 112, 270, 212, 310], [90, 53, 426, 348, 550]]
    got = summary[["n", "events", "median", "median_lower", "median_upper"]].to_numpy()
    np.testing.assert_array_equal(got, expected)


def test_lung_one_year_survival_matches_r(lung: pd.DataFrame) -> None:
    """R: ``summary(survfit(Surv(time, status) ~ 1, data = lung), times = 365.25)`` prints n.risk 65,
    survival 0.409, std.err 0.0358, lower 95% CI 0.345, upper 0.486 (log CI)."""
    row = kaplan_meier(lung["time"], lung["status"], conf_type="log").landmark([365.25]).iloc[0]
    assert int(row["n_risk"]) == 65
    assert round(float(row["survival"]), 3) == 0.409
    assert round(float(row["std_err"]), 4) == 0.0358
    assert round(float(row["lower"]), 3) == 0.345
    assert round(float(row["upper"]), 3) == 0.486


# ---- Cox: lifelines (Efron, strata) and statsmodels (Breslow/Efron, strata) ----------------------------------------


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_cox_matches_lifelines_efron_strata(data: Dataset) -> None:
    """lifelines ``CoxPHFitter`` (Efron ties; strata=) fitted to 1e-14: coefficients, SEs and log-likelihood."""
    df = data.frame.assign(arm=(data.frame["arm"] > 0).astype(int))
    strata = ["stratum"] if data.n_strata > 1 else None
    ref = CoxPHFitter().fit(
        df[["time", "event", "arm", "x2", "stratum"]] if strata else df[["time", "event", "arm", "x2"]],
        "time",
        "event",
        strata=strata,
        fit_options={"precision": 1e-14, "r_precision": 1e-14, "max_steps": 200},
    )
    ours = cox_ph(df["time"], df["event"], df[["arm", "x2"]], df["stratum"] if strata else None)
    np.testing.assert_allclose(ours.coef, ref.params_[["arm", "x2"]].to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(ours.se, ref.standard_errors_[["arm", "x2"]].to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(ours.loglik, ref.log_likelihood_, rtol=RTOL)
    lr = ref.log_likelihood_ratio_test()
    np.testing.assert_allclose(ours.lr_chisq, lr.test_statistic, rtol=1e-6)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_cox_matches_statsmodels_phreg(data: Dataset, ties: str) -> None:
    """statsmodels ``PHReg(ties=..., strata=...)``: coefficients, SEs and log partial likelihood."""
    df = data.frame
    covariates = pd.get_dummies(df["arm"], prefix="arm", drop_first=True, dtype=float).assign(x2=df["x2"])
    ref = PHReg(
        df["time"].to_numpy(),
        covariates.to_numpy(),
        status=df["event"].to_numpy(),
        strata=df["stratum"].to_numpy(),
        ties=ties,
    ).fit()
    ours = cox_ph(df["time"], df["event"], covariates, df["stratum"], ties=ties)
    np.testing.assert_allclose(ours.coef, ref.params, rtol=RTOL)
    np.testing.assert_allclose(ours.se, ref.bse, rtol=RTOL)
    np.testing.assert_allclose(ours.loglik, ref.llf, rtol=RTOL)


# ---- log-rank: lifelines (unstratified) and statsmodels survdiff (stratified) --------------------------------------


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_logrank_matches_lifelines(data: Dataset) -> None:
    """lifelines ``logrank_test`` (two groups) / ``multivariate_logrank_test`` (three groups), unstratified."""
    df = data.frame
    ours = logrank_test(df["time"], df["event"], df["arm"])
    if data.n_groups == 2:
        a, b = df[df["arm"] == 0], df[df["arm"] == 1]
        ref = ll_logrank_test(a["time"], b["time"], a["event"], b["event"])
    else:
        ref = multivariate_logrank_test(df["time"], df["arm"], df["event"])
    np.testing.assert_allclose(ours.chisq, ref.test_statistic, rtol=RTOL)
    np.testing.assert_allclose(ours.p_value, ref.p_value, rtol=1e-7)
    assert ours.df == data.n_groups - 1


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_stratified_logrank_matches_statsmodels(data: Dataset) -> None:
    """statsmodels ``survdiff(time, status, group, strata=...)``: chi-square and p of the stratified test."""
    df = data.frame
    chisq, p = survdiff(df["time"], df["event"], df["arm"], strata=df["stratum"])
    ours = logrank_test(df["time"], df["event"], df["arm"], df["stratum"])
    np.testing.assert_allclose(ours.chisq, chisq, rtol=RTOL)
    np.testing.assert_allclose(ours.p_value, p, rtol=1e-7)


@pytest.mark.parametrize("data", [d for d in DATASETS if d.n_groups == 2], ids=lambda d: f"seed{d.seed}")
def test_logrank_z_is_cox_breslow_score_direction(data: Dataset) -> None:
    """Z² equals the chi-square (two groups) and Z has the sign of the Cox log-HR of the second arm (statsmodels
    PHReg Breslow fit), as group-sequential designs assume."""
    df = data.frame
    ours = logrank_test(df["time"], df["event"], df["arm"], df["stratum"])
    ref = PHReg(df["time"], df["arm"].to_numpy(float), status=df["event"], strata=df["stratum"]).fit()
    np.testing.assert_allclose(ours.z**2, ours.chisq, rtol=1e-12)
    assert np.sign(ours.z) == np.sign(ref.params[0])


# ---- Kaplan–Meier: lifelines (log-log CI) and statsmodels (SE, quantile CIs for three transforms) ----------------


def _flat_at(curve_survival: np.ndarray, target: float) -> bool:
    return bool(np.any(np.abs(curve_survival - target) < 1e-8))


def _crosses_once(curve: KaplanMeierCurve, p: float) -> bool:
    """Each CI curve, once at or below the target 1 − p, stays there (no rise again at the tail)."""
    for c in (curve.lower, curve.upper):
        below = c[np.isfinite(c)] <= 1 - p
        if np.any(np.diff(below.astype(int)) < 0):
            return False
    return True


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_km_matches_lifelines(data: Dataset) -> None:
    """lifelines ``KaplanMeierFitter``: Ŝ at every observed time, log-log CI where 0 < Ŝ < 1, numbers at risk,
    median and median CI (``median_survival_times`` of the CI curves)."""
    df = data.frame
    km = kaplan_meier(df["time"], df["event"], df["arm"])
    for label, sub in df.groupby("arm"):
        curve = km.curve(label)
        ref = KaplanMeierFitter().fit(sub["time"], sub["event"])
        np.testing.assert_allclose(curve.survival, ref.survival_function_.loc[curve.time].iloc[:, 0], rtol=RTOL)
        inner = (curve.survival > 0) & (curve.survival < 1)
        ci = ref.confidence_interval_.loc[curve.time].to_numpy()
        np.testing.assert_allclose(curve.lower[inner], ci[inner, 0], rtol=RTOL)
        np.testing.assert_allclose(curve.upper[inner], ci[inner, 1], rtol=RTOL)
        np.testing.assert_array_equal(curve.n_risk, ref.event_table.loc[curve.time, "at_risk"])
        lo, hi = (np.nan if np.isinf(v) else v for v in median_survival_times(ref.confidence_interval_).iloc[0])
        med, med_lo, med_hi = curve.quantile(0.5)
        if _crosses_once(curve, 0.5):
            np.testing.assert_allclose([med_lo, med_hi], [lo, hi], rtol=RTOL)
        if not _flat_at(curve.survival, 0.5):
            ref_med = ref.median_survival_time_
            np.testing.assert_allclose(med, np.nan if np.isinf(ref_med) else ref_med, rtol=RTOL)


def _sm_quantile_ci(sf: SurvfuncRight, p: float, method: str) -> tuple[float, float]:
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = sf.quantile_ci(p, method=method)
    return (float(lo), np.nan if np.isinf(hi) else float(hi))


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_km_matches_statsmodels(data: Dataset) -> None:
    """statsmodels ``SurvfuncRight``: Ŝ and its Greenwood SE at event times; Brookmeyer–Crowley quantile CIs
    for p = 0.25, 0.5, 0.75 with the transforms cloglog = log-log, log = log, linear = plain."""
    df = data.frame
    for conf_type, method in (("log-log", "cloglog"), ("log", "log"), ("plain", "linear")):
        km = kaplan_meier(df["time"], df["event"], df["arm"], conf_type=conf_type)
        for label, sub in df.groupby("arm"):
            curve = km.curve(label)
            sf = SurvfuncRight(sub["time"].to_numpy(), sub["event"].to_numpy())
            s, se, _, _ = curve.survival_at(sf.surv_times)
            np.testing.assert_allclose(s, sf.surv_prob, rtol=RTOL)
            positive = sf.surv_prob > 0
            np.testing.assert_allclose(se[positive], sf.surv_prob_se[positive], rtol=RTOL)
            for p in (0.25, 0.5, 0.75):
                est, lo, hi = curve.quantile(p)
                np.testing.assert_allclose([lo, hi], _sm_quantile_ci(sf, p, method), rtol=RTOL)
                if not _flat_at(curve.survival, 1 - p):
                    np.testing.assert_allclose(est, sf.quantile(p), rtol=RTOL)


def test_most_lifelines_median_cis_are_comparable() -> None:
    """Guard for ``test_km_matches_lifelines``: the crosses-once filter keeps at least 85% of the median CIs."""
    kept = [
        _crosses_once(curve, 0.5)
        for data in DATASETS
        for curve in kaplan_meier(data.frame["time"], data.frame["event"], data.frame["arm"]).curves
    ]
    assert len(kept) >= 2 * N_DATASETS
    assert sum(kept) >= 0.85 * len(kept), f"{sum(kept)} of {len(kept)} median CIs comparable"
