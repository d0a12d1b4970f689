"""Log-rank test of two or more groups, optionally stratified.

Sources: Mantel N (1966) Cancer Chemother Rep 50:163–170; Peto R, Peto J (1972) JRSS A 135:185–207; the
formulae of R ``survival::survdiff`` (Therneau): at each distinct event time j of a stratum, with nⱼ at risk,
dⱼ events, n_gj at risk and d_gj events in group g,

- observed − expected: U_g = Σⱼ (d_gj − dⱼ n_gj / nⱼ)
- hypergeometric variance: V_gh = Σⱼ dⱼ (nⱼ − dⱼ)/(nⱼ − 1) · (n_gj / nⱼ) (δ_gh − n_hj / nⱼ)

summed over strata (stratified test: each stratum has its own risk sets), chi-square = Uᵀ V⁻¹ U over all
groups but the first (those with expected > 0), on groups − 1 degrees of freedom (R survdiff). For two
groups the signed statistic Z = U₂ / √V₂₂ refers to the second group level (negative Z: fewer events than
expected in the second group, i.e. hazard ratio < 1 for the second level versus the first) — the Z that
group-sequential boundaries use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trialtwin.analysis._survival_data import (
    AnalysisInputError,
    FloatArray,
    IntArray,
    as_event,
    as_factor,
    as_strata,
    as_time,
    format_p,
    sort_survival,
)


@dataclass(frozen=True, slots=True, eq=False)
class LogRankResult:
    """Log-rank test result. ``observed``/``expected`` are per group (sorted group levels), summed over strata."""

    labels: tuple[str, ...]
    n: IntArray
    observed: FloatArray
    expected: FloatArray
    variance: FloatArray
    chisq: float
    df: int
    p_value: float
    z: float
    n_strata: int

    @property
    def footnote(self) -> str:
        strat = f"stratified by {self.n_strata} strata" if self.n_strata > 1 else "unstratified"
        z = (
            f"; Z (second group {self.labels[1]!r} vs {self.labels[0]!r}) = {self.z:.4f}"
            if len(self.labels) == 2
            else ""
        )
        return (
            f"Log-rank test ({strat}; hypergeometric variance, ties as in R survdiff): "
            f"chi-square = {self.chisq:.4f} on {self.df} df, p = {format_p(self.p_value)}{z}."
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One-row test table: chi-square, df, p and (two groups) the signed Z."""
        frame = pd.DataFrame(
            {"test_statistic": [self.chisq], "df": [self.df], "p": [self.p_value], "z": [self.z]},
            index=pd.Index(["log-rank"], name="test"),
        )
        frame.attrs["footnote"] = self.footnote
        return frame

    @property
    def groups_table(self) -> pd.DataFrame:
        """Per group: N, observed, expected, O − E, (O − E)²/E and (O − E)²/V, as R ``survdiff`` prints."""
        o_e = self.observed - self.expected
        with np.errstate(divide="ignore", invalid="ignore"):
            frame = pd.DataFrame(
                {
                    "n": self.n,
                    "observed": self.observed,
                    "expected": self.expected,
                    "o_minus_e": o_e,
                    "(o-e)^2/e": o_e**2 / self.expected,
                    "(o-e)^2/v": o_e**2 / np.diag(self.variance),
                },
                index=pd.Index(self.labels, name="group"),
            )
        frame.attrs["footnote"] = self.footnote
        return frame


def _quadratic_form(u: FloatArray, variance: FloatArray, expected: FloatArray) -> tuple[float, int]:
    """Uᵀ V⁻ U on the groups with expected > 0, the first of them dropped (R survdiff); df = their number − 1."""
    idx = np.flatnonzero(expected > 0)[1:]
    if idx.size == 0:
        return float("nan"), 0
    sub_v = variance[np.ix_(idx, idx)]
    sub_u = u[idx]
    try:
        np.linalg.cholesky(sub_v)
        return float(sub_u @ np.linalg.solve(sub_v, sub_u)), int(idx.size)
    except np.linalg.LinAlgError:  # groups confounded with strata: generalized inverse, df = rank
        eig = np.linalg.eigvalsh(sub_v)
        rank = int((eig > 1e-10 * max(float(eig.max()), 1e-300)).sum())
        if rank == 0:
            return float("nan"), 0
        return float(sub_u @ np.linalg.pinv(sub_v, rcond=1e-10, hermitian=True) @ sub_u), rank


def logrank_test(time: Any, event: Any, groups: Any, strata: Any = None) -> LogRankResult:
    """Log-rank test of equal survival across ``groups`` (two or more), stratified by ``strata`` if given.

    ``strata`` may be a 1-D array, a DataFrame or an ``(n, k)`` array (levels crossed). With no events the
    variance is zero and chi-square, p and Z are NaN.
    """
    t = as_time(time)
    n = t.shape[0]
    e = as_event(event, n)
    grp = as_factor(groups, n, "groups")
    if grp.size < 2:
        raise AnalysisInputError(f"groups: the log-rank test needs at least two groups, got only {grp.labels[0]!r}")
    strat = as_strata(strata, n)
    k = grp.size
    srt = sort_survival(t, e, strat.codes, strat.size)
    g = grp.codes[srt.order].astype(np.int64)

    has_event = srt.block_events > 0
    starts = srt.block_start[has_event]
    seg_end = srt.seg_bounds[srt.block_seg[has_event] + 1]
    d = srt.block_events[has_event].astype(np.float64)
    n_risk = srt.block_at_risk[has_event].astype(np.float64)

    # at risk per group: rows of group g from the block's first row to the end of its stratum (exact integers)
    at_risk_g = np.empty((starts.shape[0], k), dtype=np.float64)
    for j in range(k):
        prefix = np.concatenate(([0], np.cumsum(g == j, dtype=np.int64)))
        at_risk_g[:, j] = prefix[seg_end] - prefix[starts]
    block_events_g = np.bincount(srt.block_of_row[srt.event] * k + g[srt.event], minlength=srt.n_blocks * k).reshape(
        srt.n_blocks, k
    )[has_event]

    observed = block_events_g.sum(axis=0).astype(np.float64)
    frac = at_risk_g / n_risk[:, None]
    expected = (d[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(n_risk > 1, d * (n_risk - d) / (n_risk - 1.0), 0.0)
    wf = frac * w[:, None]
    variance = np.diag(wf.sum(axis=0)) - wf.T @ frac

    u = observed - expected
    chisq, df = _quadratic_form(u, variance, expected)
    p = float(stats.chi2.sf(chisq, df)) if df else float("nan")
    z = float(u[1] / np.sqrt(variance[1, 1])) if k == 2 and df else float("nan")
    return LogRankResult(
        labels=grp.labels,
        n=np.bincount(grp.codes, minlength=k).astype(np.int64),
        observed=observed,
        expected=expected,
        variance=variance,
        chisq=chisq,
        df=df,
        p_value=p,
        z=z,
        n_strata=strat.size,
    )
