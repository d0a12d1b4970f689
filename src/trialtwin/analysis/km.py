"""Kaplan–Meier survival curves with Greenwood variance, pointwise CIs, quantiles and numbers at risk.

Sources:

- Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations. JASA 53:457–481.
- Greenwood M (1926): Var(log Ŝ(t)) = Σ_{tⱼ ≤ t} dⱼ / (nⱼ (nⱼ − dⱼ)).
- Pointwise CI transforms as in R ``survival::survfit`` (``conf.type`` "plain", "log", "log-log"; Therneau,
  survival package ``survfit_confint``), Klein & Moeschberger (2003) §4.3 eqs 4.3.1–4.3.3. The log-log
  ("complementary log-log", Kalbfleisch & Prentice 2002 §1.4) transform is the default here, as in SAS
  PROC LIFETEST and lifelines; R's default is "log".
- Quantile CI: Brookmeyer R, Crowley J (1982). A confidence interval for the median survival time.
  Biometrics 38:29–41: the set of times where the pointwise CI of S(t) (same transform) covers the target
  1 − p, i.e. where the test of S(t) = 1 − p does not reject; reported from its first event time to the event
  time following its last (SAS PROC LIFETEST; statsmodels ``SurvfuncRight.quantile_ci``). While the CI curves
  are monotone this is exactly R ``quantile.survfit`` (the quantiles of the lower and upper CI curves). Two
  tail cases differ from R: a log-transform upper curve can rise again with very few at risk (R's
  ``approx()`` then picks the smallest CI-curve value past the target; we keep the covering set), and when Ŝ
  drops to 0 at the last event time the upper limit is that time (R: NA, its CI being undefined at Ŝ = 0).
- Quantile estimate: R ``quantile.survfit`` — first time Ŝ(t) ≤ 1 − p, the midpoint of a flat lying exactly
  at 1 − p.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trialtwin.analysis._survival_data import (
    AnalysisInputError,
    BoolArray,
    FloatArray,
    IntArray,
    as_event,
    as_factor,
    as_strata,
    as_time,
    check_conf_level,
    sort_survival,
)

#: Tolerance used to detect a survival curve flat exactly at a quantile's target (R: sqrt(.Machine$double.eps)).
QUANTILE_TOLERANCE = float(np.sqrt(np.finfo(np.float64).eps))


class ConfType(StrEnum):
    """Transform of S(t) on which the pointwise Greenwood CI is symmetric (R ``survfit(conf.type=)``)."""

    LOG_LOG = "log-log"
    LOG = "log"
    PLAIN = "plain"


_CONF_TYPE_TEXT = {
    ConfType.LOG_LOG: "log-log transform, log(−log S(t))",
    ConfType.LOG: "log transform, log S(t)",
    ConfType.PLAIN: "plain (linear) S(t) ± z·SE, clipped to [0, 1]",
}


def _as_conf_type(conf_type: ConfType | str) -> ConfType:
    try:
        return ConfType(conf_type)
    except ValueError:
        options = ", ".join(c.value for c in ConfType)
        raise AnalysisInputError(f"conf_type: {conf_type!r} is not one of {options}") from None


def pointwise_ci(
    survival: FloatArray, greenwood: FloatArray, conf_level: float, conf_type: ConfType | str
) -> tuple[FloatArray, FloatArray]:
    """Pointwise CI of S(t) from Ŝ and the Greenwood sum Var(log Ŝ) (R ``survfit_confint``).

    Where Ŝ = 1 (no event yet) the interval is [1, 1]; where Ŝ = 0 it is undefined (NaN), as in R.
    """
    kind = _as_conf_type(conf_type)
    z = float(stats.norm.ppf(0.5 + check_conf_level(conf_level) / 2.0))
    s = np.asarray(survival, dtype=np.float64)
    se_log = np.sqrt(np.asarray(greenwood, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind is ConfType.PLAIN:
            half = z * s * se_log
            lower = np.maximum(s - half, 0.0)
            upper = np.minimum(s + half, 1.0)
        elif kind is ConfType.LOG:
            lower = s * np.exp(-z * se_log)
            upper = np.minimum(s * np.exp(z * se_log), 1.0)
        else:
            se_theta = se_log / np.abs(np.log(s))
            lower = s ** np.exp(z * se_theta)
            upper = s ** np.exp(-z * se_theta)
    one = s >= 1.0
    zero = s <= 0.0
    lower = np.where(one, 1.0, np.where(zero, np.nan, lower))
    upper = np.where(one, 1.0, np.where(zero, np.nan, upper))
    return lower, upper


def _find_quantile(times: FloatArray, cdf: FloatArray, p: float, last_time: float) -> float:
    """R ``findq`` (survival ``quantile.survfit``) for a monotone curve: the first time its CDF reaches ``p``;
    the midpoint of a flat lying exactly at ``p`` (within √ε); the midpoint to the last follow-up time when the
    curve ends exactly at ``p``; NaN when it never reaches ``p``.

    ``times``/``cdf`` start with (0, 0) and then list the curve at its event times.
    """
    if np.max(cdf) < p:
        return float("nan")
    at1 = np.flatnonzero(cdf + QUANTILE_TOLERANCE >= p)
    i1 = int(at1[0])
    at2 = np.flatnonzero(cdf - QUANTILE_TOLERANCE >= p)
    if at2.size:
        return float((times[i1] + times[int(at2[0])]) / 2.0)
    if abs(p - cdf[-1]) < QUANTILE_TOLERANCE:
        return float((times[i1] + last_time) / 2.0)
    return float("nan")


@dataclass(frozen=True, slots=True, eq=False)
class KaplanMeierCurve:
    """One Kaplan–Meier curve, listed at every distinct observed time (events and censorings), as R does.

    ``greenwood`` is Var(log Ŝ(t)); ``std_err`` is the Greenwood SE of Ŝ(t) itself (Ŝ·√greenwood).
    """

    label: str
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    survival: FloatArray
    greenwood: FloatArray
    std_err: FloatArray
    lower: FloatArray
    upper: FloatArray
    conf_level: float
    conf_type: ConfType

    @property
    def n(self) -> int:
        """Subjects in the curve."""
        return int(self.n_risk[0]) if self.n_risk.size else 0

    @property
    def events(self) -> int:
        """Events in the curve."""
        return int(self.n_event.sum())

    @property
    def last_time(self) -> float:
        """Last observed time (event or censoring)."""
        return float(self.time[-1])

    def _index_at(self, times: Any) -> tuple[FloatArray, IntArray]:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        return t, np.searchsorted(self.time, t, side="right").astype(np.int64) - 1

    def survival_at(self, times: Any) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Ŝ(t), its Greenwood SE and pointwise CI at ``times`` (right-continuous; NaN after the last time)."""
        t, idx = self._index_at(times)
        j = np.clip(idx, 0, None)
        before = idx < 0
        after = t > self.last_time
        out = []
        for values, start in (
            (self.survival, 1.0),
            (self.std_err, 0.0),
            (self.lower, 1.0),
            (self.upper, 1.0),
        ):
            v = np.where(before, start, values[j])
            out.append(np.where(after, np.nan, v))
        return out[0], out[1], out[2], out[3]

    def at_risk(self, times: Any) -> IntArray:
        """Numbers at risk (time ≥ t) at ``times`` — the row under a KM plot."""
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        idx = np.searchsorted(self.time, t, side="left")
        padded = np.append(self.n_risk, 0)
        return padded[idx].astype(np.int64)

    def quantile(self, p: float) -> tuple[float, float, float]:
        """Time by which a fraction ``p`` has had the event, with its Brookmeyer–Crowley CI.

        Estimate: R ``quantile.survfit`` (first time Ŝ ≤ 1 − p; midpoint of a flat exactly at 1 − p). CI: the
        event times where the pointwise CI of S(t) covers 1 − p — lower limit the first of them, upper limit the
        next event time after the last of them (NaN if the CI still covers 1 − p at the last event time).
        ``p = 0.5`` gives the median. See the module docstring for how this relates to R, SAS and statsmodels.
        """
        if not 0.0 < p < 1.0:
            raise AnalysisInputError(f"p: quantile probability must be strictly between 0 and 1, got {p!r}")
        has_event = self.n_event > 0
        event_times = self.time[has_event]
        cdf = np.concatenate(([0.0], 1.0 - self.survival[has_event]))
        estimate = _find_quantile(np.concatenate(([0.0], event_times)), cdf, p, self.last_time)
        target = 1.0 - p
        covers = np.flatnonzero((self.lower[has_event] <= target) & (self.upper[has_event] >= target))
        if covers.size == 0:
            return estimate, float("nan"), float("nan")
        after = int(covers[-1]) + 1
        upper = float(event_times[after]) if after < event_times.shape[0] else float("nan")
        return estimate, float(event_times[covers[0]]), upper

    @property
    def table(self) -> pd.DataFrame:
        """The curve as a table (one row per distinct time), like R ``summary(survfit, censored=TRUE)``."""
        return pd.DataFrame(
            {
                "time": self.time,
                "n_risk": self.n_risk,
                "n_event": self.n_event,
                "n_censor": self.n_censor,
                "survival": self.survival,
                "std_err": self.std_err,
                "lower": self.lower,
                "upper": self.upper,
            }
        )


