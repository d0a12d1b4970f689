"""The key figures of one trial, from its ADaM datasets, keyed like the protocol's published results.

``summarize_trial`` computes what a results paper reports — per-arm medians and landmark rates, stratified hazard
ratios, response and clinical-benefit rates, grade ≥ 3 treatment-emergent adverse events — with the statistics of
this package (Kaplan–Meier with log-log CIs, stratified Cox with Efron ties and stratified log-rank p, Clopper–
Pearson, Mantel–Haenszel odds ratio). Every estimate carries the same keys as a ``PublishedValue``
(endpoint, characteristic, statistic, arm, months), so ``compare_with_published`` is a join. The calibration of the
twin, the report's "published vs this trial" table and the main job's closing summary all read this.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialtwin.analysis.cox import cox_ph
from trialtwin.analysis.derive import strata_variables, tte_parameters
from trialtwin.analysis.km import kaplan_meier
from trialtwin.analysis.logrank import logrank_test
from trialtwin.analysis.response import cmh_test, response_rate
from trialtwin.protocol.model import ArmType, EndpointType, Protocol, PublishedValue

#: Landmarks (months) reported for each time-to-event parameter.
LANDMARKS = (6.0, 9.0, 12.0)
#: CTCAE terms behind the words published safety figures use.
SAFETY_TERMS = {"neutropenia": "Neutrophil count decreased", "diarrhoea": "Diarrhea", "diarrhea": "Diarrhea"}


@dataclass(frozen=True, slots=True)
class Estimate:
    """One figure of the trial: what it is (as a PublishedValue would say) and its value with CI and p."""

    endpoint: str | None
    characteristic: str | None
    statistic: str
    arm: str | None
    at_months: float | None
    value: float
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None
    unit: str = ""

    def key(self) -> tuple[str | None, str | None, str, str | None, float | None]:
        return (self.endpoint, self.characteristic, self.statistic, self.arm, self.at_months)


@dataclass(frozen=True, slots=True)
class TrialSummary:
    study: str
    treatment: str
    control: str
    estimates: tuple[Estimate, ...]

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([_as_dict(e) for e in self.estimates])

    def get(
        self,
        endpoint: str | None,
        statistic: str,
        arm: str | None = None,
        at_months: float | None = None,
        characteristic: str | None = None,
    ) -> Estimate | None:
        for e in self.estimates:
            if e.key() == (endpoint, characteristic, statistic, arm, at_months):
                return e
        return None


def _as_dict(e: Estimate) -> dict[str, object]:
    return {name: getattr(e, name) for name in Estimate.__slots__}


def treatment_and_control(protocol: Protocol) -> tuple[str, str]:
    """The experimental arm and the comparator (HRs are experimental vs comparator)."""
    experimental = [a.id for a in protocol.arms if a.type is ArmType.EXPERIMENTAL]
    others = [a.id for a in protocol.arms if a.type is not ArmType.EXPERIMENTAL]
    if len(experimental) == 1 and len(others) == 1:
        return experimental[0], others[0]
    ids = [a.id for a in protocol.arms]
    return ids[0], ids[1]


def summarize_trial(adam: Mapping[str, pd.DataFrame], protocol: Protocol) -> TrialSummary:
    """Key efficacy and safety figures of one trial from ADSL, ADTTE, ADRS and ADAE."""
    trt, ctl = treatment_and_control(protocol)
    strata_cols = [v.code_column for v in strata_variables(protocol)]
    out: list[Estimate] = []
    adsl = adam["ADSL"]
    itt = adsl[adsl["ITTFL"] == "Y"]
    for arm in (trt, ctl):
        out.append(
            Estimate(None, "Randomized (ITT)", "count", arm, None, float((itt["ARMCD"] == arm).sum()), unit="patients")
        )
    adtte = adam["ADTTE"]
    for param in tte_parameters(protocol):
        data = adtte[adtte["PARAMCD"] == param.paramcd]
        if param.endpoint is None or data.empty:
            continue
        out.extend(_time_to_event(data, param.endpoint, trt, ctl, strata_cols))
    dor_endpoint = next(
        (e.id for e in protocol.endpoints if e.type is EndpointType.DURATION and e.assessor == "BICR"), None
    )
    dor = adtte[adtte["PARAMCD"] == "DOR"]
    if dor_endpoint is not None and not dor.empty:
        km = kaplan_meier(dor["AVAL"].to_numpy(dtype=float), 1 - dor["CNSR"].to_numpy(dtype=int), dor["ARMCD"])
        for arm in km.labels:
            med, lo, hi = km.curve(arm).quantile(0.5)
            out.append(Estimate(dor_endpoint, None, "median", arm, None, med, _f(lo), _f(hi), unit="months"))
    out.extend(_responses(adam["ADRS"], protocol, trt, ctl, strata_cols))
    out.extend(_safety(adam["ADAE"], adsl, protocol, trt, ctl))
    return TrialSummary(protocol.id, trt, ctl, tuple(out))


def _time_to_event(data: pd.DataFrame, endpoint: str, trt: str, ctl: str, strata: list[str]) -> list[Estimate]:
    time = data["AVAL"].to_numpy(dtype=float)
    event = (1 - data["CNSR"].to_numpy(dtype=int)).astype(int)
    arm = data["ARMCD"].astype(str).to_numpy()
    km = kaplan_meier(time, event, arm)
    out = [Estimate(endpoint, None, "count", None, None, float(event.sum()), unit="events")]
    for a in (trt, ctl):
        curve = km.curve(a)
        med, lo, hi = curve.quantile(0.5)
        out.append(Estimate(endpoint, None, "median", a, None, med, _f(lo), _f(hi), unit="months"))
        s, _se, slo, shi = curve.survival_at(np.asarray(LANDMARKS))
        for t, v, lo2, hi2 in zip(LANDMARKS, s, slo, shi, strict=True):
            out.append(Estimate(endpoint, None, "rate", a, t, 100 * float(v), _pct(lo2), _pct(hi2), unit="%"))
    strat = data[strata].astype(str).to_numpy() if strata else None
    cox = cox_ph(time, event, (arm == trt).astype(float), strata=strat, names=["treatment"])
    lr = logrank_test(time, event, arm, strata=strat)
    out.append(
        Estimate(
            endpoint,
            None,
            "hazard_ratio",
            None,
            None,
            float(cox.hr[0]),
            float(cox.hr_lower[0]),
            float(cox.hr_upper[0]),
            float(lr.p_value),
            unit="ratio",
        )
    )
    return out


def _responses(adrs: pd.DataFrame, protocol: Protocol, trt: str, ctl: str, strata: list[str]) -> list[Estimate]:
    out: list[Estimate] = []
    for ep in protocol.endpoints:
        if ep.type is not EndpointType.PROPORTION or ep.assessor is None:
            continue
        paramcd = "CBR" if "SD" in ep.responses else "RSP"
        rows = adrs[(adrs["PARAMCD"] == paramcd) & (adrs["ASSESSOR"] == ep.assessor)]
        if rows.empty:
            continue
        responded = (rows["AVALC"] == "Y").to_numpy()
        arm = rows["ARMCD"].astype(str).to_numpy()
        rates = response_rate(responded, arm)
        lower, upper = rates.ci
        for i, label in enumerate(rates.labels):
            if label in (trt, ctl):
                out.append(
                    Estimate(
                        ep.id,
                        None,
                        "proportion",
                        label,
                        None,
                        100 * float(rates.rate[i]),
                        100 * float(lower[i]),
                        100 * float(upper[i]),
                        unit="%",
                    )
                )
        strat = rows[strata].astype(str).agg("|".join, axis=1).to_numpy() if strata else None
        cmh = cmh_test(responded, arm, strat, reference=ctl)
        lo, hi = cmh.or_ci if 0 < cmh.odds_ratio < math.inf else (math.nan, math.nan)
        out.append(
            Estimate(ep.id, None, "odds_ratio", None, None, cmh.odds_ratio, _f(lo), _f(hi), cmh.p_value, "ratio")
        )
    return out


def _safety(adae: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol, trt: str, ctl: str) -> list[Estimate]:
    endpoint = next((e.id for e in protocol.endpoints if e.type is EndpointType.SAFETY), None)
    safety = adsl[adsl["SAFFL"] == "Y"]
    out: list[Estimate] = []
    wanted = _published_safety_terms(protocol.published_results)
    teae = adae[(adae["TRTEMFL"] == "Y") & (adae["AETOXGR"] >= 3)]
    for characteristic, term in wanted.items():
        with_term = set(teae.loc[teae["AEDECOD"] == term, "USUBJID"])
        for a in (trt, ctl):
            ids = safety.loc[safety["ARMCD"] == a, "USUBJID"]
            if len(ids):
                value = 100 * float(ids.isin(with_term).mean())
                out.append(Estimate(endpoint, characteristic, "proportion", a, None, value, unit="%"))
    return out


def _published_safety_terms(values: Iterable[PublishedValue]) -> dict[str, str]:
    """Published grade >= 3 safety characteristics → the CTCAE term they name."""
    found: dict[str, str] = {}
    for pv in values:
        if pv.characteristic and "grade >= 3" in pv.characteristic.lower():
            for word, term in SAFETY_TERMS.items():
                if word in pv.characteristic.lower():
                    found[pv.characteristic] = term
    return found


def with_endpoints_from(summary: TrialSummary, other: TrialSummary, endpoints: Iterable[str]) -> TrialSummary:
    """``summary`` with the estimates of ``endpoints`` taken from ``other`` (e.g. OS read at its own, later cut)."""
    names = set(endpoints)
    kept = tuple(e for e in summary.estimates if e.endpoint not in names)
    taken = tuple(e for e in other.estimates if e.endpoint in names)
    return TrialSummary(summary.study, summary.treatment, summary.control, kept + taken)


def survival_endpoints(protocol: Protocol) -> tuple[str, ...]:
    """Endpoints whose only event is death (overall survival)."""
    return tuple(e.id for e in protocol.endpoints if e.type is EndpointType.TIME_TO_EVENT and e.events == ("death",))


def compare_with_published(summaries: Iterable[TrialSummary], protocol: Protocol) -> pd.DataFrame:
    """Published value vs the distribution of this estimate over trials (one summary per replicate).

    Columns: published value and source; simulated mean, its Monte-Carlo standard error, and the 2.5th–97.5th
    percentile interval of the replicate values (where a single trial like the published one falls); ``inside``
    says whether the published value lies in that interval.
    """
    summaries = list(summaries)
    rows = []
    for pv in protocol.published_results:
        if pv.statistic == "count" and pv.endpoint is None and pv.characteristic != "Randomized (ITT)":
            continue
        key_char = pv.characteristic if pv.endpoint is None or pv.endpoint == _safety_endpoint(protocol) else None
        values = []
        for s in summaries:
            e = s.get(pv.endpoint, pv.statistic.value, pv.arm, pv.at_months, key_char)
            if e is not None and math.isfinite(e.value):
                values.append(e.value)
        if not values:
            continue
        arr = np.asarray(values)
        lo, hi = (float(x) for x in np.percentile(arr, [2.5, 97.5]))
        rows.append(
            {
                "id": pv.id,
                "endpoint": pv.endpoint or pv.characteristic,
                "statistic": pv.statistic.value,
                "arm": pv.arm or "",
                "months": pv.at_months,
                "published": pv.value,
                "source": pv.source,
                "status": pv.status,
                "replicates": int(arr.size),
                "mean": float(arr.mean()),
                "mc_se": float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan"),
                "p2_5": lo,
                "p97_5": hi,
                "inside": bool(lo <= pv.value <= hi),
            }
        )
    return pd.DataFrame(rows)


def _safety_endpoint(protocol: Protocol) -> str | None:
    return next((e.id for e in protocol.endpoints if e.type is EndpointType.SAFETY), None)


def _f(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _pct(x: float) -> float | None:
    return 100 * float(x) if x is not None and math.isfinite(x) else None
