"""ADTTE: time-to-event analysis dataset (CDISC ADaM BDS for time-to-event, ADaM IG v1.3 and the ADTTE supplement
"ADaM Basic Data Structure for Time-to-Event Analyses" v1.0), one row per subject and parameter.

Parameters (``PARAMN`` order):

- ``PFS`` — progression-free survival by BICR, when the protocol has a time-to-event endpoint with events
  ``progression`` and assessor ``BICR`` (EVER-132-002's primary endpoint PFS-BICR);
- ``PFSINV`` — the same by the investigator, when the protocol has that endpoint (assessor ``investigator``, or no
  assessor: local review);
- ``OS`` — overall survival, always (deaths are collected in every trial).

Times: ``STARTDT`` = ``RANDDT`` (time from randomization, ICH E9; the endpoints' definitions); ``AVALD`` = days
``ADT - STARTDT + 1`` (randomization is day 1, ADaM study-day convention, as admiral ``derive_vars_duration``
with ``add_one = TRUE``; a subject censored at randomization has 1 day); ``AVAL`` = ``AVALD / 30.4375`` months.
``CNSR`` = 0 for an event, 1 for a censored time. ``EVNTDESC`` says which rule decided the row,
``CNSDTDSC`` which date a censored row is censored at.

PFS (FDA Guidance for Industry "Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics", December
2018 — first edition May 2007 — appendix "Example tables for PFS analysis", Table A: PFS with documented progression
only). Inputs per subject and assessor, everything dated after the cut-off ignored:

- *time-point assessments*: responses of that assessor dated after ``RANDDT``; *adequate* = overall response
  not ``NE``;
- *progression*: the first time point with overall ``PD``; *death*: ADSL ``DTHDT``; the *event* is whichever
  comes first;
- *new anticancer therapy*: the first ``new_anticancer_therapy`` disposition;
- *last adequate assessment before X*: the latest adequate, non-PD assessment dated on or before X (the
  randomization date when there is none).

Rules, first match wins:

1. New anticancer therapy started before the event (strictly earlier; or with no event) → censored at the last
   adequate assessment on or before the start of the therapy (Table A: "New anticancer treatment started").
2. Event after two or more missed assessments → censored at the last adequate assessment before the event
   (Table A: "Death or progression after more than one missed visit"). Missed means the gap from that assessment
   to the event is longer than the next ``missed_assessments`` (2) scheduled intervals of
   ``protocol.tumour_assessment`` plus the scan window: the assessment is placed on its nearest nominal scan
   (weeks since randomization), and the allowed gap is the nominal time from that scan to the second scan after
   it plus that scan's window. EVER-132-002 (6-weekly to week 36, then 9-weekly, ±7 days): 2×42+7 = 91 days early
   on, 42+63+7 = 112 days from week 30, 2×63+7 = 133 days from week 36 on. With no adequate assessment the gap
   is counted from randomization: a death or progression later than 91 days after randomization without any
   adequate assessment is censored at randomization (Table A: "No baseline/post-baseline assessment"), an earlier
   one counts (Table A: "Death before first PD assessment"). Not applied when the protocol has no
   tumour-assessment calendar.
3. Event → progression (``DISEASE PROGRESSION``) or death (``DEATH``) at its date (Table A: "Progression
   documented", "Death between adequate assessment visits").
4. No event by the cut-off → censored at the last adequate assessment (NE time points ignored; Table A: "No
   progression", "Treatment discontinuation for toxicity or other reason"), or at randomization when there is no
   adequate post-baseline assessment (Table A: "No baseline tumor assessments").

OS (time from randomization to death from any cause): death on or before the cut-off → event at ``DTHDT``; else
censored at ``LSTALVDT`` (ADSL: last known alive on or before the cut-off).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialtwin.analysis.derive._common import (
    DAYS_PER_MONTH,
    Subjects,
    adsl_keys,
    choose,
    cutoff_stamp,
    day_count,
    frame,
    timepoints,
)
from trialtwin.analysis.derive.adsl import derive_adsl
from trialtwin.protocol.model import EndpointType, Protocol

#: EVNTDESC values (the rule that decided the row) and CNSDTDSC values (the censoring date used).
PROGRESSION = "DISEASE PROGRESSION"
DEATH = "DEATH"
NO_ASSESSMENT = "NO ADEQUATE POST-BASELINE ASSESSMENT"
NEW_THERAPY = "NEW ANTICANCER THERAPY"
MISSED = "EVENT AFTER MISSED ASSESSMENTS"
NO_EVENT = "NO EVENT BY DATA CUT-OFF"
ALIVE = "ALIVE AT DATA CUT-OFF"
AT_RANDOMIZATION = "RANDOMIZATION DATE"
AT_LAST_ADEQUATE = "LAST ADEQUATE ASSESSMENT"
AT_LAST_ALIVE = "LAST KNOWN ALIVE DATE"

ADTTE_COLUMNS = (
    "PARAMCD",
    "PARAM",
    "PARAMN",
    "STARTDT",
    "ADT",
    "AVAL",
    "AVALD",
    "CNSR",
    "EVNTDESC",
    "CNSDTDSC",
)


@dataclass(frozen=True, slots=True)
class TteParameter:
    """One ADTTE parameter: code, label, order, kind and (for PFS) the assessor whose reads count."""

    paramcd: str
    param: str
    paramn: int
    kind: Literal["pfs", "os"]
    assessor: str | None
    endpoint: str | None


def tte_parameters(protocol: Protocol) -> tuple[TteParameter, ...]:
    """The ADTTE parameters ``protocol`` calls for: PFS (BICR), PFSINV (investigator) and OS (module docstring)."""
    found: dict[str, TteParameter] = {}
    for ep in protocol.endpoints:
        if ep.type is not EndpointType.TIME_TO_EVENT:
            continue
        if "progression" in ep.events:
            if ep.assessor == "BICR":
                found.setdefault(
                    "PFS", TteParameter("PFS", "Progression-Free Survival by BICR (months)", 1, "pfs", "BICR", ep.id)
                )
            else:
                found.setdefault(
                    "PFSINV",
                    TteParameter(
                        "PFSINV", "Progression-Free Survival by Investigator (months)", 2, "pfs", "investigator", ep.id
                    ),
                )
        elif ep.events == ("death",):
            found.setdefault("OS", TteParameter("OS", "Overall Survival (months)", 3, "os", None, ep.id))
    found.setdefault("OS", TteParameter("OS", "Overall Survival (months)", 3, "os", None, None))
    return tuple(sorted(found.values(), key=lambda p: p.paramn))


def derive_adtte(
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    adsl: pd.DataFrame | None = None,
    missed_assessments: int = 2,
    cutoff: dt.date,
) -> pd.DataFrame:
    """ADTTE from validated frames at the cut-off: PFS/PFSINV/OS rows for every ADSL subject (rules: module
    docstring). ``adsl`` saves re-deriving ADSL; ``missed_assessments`` is the number of consecutive missed scans
    after which an event is censored (FDA 2018 Table A: more than one)."""
    stamp = cutoff_stamp(cutoff)
    if adsl is None:
        adsl = derive_adsl(frames, protocol, cutoff=cutoff)
    adsl = adsl.reset_index(drop=True)
    keys = adsl_keys(adsl)
    parameters = tte_parameters(protocol)
    results = [
        _os(adsl)
        if parameter.kind == "os"
        else _pfs(frames, protocol, adsl, parameter.assessor or "investigator", stamp, missed_assessments)
        for parameter in parameters
    ]
    n, k = len(adsl), len(parameters)
    # subject-major order (USUBJID, then PARAMN): element [subject, parameter] of (k, n) arrays transposed
    out = adsl[keys].iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    out["PARAMCD"] = np.tile(np.asarray([p.paramcd for p in parameters], dtype=object), n)
    out["PARAM"] = np.tile(np.asarray([p.param for p in parameters], dtype=object), n)
    out["PARAMN"] = np.tile(np.asarray([p.paramn for p in parameters], dtype=np.int64), n)
    out["STARTDT"] = out["RANDDT"]
    for column in ("ADT", "CNSR", "EVNTDESC", "CNSDTDSC"):
        out[column] = np.stack([r[column] for r in results]).T.ravel() if k else []
    out["ADT"] = out["ADT"].astype("datetime64[ns]")
    days = day_count(out["ADT"], out["STARTDT"]) + 1.0
    out["AVALD"] = days
    out["AVAL"] = days / DAYS_PER_MONTH
    out["CNSR"] = out["CNSR"].astype(np.int64)
    out = out[[*keys, *ADTTE_COLUMNS]]
    dor = _duration_of_response(frames, protocol, out)
    if dor is not None:
        out = pd.concat([out, dor], ignore_index=True)
        out = out.sort_values(["USUBJID", "PARAMN"], kind="stable").reset_index(drop=True)
    return out


#: Duration of response: the responders' PFS by BICR restarted at the first documented response.
DOR = TteParameter("DOR", "Duration of Response by BICR (months)", 4, "pfs", "BICR", None)


def _duration_of_response(
    frames: Mapping[str, pd.DataFrame], protocol: Protocol, adtte: pd.DataFrame
) -> pd.DataFrame | None:
    """DOR rows for BICR responders when the protocol has a duration endpoint read by BICR.

    Responders are subjects whose engine-decided best overall response (``best_response`` frame, BICR) is CR or
    PR; DOR runs from the first documented response (``response_date``) to the PFS-BICR event or censoring date,
    with the same event and censoring rules as PFS (FDA 2018 guidance: DOR is measured to the PFS event)."""
    endpoint = next(
        (e.id for e in protocol.endpoints if e.type is EndpointType.DURATION and e.assessor == "BICR"), None
    )
    if endpoint is None:
        return None
    best = frame(frames, "best_response")
    responders = best[(best["assessor"] == "BICR") & best["response"].isin(("CR", "PR"))]
    start = responders.set_index("subject_id")["response_date"].dropna()
    pfs = adtte[adtte["PARAMCD"] == "PFS"].copy()
    pfs = pfs[pfs["SUBJID"].isin(start.index)]
    if pfs.empty:
        return None
    pfs["PARAMCD"] = DOR.paramcd
    pfs["PARAM"] = DOR.param
    pfs["PARAMN"] = DOR.paramn
    pfs["STARTDT"] = pfs["SUBJID"].map(start).astype("datetime64[ns]")
    days = day_count(pfs["ADT"], pfs["STARTDT"]) + 1.0
    pfs["AVALD"] = days
    pfs["AVAL"] = days / DAYS_PER_MONTH
    return pfs


_Result = dict[str, npt.NDArray[Any]]
_NAT = np.iinfo(np.int64).min
_DAY = 86_400 * 10**9


def _i8(values: pd.Series) -> npt.NDArray[np.int64]:
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _os(adsl: pd.DataFrame) -> _Result:
    death = _i8(adsl["DTHDT"])
    died = death != _NAT
    return {
        "ADT": np.where(died, death, _i8(adsl["LSTALVDT"])).view("datetime64[ns]"),
        "CNSR": np.where(died, 0, 1),
        "EVNTDESC": choose(died, DEATH, ALIVE),
        "CNSDTDSC": choose(died, None, AT_LAST_ALIVE),
    }


def _pfs(
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    adsl: pd.DataFrame,
    assessor: str,
    stamp: pd.Timestamp,
    missed_assessments: int,
) -> _Result:
    """PFS rows (rules 1-4 of the module docstring) as arrays aligned with ADSL; dates as int64 nanoseconds."""
    population = Subjects(adsl["SUBJID"])
    rand = _i8(adsl["RANDDT"])
    resp = timepoints(frames, population, adsl["RANDDT"], assessor, stamp)
    progressed = resp[resp["overall"] == "PD"]
    pd_date = _i8(population.first(progressed["subject_id"], progressed["date"]))
    death = _i8(adsl["DTHDT"])
    has_pd, has_death = pd_date != _NAT, death != _NAT
    first_is_pd = has_pd & ~(has_death & (death < pd_date))
    event = np.where(first_is_pd, pd_date, death)
    has_event = event != _NAT

    disposition = frame(frames, "disposition")
    therapy = disposition[(disposition["event"] == "new_anticancer_therapy") & (disposition["date"] <= stamp)]
    nat = _i8(population.first(therapy["subject_id"], therapy["date"]))
    adequate = resp[~resp["overall"].isin(["NE", "PD"])]

    def last_adequate(limit: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        bound = pd.Series(limit.view("datetime64[ns]"))
        return _i8(population.last(adequate["subject_id"], adequate["date"], on_or_before=bound))

    rule_nat = (nat != _NAT) & (~has_event | (nat < event))
    before_nat = last_adequate(nat)
    before_event = last_adequate(event)
    before_cut = last_adequate(np.full(population.n, stamp.value, dtype=np.int64))

    anchor = np.where(before_event != _NAT, before_event, rand)
    gap = (np.where(has_event, event, anchor) - anchor) / _DAY
    allowed = _allowed_gap(protocol, (anchor - rand) / _DAY, missed_assessments)
    rule_missed = ~rule_nat & has_event & (gap > allowed)
    rule_event = ~rule_nat & ~rule_missed & has_event
    rule_none = ~rule_nat & ~rule_missed & ~has_event

    def or_randomization(date: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.where(date != _NAT, date, rand)

    adt = np.select(
        [rule_nat, rule_missed, rule_event], [or_randomization(before_nat), anchor, event], or_randomization(before_cut)
    )
    evntdesc = np.select(
        [
            rule_nat,
            rule_missed & (before_event != _NAT),
            rule_event & first_is_pd,
            rule_event,
            rule_none & (before_cut != _NAT),
        ],
        [NEW_THERAPY, MISSED, PROGRESSION, DEATH, NO_EVENT],
        NO_ASSESSMENT,
    ).astype(object)
    censor_at_rand = (
        (rule_nat & (before_nat == _NAT)) | (rule_missed & (before_event == _NAT)) | (rule_none & (before_cut == _NAT))
    )
    return {
        "ADT": adt.view("datetime64[ns]"),
        "CNSR": np.where(rule_event, 0, 1),
        "EVNTDESC": evntdesc,
        "CNSDTDSC": choose(rule_event, None, choose(censor_at_rand, AT_RANDOMIZATION, AT_LAST_ADEQUATE)),
    }


def _allowed_gap(protocol: Protocol, anchor_days: npt.NDArray[np.float64], missed: int) -> npt.NDArray[np.float64]:
    """Longest gap (days) from an assessment ``anchor_days`` after randomization to an event that does not follow
    ``missed`` consecutive missed scans (rule 2 of the module docstring); infinite without a calendar."""
    schedule = protocol.tumour_assessment
    if schedule is None or missed < 1 or anchor_days.size == 0:
        return np.full(anchor_days.shape, np.inf)
    longest = max(p.every_weeks for p in schedule.phases)
    max_week = int(np.nanmax(anchor_days) // 7) + (missed + 2) * longest + 1
    weeks = np.asarray([0, *schedule.scan_weeks(max_week)], dtype=np.int64)
    nominal = weeks * 7.0
    windows = np.asarray([schedule.window_for_week(int(w)) for w in weeks], dtype=np.float64)
    i = np.searchsorted(nominal, anchor_days, side="left")
    upper = np.clip(i, 0, nominal.size - 1)
    lower = np.clip(i - 1, 0, nominal.size - 1)
    slot = np.where(nominal[upper] - anchor_days <= anchor_days - nominal[lower], upper, lower)
    target = np.clip(slot + missed, 0, nominal.size - 1)
    allowed: npt.NDArray[np.float64] = nominal[target] - nominal[slot] + windows[target]
    return allowed