def _footnote(conf_level: float, conf_type: ConfType) -> str:
    pct = f"{100 * conf_level:g}%"
    return (
        f"Kaplan–Meier estimate; Greenwood variance; {pct} pointwise CI on the {_CONF_TYPE_TEXT[conf_type]}; "
        f"median/quantile {pct} CI by Brookmeyer–Crowley (event times where the pointwise CI covers the target)."
    )


@dataclass(frozen=True, slots=True, eq=False)
class KaplanMeierResult:
    """Kaplan–Meier curves, one per group (sorted group levels), with tables for reporting."""

    curves: tuple[KaplanMeierCurve, ...]
    conf_level: float
    conf_type: ConfType

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.curves)

    def curve(self, label: Any) -> KaplanMeierCurve:
        """The curve of one group (by its label, compared as text)."""
        for c in self.curves:
            if c.label == str(label):
                return c
        raise AnalysisInputError(f"group: {label!r} is not one of {', '.join(self.labels)}")

    @property
    def footnote(self) -> str:
        return _footnote(self.conf_level, self.conf_type)

    def _attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame.attrs["footnote"] = self.footnote
        frame.attrs["conf_type"] = self.conf_type.value
        frame.attrs["conf_level"] = self.conf_level
        return frame

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: n, events, censored, median with its CI (Brookmeyer–Crowley)."""
        rows = []
        for c in self.curves:
            med, lo, hi = c.quantile(0.5)
            rows.append(
                {
                    "group": c.label,
                    "n": c.n,
                    "events": c.events,
                    "censored": c.n - c.events,
                    "median": med,
                    "median_lower": lo,
                    "median_upper": hi,
                }
            )
        return self._attach(pd.DataFrame(rows).set_index("group"))

    def quantiles(self, probs: Sequence[float] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
        """Quantiles (default quartiles) of every curve with Brookmeyer–Crowley CIs; one row per (group, p)."""
        rows = []
        for c in self.curves:
            for p in probs:
                est, lo, hi = c.quantile(float(p))
                rows.append({"group": c.label, "p": float(p), "estimate": est, "lower": lo, "upper": hi})
        return self._attach(pd.DataFrame(rows).set_index(["group", "p"]))

    def landmark(self, times: Iterable[float]) -> pd.DataFrame:
        """Survival rates at landmark ``times`` with Greenwood SE, pointwise CI and numbers at risk."""
        t = np.asarray(list(times), dtype=np.float64)
        frames = []
        for c in self.curves:
            s, se, lo, hi = c.survival_at(t)
            frames.append(
                pd.DataFrame(
                    {
                        "group": c.label,
                        "time": t,
                        "survival": s,
                        "std_err": se,
                        "lower": lo,
                        "upper": hi,
                        "n_risk": c.at_risk(t),
                    }
                )
            )
        return self._attach(pd.concat(frames, ignore_index=True).set_index(["group", "time"]))

    def at_risk(self, times: Iterable[float]) -> pd.DataFrame:
        """Numbers at risk: one row per group, one column per time (for the table under a KM plot)."""
        t = np.asarray(list(times), dtype=np.float64)
        data = {c.label: c.at_risk(t) for c in self.curves}
        frame = pd.DataFrame.from_dict(data, orient="index", columns=t.tolist())
        frame.index.name = "group"
        return self._attach(frame)


def _curve(
    label: str,
    time: FloatArray,
    n_risk: IntArray,
    n_event: IntArray,
    n_censor: IntArray,
    conf_level: float,
    conf_type: ConfType,
) -> KaplanMeierCurve:
    with np.errstate(divide="ignore", invalid="ignore"):
        survival: FloatArray = np.cumprod(1.0 - n_event / n_risk.astype(np.float64), dtype=np.float64)
        greenwood: FloatArray = np.cumsum(n_event / (n_risk * (n_risk - n_event).astype(np.float64)))
        std_err = np.where(survival > 0, survival * np.sqrt(greenwood), np.nan)
    lower, upper = pointwise_ci(survival, greenwood, conf_level, conf_type)
    return KaplanMeierCurve(
        label=label,
        time=time,
        n_risk=n_risk,
        n_event=n_event,
        n_censor=n_censor,
        survival=survival,
        greenwood=greenwood,
        std_err=std_err,
        lower=lower,
        upper=upper,
        conf_level=conf_level,
        conf_type=conf_type,
    )


def kaplan_meier(
    time: Any,
    event: Any,
    groups: Any = None,
    *,
    conf_level: float = 0.95,
    conf_type: ConfType | str = ConfType.LOG_LOG,
) -> KaplanMeierResult:
    """Kaplan–Meier curves of right-censored data, one per level of ``groups`` (sorted), or one overall.

    ``time`` ≥ 0, ``event`` 1 = event / 0 = censored. Greenwood variance; pointwise CI on the ``conf_type``
    scale (default log-log); quantiles by R's rule with Brookmeyer–Crowley CIs (see the module docstring).

    >>> km = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    >>> km.curves[0].quantile(0.5)[0]  # S = 0.5 exactly on [2, 3): midpoint, as R survfit
    2.5
    """
    t = as_time(time)
    e: BoolArray = as_event(event, t.shape[0])
    level = check_conf_level(conf_level)
    kind = _as_conf_type(conf_type)
    factor = as_strata(None, t.shape[0]) if groups is None else as_factor(groups, t.shape[0], "groups")
    srt = sort_survival(t, e, factor.codes, factor.size)
    curves = []
    for g, label in enumerate(factor.labels):
        b0, b1 = int(srt.seg_block_bounds[g]), int(srt.seg_block_bounds[g + 1])
        d = srt.block_events[b0:b1]
        curves.append(
            _curve(
                label,
                srt.block_time[b0:b1],
                srt.block_at_risk[b0:b1],
                d,
                srt.block_size[b0:b1] - d,
                level,
                kind,
            )
        )
    return KaplanMeierResult(curves=tuple(curves), conf_level=level, conf_type=kind)
