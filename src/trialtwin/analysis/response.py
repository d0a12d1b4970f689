"""Binary-endpoint statistics (objective response rate ORR, clinical benefit rate CBR, …).

Methods (each printed in the result's footnote):

- Rate CI: Clopper CJ, Pearson ES (1934). Biometrika 26:404–413 — exact binomial ("Clopper–Pearson") interval,
  the beta quantiles B(α/2; x, n−x+1) and B(1−α/2; x+1, n−x).
- Difference of two rates: Newcombe RG (1998). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Stat Med 17:873–890, method 10 (hybrid score from Wilson score
  intervals, no continuity correction). Chosen because it is closed-form, has near-nominal coverage and is the
  method of SAS PROC FREQ ``RISKDIFF(CL=NEWCOMBE)`` and R ``DescTools::BinomDiffCI(method="score")``.
- Stratified comparison: Cochran–Mantel–Haenszel test (Cochran 1954; Mantel & Haenszel 1959), no continuity
  correction by default (as SAS PROC FREQ CMH; R ``mantelhaen.test`` corrects by default), and the
  Mantel–Haenszel common odds ratio with the Robins, Breslow & Greenland (1986, Biometrics 42:311–323) variance
  of its logarithm.

Orientation: groups are sorted; ``reference`` (default: the first level) is the comparator, the other level the
"treatment". Differences are treatment − reference; odds ratios are odds(treatment) / odds(reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from trialtwin.analysis._survival_data import (
    AnalysisInputError,
    Factor,
    FloatArray,
    IntArray,
    as_binary,
    as_factor,
    as_strata,
    check_conf_level,
    format_p,
)


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


def clopper_pearson(x: Any, n: Any, conf_level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Exact (Clopper–Pearson) CI for x successes out of n (vectorized)."""
    level = check_conf_level(conf_level)
    xa = np.asarray(x, dtype=np.float64)
    na = np.asarray(n, dtype=np.float64)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(xa > 0, stats.beta.ppf(alpha / 2.0, xa, na - xa + 1.0), 0.0)
        upper = np.where(xa < na, stats.beta.ppf(1.0 - alpha / 2.0, xa + 1.0, na - xa), 1.0)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def wilson(x: Any, n: Any, conf_level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Wilson (1927) score CI without continuity correction (vectorized)."""
    z = _z(check_conf_level(conf_level))
    xa = np.asarray(x, dtype=np.float64)
    na = np.asarray(n, dtype=np.float64)
    p = xa / na
    centre = (xa + z * z / 2.0) / (na + z * z)
    half = z * np.sqrt(na) / (na + z * z) * np.sqrt(p * (1.0 - p) + z * z / (4.0 * na))
    return np.asarray(centre - half, dtype=np.float64), np.asarray(centre + half, dtype=np.float64)


def _two_groups(groups: Any, n: int, reference: Any) -> tuple[Factor, int]:
    grp = as_factor(groups, n, "groups")
    if grp.size != 2:
        found = ", ".join(repr(v) for v in grp.labels)
        raise AnalysisInputError(f"groups: exactly two groups are needed, found {grp.size} ({found})")
    if reference is None:
        return grp, 0
    ref = str(reference)
    if ref not in grp.labels:
        raise AnalysisInputError(f"reference: {reference!r} is not a group level ({', '.join(grp.labels)})")
    return grp, grp.labels.index(ref)


@dataclass(frozen=True, slots=True, eq=False)
class ResponseRateResult:
    """Per group: responders / n with the Clopper–Pearson CI."""

    labels: tuple[str, ...]
    n: IntArray
    responders: IntArray
    conf_level: float

    @property
    def rate(self) -> FloatArray:
        return self.responders / self.n

    @property
    def ci(self) -> tuple[FloatArray, FloatArray]:
        return clopper_pearson(self.responders, self.n, self.conf_level)

    @property
    def footnote(self) -> str:
        return f"Rate = responders / n; {100 * self.conf_level:g}% CI exact binomial (Clopper–Pearson)."

    @property
    def summary(self) -> pd.DataFrame:
        lower, upper = self.ci
        frame = pd.DataFrame(
            {"n": self.n, "responders": self.responders, "rate": self.rate, "lower": lower, "upper": upper},
            index=pd.Index(self.labels, name="group"),
        )
        frame.attrs["footnote"] = self.footnote
        return frame


def response_rate(response: Any, groups: Any = None, *, conf_level: float = 0.95) -> ResponseRateResult:
    """Response rate (ORR, CBR, …) per group with an exact Clopper–Pearson CI.

    ``response``: 0/1 or boolean per subject (non-evaluable subjects count as non-responders in an ITT analysis —
    derive that before calling).
    """
    resp = np.asarray(response)
    r = as_binary(resp, resp.shape[0] if resp.ndim == 1 else -1, "response")
    n_all = r.shape[0]
    if n_all == 0:
        raise AnalysisInputError("response: no observations")
    grp = as_strata(None, n_all) if groups is None else as_factor(groups, n_all, "groups")
    n = np.bincount(grp.codes, minlength=grp.size).astype(np.int64)
    x = np.bincount(grp.codes, weights=r, minlength=grp.size).astype(np.int64)
    return ResponseRateResult(labels=grp.labels, n=n, responders=x, conf_level=check_conf_level(conf_level))


@dataclass(frozen=True, slots=True, eq=False)
class RateDifferenceResult:
    """Difference of two rates (treatment − reference) with the Newcombe hybrid-score CI."""

    treatment: str
    reference: str
    n: tuple[int, int]
    responders: tuple[int, int]
    difference: float
    lower: float
    upper: float
    conf_level: float

    @property
    def footnote(self) -> str:
        return (
            f"Difference {self.treatment} − {self.reference}; {100 * self.conf_level:g}% CI Newcombe hybrid score "
            "(method 10, Wilson intervals without continuity correction; Newcombe 1998)."
        )

    @property
    def summary(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "n_treatment": [self.n[0]],
                "responders_treatment": [self.responders[0]],
                "n_reference": [self.n[1]],
                "responders_reference": [self.responders[1]],
                "difference": [self.difference],
                "lower": [self.lower],
                "upper": [self.upper],
            },
            index=pd.Index([f"{self.treatment} - {self.reference}"], name="comparison"),
        )
        frame.attrs["footnote"] = self.footnote
        return frame


def rate_difference(
    response: Any, groups: Any, *, reference: Any = None, conf_level: float = 0.95
) -> RateDifferenceResult:
    """Rate difference treatment − reference with Newcombe's hybrid score CI (method 10)."""
    level = check_conf_level(conf_level)
    rates = response_rate(response, groups, conf_level=level)
    grp, ref = _two_groups(groups, int(rates.n.sum()), reference)
    trt = 1 - ref
    x1, n1 = int(rates.responders[trt]), int(rates.n[trt])
    x0, n0 = int(rates.responders[ref]), int(rates.n[ref])
    p1, p0 = x1 / n1, x0 / n0
    (l1, l0), (u1, u0) = wilson([x1, x0], [n1, n0], level)
    diff = p1 - p0
    lower = diff - float(np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2))
    upper = diff + float(np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))
    return RateDifferenceResult(
        treatment=grp.labels[trt],
        reference=grp.labels[ref],
        n=(n1, n0),
        responders=(x1, x0),
        difference=diff,
        lower=lower,
        upper=upper,
        conf_level=level,
    )


