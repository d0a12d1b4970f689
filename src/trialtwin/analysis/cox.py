"""Cox proportional-hazards regression, stratified, Efron or Breslow ties, by Newton–Raphson.

Sources:

- Cox DR (1972). Regression models and life-tables. JRSS B 34:187–220 (partial likelihood).
- Efron B (1977). The efficiency of Cox's likelihood function for censored data. JASA 72:557–565; Breslow NE
  (1974). Covariance analysis of censored survival data. Biometrics 30:89–99 (ties).
- Therneau TM, Grambsch PM (2000). Modeling Survival Data, §3.2–3.3 (stratified model, Newton–Raphson with
  step halving, score / Wald / likelihood-ratio tests) — the algorithm of R ``survival::coxph``.

For a distinct event time j of a stratum with risk set Rⱼ, tied events Dⱼ (dⱼ of them) and rᵢ = exp(xᵢβ):
S0ⱼ = Σ_{Rⱼ} rᵢ, S1ⱼ = Σ_{Rⱼ} rᵢxᵢ, T0ⱼ = Σ_{Dⱼ} rᵢ, T1ⱼ = Σ_{Dⱼ} rᵢxᵢ and, for l = 0..dⱼ−1,
aₗ = l/dⱼ (Efron) or 0 (Breslow), denⱼₗ = S0ⱼ − aₗT0ⱼ, m1ⱼₗ = S1ⱼ − aₗT1ⱼ:

- log L = Σ_events xᵢβ − Σⱼ Σₗ log denⱼₗ
- U = Σ_events xᵢ − Σⱼ Σₗ m1ⱼₗ / denⱼₗ
- I = Σⱼ Σₗ (S2ⱼ − aₗT2ⱼ)/denⱼₗ − m1ⱼₗ m1ⱼₗᵀ / denⱼₗ²

Vectorized: rows are sorted once by (stratum, time); risk-set sums are reverse cumulative sums within each
stratum (sums of positive terms, so accurate to a few ulps); the (j, l) terms are one flat array of length
"number of events". The S2/T2 part is never formed per time: Σⱼ cⱼS2ⱼ = Σᵢ rᵢ xᵢxᵢᵀ Cᵢ with Cᵢ the cumulative
sum of cⱼ = Σₗ 1/denⱼₗ over event times ≤ tᵢ, so I = Xᵀ diag(w) X − MᵀM with M = m1/den (one BLAS call each).
Covariates are centred first (the partial likelihood is unchanged) for numerical stability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trialtwin.analysis._survival_data import (
    AnalysisInputError,
    FloatArray,
    as_event,
    as_strata,
    as_time,
    check_conf_level,
    format_p,
    sort_survival,
)


class Ties(StrEnum):
    """Handling of tied event times in the partial likelihood."""

    EFRON = "efron"
    BRESLOW = "breslow"


def _as_ties(ties: Ties | str) -> Ties:
    try:
        return Ties(ties)
    except ValueError:
        raise AnalysisInputError(f"ties: {ties!r} is not one of efron, breslow") from None


def _as_covariates(covariates: Any, n: int, names: Any) -> tuple[FloatArray, tuple[str, ...]]:
    if isinstance(covariates, pd.DataFrame):
        cols = [str(c) for c in covariates.columns]
        raw = [covariates[c].to_numpy() for c in covariates.columns]
    elif isinstance(covariates, pd.Series):
        cols = [str(covariates.name) if covariates.name is not None else "x"]
        raw = [covariates.to_numpy()]
    elif isinstance(covariates, Mapping):
        cols = [str(c) for c in covariates]
        raw = [np.asarray(v) for v in covariates.values()]
    else:
        arr = np.asarray(covariates)
        if arr.ndim == 1:
            raw, cols = [arr], ["x"]
        elif arr.ndim == 2:
            raw = [arr[:, j] for j in range(arr.shape[1])]
            cols = [f"x{j}" for j in range(arr.shape[1])]
        else:
            raise AnalysisInputError(f"covariates: expected a 1-D or 2-D array, got shape {arr.shape}")
    if names is not None:
        given = [str(v) for v in names]
        if len(given) != len(raw):
            raise AnalysisInputError(f"names: {len(given)} names for {len(raw)} covariates")
        cols = given
    if not raw:
        raise AnalysisInputError("covariates: at least one covariate is needed")
    x = np.empty((n, len(raw)), dtype=np.float64)
    for j, (col, name) in enumerate(zip(raw, cols, strict=True)):
        v = np.asarray(col)
        if v.shape != (n,):
            raise AnalysisInputError(f"covariate {name!r}: length {v.shape} differs from the data length {n}")
        if v.dtype.kind not in "biuf":
            raise AnalysisInputError(f"covariate {name!r}: values must be numeric (got dtype {v.dtype})")
        x[:, j] = v
        bad = ~np.isfinite(x[:, j])
        if bad.any():
            raise AnalysisInputError(
                f"covariate {name!r}: missing or infinite value at row {int(np.flatnonzero(bad)[0])}"
            )
    return x, tuple(cols)


@dataclass(frozen=True, slots=True, eq=False)
class CoxPHResult:
    """Fitted Cox model: coefficients (log hazard ratios), their covariance and the three global tests."""

    names: tuple[str, ...]
    coef: FloatArray
    var: FloatArray
    loglik: float
    loglik_null: float
    score_chisq: float
    n: int
    events: int
    n_strata: int
    ties: Ties
    conf_level: float
    iterations: int
    converged: bool

    @property
    def df(self) -> int:
        return int(self.coef.shape[0])

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.diag(self.var))

    @property
    def z(self) -> FloatArray:
        return self.coef / self.se

    @property
    def p_value(self) -> FloatArray:
        """Two-sided Wald p-values."""
        return np.asarray(2.0 * stats.norm.sf(np.abs(self.z)), dtype=np.float64)

    @property
    def hr(self) -> FloatArray:
        return np.exp(self.coef)

    def _zq(self) -> float:
        return float(stats.norm.ppf(0.5 + self.conf_level / 2.0))

    @property
    def hr_lower(self) -> FloatArray:
        return np.exp(self.coef - self._zq() * self.se)

    @property
    def hr_upper(self) -> FloatArray:
        return np.exp(self.coef + self._zq() * self.se)

    @property
    def wald_chisq(self) -> float:
        try:
            return float(self.coef @ np.linalg.solve(self.var, self.coef))
        except np.linalg.LinAlgError:
            return float("nan")

    @property
    def lr_chisq(self) -> float:
        return 2.0 * (self.loglik - self.loglik_null)

    @property
    def tests(self) -> pd.DataFrame:
        """Global tests of β = 0: likelihood ratio, Wald, score (log-rank for one binary covariate)."""
        values = {"likelihood ratio": self.lr_chisq, "wald": self.wald_chisq, "score": self.score_chisq}
        frame = pd.DataFrame(
            {
                "test_statistic": list(values.values()),
                "df": self.df,
                "p": [float(stats.chi2.sf(v, self.df)) for v in values.values()],
            },
            index=pd.Index(list(values), name="test"),
        )
        frame.attrs["footnote"] = self.footnote
        return frame

    @property
    def footnote(self) -> str:
        pct = f"{100 * self.conf_level:g}%"
        strat = (
            f"stratified by {self.n_strata} strata (separate baseline hazards)" if self.n_strata > 1 else "unstratified"
        )
        conv = "" if self.converged else " WARNING: Newton–Raphson did not converge (coefficient may be infinite)."
        return (
            f"Cox proportional hazards, {strat}; ties: {self.ties.value.capitalize()}; Newton–Raphson on the "
            f"partial likelihood ({self.iterations} iterations); HR {pct} CI and p from the Wald statistic; "
            f"LR chi-square = {self.lr_chisq:.4f}, score chi-square = {self.score_chisq:.4f} on {self.df} df "
            f"(p = {format_p(float(stats.chi2.sf(self.lr_chisq, self.df)))}, "
            f"{format_p(float(stats.chi2.sf(self.score_chisq, self.df)))}).{conv}"
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One row per covariate: coef, HR, SE, HR CI, z, p (lifelines' column layout)."""
        pct = f"{100 * self.conf_level:g}%"
        frame = pd.DataFrame(
            {
                "coef": self.coef,
                "exp(coef)": self.hr,
                "se(coef)": self.se,
                f"exp(coef) lower {pct}": self.hr_lower,
                f"exp(coef) upper {pct}": self.hr_upper,
                "z": self.z,
                "p": self.p_value,
            },
            index=pd.Index(self.names, name="covariate"),
        )
        frame.attrs["footnote"] = self.footnote
        frame.attrs["ties"] = self.ties.value
        return frame


class _PartialLikelihood:
    """Sorted, centred data of one fit and the log partial likelihood with its gradient and information."""

    def __init__(self, time: FloatArray, event: Any, x: FloatArray, strata: Any, ties: Ties) -> None:
        n = time.shape[0]
        srt = sort_survival(time, event, strata.codes, strata.size)
        self.x = np.ascontiguousarray(x[srt.order] - x.mean(axis=0))
        self.event = srt.event
        self.event_rows = np.flatnonzero(srt.event)
        self.x_event_sum = self.x[self.event_rows].sum(axis=0)
        self.seg_bounds = srt.seg_bounds
        self.seg_block_bounds = srt.seg_block_bounds
        self.block_of_row = srt.block_of_row
        self.n_blocks = srt.n_blocks
        self.n = n
        event_blocks = np.flatnonzero(srt.block_events > 0)
        self.event_blocks = event_blocks
        self.event_block_start = srt.block_start[event_blocks]
        d = srt.block_events[event_blocks]
        # index of the event block of each event row
        block_to_eb = np.full(srt.n_blocks, -1, dtype=np.int64)
        block_to_eb[event_blocks] = np.arange(event_blocks.shape[0])
        self.eb_of_event_row = block_to_eb[srt.block_of_row[self.event_rows]]
        n_ev = int(d.sum())
        self.jj = np.repeat(np.arange(event_blocks.shape[0]), d)
        if ties is Ties.EFRON and n_ev:
            first = np.repeat(np.cumsum(d) - d, d)
            self.a = (np.arange(n_ev) - first) / np.repeat(d, d).astype(np.float64)
        else:
            self.a = np.zeros(n_ev)
        self.efron = ties is Ties.EFRON
        self.row_key = 2 * srt.block_of_row + srt.event

    def evaluate(self, beta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        x, p = self.x, self.x.shape[1]
        eta = x @ beta
        shift = float(eta.max())
        eta -= shift  # the partial likelihood is invariant to a common shift; keeps exp() ≤ 1
        r = np.exp(eta)
        rx = x * r[:, None]
        rc0 = np.empty_like(r)
        rc1 = np.empty_like(rx)
        bounds = self.seg_bounds
        for s in range(bounds.shape[0] - 1):
            lo, hi = int(bounds[s]), int(bounds[s + 1])
            if hi > lo:
                rc0[lo:hi] = np.cumsum(r[lo:hi][::-1])[::-1]
                rc1[lo:hi] = np.cumsum(rx[lo:hi][::-1], axis=0)[::-1]
        s0 = rc0[self.event_block_start]
        s1 = rc1[self.event_block_start]
        jj, a = self.jj, self.a
        n_eb = s0.shape[0]
        if self.efron:
            r_ev = r[self.event_rows]
            t0 = np.bincount(self.eb_of_event_row, weights=r_ev, minlength=n_eb)
            t1 = np.empty((n_eb, p))
            for k in range(p):
                t1[:, k] = np.bincount(self.eb_of_event_row, weights=rx[self.event_rows, k], minlength=n_eb)
            den = s0[jj] - a * t0[jj]
            m1 = s1[jj] - a[:, None] * t1[jj]
        else:
            den = s0[jj]
            m1 = s1[jj]
        with np.errstate(divide="ignore"):
            loglik = float(eta[self.event_rows].sum() - np.log(den).sum())
        inv = 1.0 / den
        mm = m1 * inv[:, None]
        grad = self.x_event_sum - mm.sum(axis=0)
        # Σⱼ cⱼ S2ⱼ − Aⱼ T2ⱼ as Xᵀ diag(w) X
        c_block = np.zeros(self.n_blocks)
        c_block[self.event_blocks] = np.bincount(jj, weights=inv, minlength=n_eb)
        sbb = self.seg_block_bounds
        for s in range(sbb.shape[0] - 1):
            lo, hi = int(sbb[s]), int(sbb[s + 1])
            if hi > lo:
                np.cumsum(c_block[lo:hi], out=c_block[lo:hi])
        if self.efron:
            # row key 2·block + event: censored rows take Cⱼ, event rows Cⱼ − Aⱼ (one gather)
            c_pair = np.repeat(c_block, 2)
            c_pair[2 * self.event_blocks + 1] -= np.bincount(jj, weights=a * inv, minlength=n_eb)
            w = c_pair[self.row_key]
        else:
            w = c_block[self.block_of_row]
        w *= r
        info = (x * w[:, None]).T @ x - mm.T @ mm
        return loglik, grad, info


def cox_ph(
    time: Any,
    event: Any,
    covariates: Any,
    strata: Any = None,
    *,
    names: Any = None,
    ties: Ties | str = Ties.EFRON,
    conf_level: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-9,
) -> CoxPHResult:
    """Fit a (stratified) Cox proportional-hazards model by Newton–Raphson with step halving.

    ``covariates``: a 1-D array (one covariate, e.g. a 0/1 treatment indicator), an ``(n, p)`` array, a
    DataFrame or a mapping name → array (names are taken from it, or from ``names``). ``strata``: 1-D array,
    DataFrame or ``(n, k)`` array; each stratum has its own baseline hazard. ``ties``: "efron" (default, as R
    coxph) or "breslow". Iterates from β = 0 until the largest Newton step is below ``tol``·(1 + max|β|);
    ``converged`` is False after ``max_iter`` iterations (e.g. an infinite coefficient when one group has no
    events).

    >>> fit = cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 1], [0, 1, 0, 1, 0, 1])
    >>> round(float(fit.coef[0]), 4)
    -0.2739
    """
    t = as_time(time)
    n = t.shape[0]
    e = as_event(event, n)
    x, cov_names = _as_covariates(covariates, n, names)
    strat = as_strata(strata, n)
    kind = _as_ties(ties)
    level = check_conf_level(conf_level)
    n_events = int(e.sum())
    if n_events == 0:
        raise AnalysisInputError("event: no events, the Cox model cannot be fitted")

    pl = _PartialLikelihood(t, e, x, strat, kind)
    beta = np.zeros(x.shape[1])
    ll0, grad, info = pl.evaluate(beta)
    flat = [nm for nm, v in zip(cov_names, np.diag(info), strict=True) if not v > 1e-12 * n_events]
    if flat:
        raise AnalysisInputError(
            f"covariates: {', '.join(repr(f) for f in flat)} constant within every risk set (within strata) — "
            "the coefficient is not estimable"
        )
    try:
        score = float(grad @ np.linalg.solve(info, grad))
    except np.linalg.LinAlgError:
        raise AnalysisInputError(
            f"covariates: {', '.join(cov_names)} are collinear (singular information matrix)"
        ) from None

    ll = ll0
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        ll_new, grad_new, info_new = pl.evaluate(new)
        halvings = 0
        while not (ll_new >= ll - 1e-10 * max(1.0, abs(ll))) and halvings < 30:
            step = step / 2.0
            new = beta + step
            ll_new, grad_new, info_new = pl.evaluate(new)
            halvings += 1
        beta, ll, grad, info = new, ll_new, grad_new, info_new
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    try:
        var: FloatArray = np.asarray(np.linalg.inv(info), dtype=np.float64)
    except np.linalg.LinAlgError:
        var = np.full_like(info, np.nan)
    return CoxPHResult(
        names=cov_names,
        coef=beta,
        var=var,
        loglik=ll,
        loglik_null=ll0,
        score_chisq=score,
        n=n,
        events=n_events,
        n_strata=strat.size,
        ties=kind,
        conf_level=level,
        iterations=iterations,
        converged=converged,
    )


__all__ = ["CoxPHResult", "Ties", "cox_ph"]