@dataclass(frozen=True, slots=True, eq=False)
class CMHResult:
    """Cochran–Mantel–Haenszel test and Mantel–Haenszel common odds ratio (treatment vs reference).

    ``tables[k]`` is stratum k's 2×2 table [[a, b], [c, d]]: rows treatment, reference; columns responder, not.
    """

    treatment: str
    reference: str
    strata: tuple[str, ...]
    tables: npt.NDArray[np.int64]
    chisq: float
    p_value: float
    odds_ratio: float
    log_or_se: float
    conf_level: float
    correction: bool

    @property
    def or_ci(self) -> tuple[float, float]:
        z = _z(self.conf_level)
        log_or = np.log(self.odds_ratio)
        return float(np.exp(log_or - z * self.log_or_se)), float(np.exp(log_or + z * self.log_or_se))

    @property
    def footnote(self) -> str:
        cc = "with" if self.correction else "without"
        return (
            f"Cochran–Mantel–Haenszel test over {len(self.strata)} strata ({cc} continuity correction): "
            f"chi-square = {self.chisq:.4f} on 1 df, p = {format_p(self.p_value)}; Mantel–Haenszel common odds "
            f"ratio {self.treatment} vs {self.reference} with {100 * self.conf_level:g}% CI from the "
            "Robins–Breslow–Greenland variance of log OR."
        )

    @property
    def summary(self) -> pd.DataFrame:
        lo, hi = self.or_ci
        frame = pd.DataFrame(
            {
                "chisq": [self.chisq],
                "df": [1],
                "p": [self.p_value],
                "odds_ratio": [self.odds_ratio],
                "lower": [lo],
                "upper": [hi],
            },
            index=pd.Index([f"{self.treatment} vs {self.reference}"], name="comparison"),
        )
        frame.attrs["footnote"] = self.footnote
        return frame


def cmh_test(
    response: Any,
    groups: Any,
    strata: Any = None,
    *,
    reference: Any = None,
    conf_level: float = 0.95,
    correction: bool = False,
) -> CMHResult:
    """CMH test of response versus group, stratified, with the Mantel–Haenszel common odds ratio and RBG CI.

    Strata with fewer than two subjects carry no information and are ignored by the formulae.
    """
    level = check_conf_level(conf_level)
    resp = np.asarray(response)
    n_all = resp.shape[0] if resp.ndim == 1 else -1
    r = as_binary(resp, n_all, "response")
    grp, ref = _two_groups(groups, r.shape[0], reference)
    trt = 1 - ref
    strat = as_strata(strata, r.shape[0])
    k = strat.size
    # cell index: stratum, group row (0 = treatment, 1 = reference), response column (0 = yes, 1 = no)
    row = np.where(grp.codes == trt, 0, 1)
    col = np.where(r, 0, 1)
    cells = np.bincount(strat.codes.astype(np.int64) * 4 + row * 2 + col, minlength=4 * k).reshape(k, 2, 2)
    a = cells[:, 0, 0].astype(np.float64)
    b = cells[:, 0, 1].astype(np.float64)
    c = cells[:, 1, 0].astype(np.float64)
    d = cells[:, 1, 1].astype(np.float64)
    n = a + b + c + d
    n1, n0, m1, m0 = a + b, c + d, a + c, b + d
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(n > 0, n1 * m1 / n, 0.0)
        var = np.where(n > 1, n1 * n0 * m1 * m0 / (n * n * (n - 1.0)), 0.0)
        dev = np.abs((a - expected).sum())
        if correction:
            dev = np.maximum(dev - 0.5, 0.0)
        chisq = dev**2 / var.sum()
        p = float(stats.chi2.sf(chisq, 1))
        ok = n > 0
        rr = np.where(ok, a * d / n, 0.0)
        ss = np.where(ok, b * c / n, 0.0)
        pp = np.where(ok, (a + d) / n, 0.0)
        qq = np.where(ok, (b + c) / n, 0.0)
        sum_r, sum_s = rr.sum(), ss.sum()
        odds_ratio = sum_r / sum_s
        var_log = (
            (pp * rr).sum() / (2.0 * sum_r**2)
            + (pp * ss + qq * rr).sum() / (2.0 * sum_r * sum_s)
            + (qq * ss).sum() / (2.0 * sum_s**2)
        )
    return CMHResult(
        treatment=grp.labels[trt],
        reference=grp.labels[ref],
        strata=strat.labels,
        tables=cells.astype(np.int64),
        chisq=float(chisq),
        p_value=p,
        odds_ratio=float(odds_ratio),
        log_or_se=float(np.sqrt(var_log)),
        conf_level=level,
        correction=correction,
    )
