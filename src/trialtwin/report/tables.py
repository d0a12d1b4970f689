"""Tables of the trial report, as pandas DataFrames of formatted text (presentation only).

Every ``table_*`` function returns a DataFrame whose index is a two-level ``(section, row)`` MultiIndex — ``row``
is ``""`` for a section's own line — and whose columns are the arms' short labels (plus ``Total`` where
meaningful). Metadata for rendering sits in ``frame.attrs``: ``title``, ``footnotes`` (the methods, taken from
the analysis results' ``footnote``), ``column_labels`` (short → full label) and ``column_n`` (short → N).
Comparisons (hazard ratio, rate difference, odds ratio, p-values) are written in the column of the treatment arm.

Layouts follow the usual TLF shells: baseline characteristics (ICH E3 §11.2, Table 14.1.x), time-to-event
summary (TTET01: events by type, censoring, quartiles with Brookmeyer–Crowley CIs, stratified and unstratified
HR and log-rank p, event-free rates at landmarks), response (RSPT01: best overall response, ORR with
Clopper–Pearson CI, difference with Newcombe CI, CMH test), TEAE by term and grade (AET04), exposure (EXT01).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialtwin.analysis import (
    AnalysisInputError,
    cmh_test,
    cox_ph,
    kaplan_meier,
    logrank_test,
    rate_difference,
    response_rate,
)
from trialtwin.analysis.derive import DAYS_PER_MONTH, strata_variables, tte_parameters
from trialtwin.analysis.safety import DosingSchedule, adverse_event_incidence, dose_intensity
from trialtwin.protocol.model import EndpointType, Protocol, PublishedValue, Statistic
from trialtwin.report._common import (
    NOT_ESTIMABLE,
    ArmStyle,
    ReportError,
    arm_styles,
    cell,
    finite,
    fmt_ci,
    fmt_n_pct,
    fmt_num,
    fmt_p,
    reference_arm,
    treatment_arms,
)

Row = tuple[str, str]

_STRATUM = re.compile(r"^STRAT\d+$")


def strata_columns(data: pd.DataFrame) -> list[str]:
    """The randomization strata columns (``STRAT1``, ``STRAT2``, … level codes) present in an ADaM dataset."""
    return sorted((c for c in data.columns if _STRATUM.match(str(c))), key=lambda c: int(str(c)[5:]))


def _table(
    rows: Mapping[Row, Mapping[str, str]],
    columns: Sequence[str],
    *,
    title: str,
    footnotes: Iterable[str] = (),
    column_labels: Mapping[str, str] | None = None,
    column_n: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["section", "row"])
    frame = pd.DataFrame(
        [[values.get(c, "") for c in columns] for values in rows.values()], index=index, columns=list(columns)
    )
    frame.attrs["title"] = title
    frame.attrs["footnotes"] = [f for f in dict.fromkeys(footnotes) if f]
    frame.attrs["column_labels"] = dict(column_labels or {})
    frame.attrs["column_n"] = dict(column_n or {})
    return frame


def _labels(arms: Sequence[ArmStyle]) -> dict[str, str]:
    return {a.short: a.label for a in arms}


# ---- comparisons (analysis calls shared with the plots) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """Hazard ratio of ``treatment`` vs ``reference`` (Cox, Wald CI) and the log-rank p, with the footnotes."""

    treatment: str
    reference: str
    stratified: bool
    hr: float
    hr_lower: float
    hr_upper: float
    hr_p: float
    logrank_p: float
    footnotes: tuple[str, ...]


def compare_arms(
    rows: pd.DataFrame, treatment: ArmStyle, reference: ArmStyle, *, strata: Sequence[str] = ()
) -> Comparison:
    """Cox hazard ratio (Efron ties) and log-rank test of ``treatment`` vs ``reference`` on ADTTE rows of one
    parameter, stratified by the ``strata`` columns when given. A model that cannot be fitted (no events, a
    single arm) gives NaN (shown as NE) rather than an error."""
    pair = rows[rows["ARMCD"].isin([treatment.code, reference.code])]
    time = pair["AVAL"].to_numpy(float)
    event = 1 - pair["CNSR"].to_numpy(int)
    arm = pair["ARMCD"].astype(str).to_numpy()
    strat = pair[list(strata)].astype(str) if strata else None
    nan = float("nan")
    try:
        fit = cox_ph(time, event, {treatment.short: arm == treatment.code}, strata=strat, ties="efron")
        hr, lo, hi, p = float(fit.hr[0]), float(fit.hr_lower[0]), float(fit.hr_upper[0]), float(fit.p_value[0])
        cox_note = fit.footnote
        if not fit.converged:
            hr = lo = hi = p = nan
    except (AnalysisInputError, np.linalg.LinAlgError):
        hr = lo = hi = p = nan
        cox_note = ""
    try:
        lr = logrank_test(time, event, arm, strata=strat)
        lr_p, lr_note = float(lr.p_value), lr.footnote
    except AnalysisInputError:
        lr_p, lr_note = nan, ""
    return Comparison(
        treatment=treatment.code,
        reference=reference.code,
        stratified=bool(strata),
        hr=hr,
        hr_lower=lo,
        hr_upper=hi,
        hr_p=p,
        logrank_p=lr_p,
        footnotes=tuple(f for f in (cox_note, lr_note) if f),
    )


def _tte_rows(adtte: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = adtte[adtte["PARAMCD"] == paramcd]
    if rows.empty:
        found = ", ".join(sorted(str(p) for p in adtte["PARAMCD"].unique())) or "none"
        raise ReportError(f"ADTTE: no rows for PARAMCD {paramcd!r} (parameters: {found})")
    return rows


def _sentence(text: Any) -> str:
    value = str(text).strip()
    return value[:1].upper() + value[1:].lower() if value else value


# ---- baseline --------------------------------------------------------------------------------------------------


def table_baseline(
    adsl: pd.DataFrame, *, arms: Sequence[ArmStyle] | None = None, protocol: Protocol | None = None
) -> pd.DataFrame:
    """Demographics and stratification factors as randomized, by arm and in total (ITT population)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    itt = adsl[adsl["ITTFL"] == "Y"] if "ITTFL" in adsl.columns else adsl
    groups: list[tuple[str, pd.DataFrame]] = [(a.short, itt[itt["ARMCD"] == a.code]) for a in arms]
    groups.append(("Total", itt))
    columns = [g for g, _ in groups]
    rows: dict[Row, dict[str, str]] = {}

    def put(section: str, row: str, fn: Any) -> None:
        rows[(section, row)] = {name: fn(data) for name, data in groups}

    def count(mask_fn: Any) -> Any:
        return lambda d: fmt_n_pct(int(mask_fn(d).sum()), len(d))

    age = "Age (years)"
    put(age, "n", lambda d: str(int(d["AGE"].notna().sum())))
    put(age, "Mean (SD)", lambda d: f"{fmt_num(d['AGE'].mean())} ({fmt_num(d['AGE'].std())})" if len(d) else "")
    put(age, "Median", lambda d: fmt_num(d["AGE"].median()))
    put(age, "Min, max", lambda d: f"{fmt_num(d['AGE'].min())}, {fmt_num(d['AGE'].max())}" if len(d) else "")
    put("Age group", "< 65 years", count(lambda d: d["AGE"] < 65))
    put("Age group", "≥ 65 years", count(lambda d: d["AGE"] >= 65))
    put("Sex", "Female", count(lambda d: d["SEX"] == "F"))
    put("Sex", "Male", count(lambda d: d["SEX"] == "M"))
    if "ECOGBL" in itt.columns:
        for score in sorted(int(v) for v in itt["ECOGBL"].dropna().unique()):
            put("ECOG performance status", str(score), count(lambda d, v=score: d["ECOGBL"] == v))
    if "WEIGHTBL" in itt.columns:
        put("Weight (kg)", "Median (min, max)", lambda d: _median_range(d["WEIGHTBL"]))
    for country in sorted(itt["COUNTRY"].dropna().astype(str).unique()):
        put("Country", country, count(lambda d, c=country: d["COUNTRY"] == c))
    for section, code_col, _, levels in _strata_levels(itt, protocol):
        for code, label in levels:
            put(f"{section} (as randomized)", label, count(lambda d, c=code, col=code_col: d[col].astype(str) == c))
    return _table(
        rows,
        columns,
        title="Demographics and baseline characteristics (ITT population)",
        footnotes=["Percentages are of the patients in each column; stratification factors as randomized (IRT)."],
        column_labels={**_labels(arms), "Total": "Total"},
        column_n={name: len(data) for name, data in groups},
    )


def _median_range(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return NOT_ESTIMABLE
    return f"{fmt_num(v.median())} ({fmt_num(v.min())}, {fmt_num(v.max())})"


def _strata_levels(adsl: pd.DataFrame, protocol: Protocol | None) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(factor name, code column, label column, [(code, label)]) per stratification factor."""
    out = []
    if protocol is not None:
        for var in strata_variables(protocol):
            if var.code_column not in adsl.columns:
                continue
            factor = protocol.factor(var.factor_id)
            out.append((var.name, var.code_column, var.label_column, [(lv.code, lv.label) for lv in factor.levels]))
        return out
    for col in strata_columns(adsl):
        label_col = f"{col}V"
        pairs = adsl[[col, label_col]] if label_col in adsl.columns else adsl[[col, col]]
        levels = sorted({(str(a), str(b)) for a, b in pairs.itertuples(index=False)})
        out.append((f"Stratification factor {col[5:]}", col, label_col, levels))
    return out


# ---- disposition -----------------------------------------------------------------------------------------------


def table_disposition(adsl: pd.DataFrame, *, arms: Sequence[ArmStyle] | None = None) -> pd.DataFrame:
    """Patient disposition at the cut-off by arm: treated, treatment status with reasons, study status, deaths."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl)
    groups = [(a.short, adsl[adsl["ARMCD"] == a.code]) for a in arms] + [("Total", adsl)]
    rows: dict[Row, dict[str, str]] = {}

    def put(section: str, row: str, fn: Any) -> None:
        rows[(section, row)] = {name: fn(d) for name, d in groups}

    put("Randomized (ITT)", "", lambda d: str(len(d)))
    put("Treated (safety population)", "", lambda d: fmt_n_pct(int((d["SAFFL"] == "Y").sum()), len(d)))
    put("Not treated", "", lambda d: fmt_n_pct(int((d["SAFFL"] != "Y").sum()), len(d)))
    put("Treatment ongoing at cut-off", "", lambda d: fmt_n_pct(int((d["EOTSTT"] == "ONGOING").sum()), len(d)))
    put("Treatment completed", "", lambda d: fmt_n_pct(int((d["EOTSTT"] == "COMPLETED").sum()), len(d)))
    put("Treatment discontinued", "", lambda d: fmt_n_pct(int((d["EOTSTT"] == "DISCONTINUED").sum()), len(d)))
    stopped = adsl[adsl["EOTSTT"] == "DISCONTINUED"]
    for reason in sorted(stopped["DCTREAS"].dropna().astype(str).unique()):
        put(
            "Treatment discontinued",
            _sentence(reason),
            lambda d, r=reason: fmt_n_pct(int(((d["EOTSTT"] == "DISCONTINUED") & (d["DCTREAS"] == r)).sum()), len(d)),
        )
    put("In study at cut-off", "", lambda d: fmt_n_pct(int((d["EOSSTT"] == "ONGOING").sum()), len(d)))
    put("Study discontinued", "", lambda d: fmt_n_pct(int((d["EOSSTT"] == "DISCONTINUED").sum()), len(d)))
    off = adsl[adsl["EOSSTT"] == "DISCONTINUED"]
    for reason in sorted(off["DCSREAS"].dropna().astype(str).unique()):
        put(
            "Study discontinued",
            _sentence(reason),
            lambda d, r=reason: fmt_n_pct(int(((d["EOSSTT"] == "DISCONTINUED") & (d["DCSREAS"] == r)).sum()), len(d)),
        )
    put("Deaths", "", lambda d: fmt_n_pct(int((d["DTHFL"] == "Y").sum()), len(d)))
    return _table(
        rows,
        [g for g, _ in groups],
        title="Patient disposition at the data cut-off (all randomized patients)",
        footnotes=["Reasons as CDISC NCOMPLT terms; percentages of randomized patients in each column."],
        column_labels={**_labels(arms), "Total": "Total"},
        column_n={name: len(d) for name, d in groups},
    )


# ---- time to event ---------------------------------------------------------------------------------------------


def table_tte(
    adtte: pd.DataFrame,
    paramcd: str = "PFS",
    *,
    arms: Sequence[ArmStyle] | None = None,
    strata: Sequence[str] | None = None,
    landmarks: Sequence[float] = (6.0, 9.0, 12.0),
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """TTET01-style summary of ADTTE parameter ``paramcd`` (months) by arm.

    Events by type (``EVNTDESC``), censored patients by reason, median and quartiles with Brookmeyer–Crowley
    CIs, range (``+`` = censored), unstratified and stratified (``strata``, default the ``STRATn`` columns) Cox
    hazard ratio of each treatment arm vs the reference with the log-rank p, and Kaplan–Meier event-free rates
    with CIs and numbers at risk at the ``landmarks`` (months).
    """
    rows = _tte_rows(adtte, paramcd)
    arms = tuple(arms) if arms is not None else arm_styles(rows)
    rows = rows[rows["ARMCD"].isin([a.code for a in arms])]
    strata = strata_columns(rows) if strata is None else list(strata)
    km = kaplan_meier(
        rows["AVAL"].to_numpy(float), 1 - rows["CNSR"].to_numpy(int), rows["ARMCD"].astype(str), conf_level=conf_level
    )
    by_arm = {a.short: rows[rows["ARMCD"] == a.code] for a in arms}
    out: dict[Row, dict[str, str]] = {}
    pct = f"{100 * conf_level:g}%"

    events = rows[rows["CNSR"] == 0]
    out[("Patients with event", "")] = {s: fmt_n_pct(int((d["CNSR"] == 0).sum()), len(d)) for s, d in by_arm.items()}
    for desc in sorted(events["EVNTDESC"].dropna().astype(str).unique()):
        out[("Patients with event", _sentence(desc))] = {
            s: fmt_n_pct(int(((d["CNSR"] == 0) & (d["EVNTDESC"] == desc)).sum()), len(d)) for s, d in by_arm.items()
        }
    censored = rows[rows["CNSR"] != 0]
    out[("Patients censored", "")] = {s: fmt_n_pct(int((d["CNSR"] != 0).sum()), len(d)) for s, d in by_arm.items()}
    for desc in sorted(censored["EVNTDESC"].dropna().astype(str).unique()):
        out[("Patients censored", _sentence(desc))] = {
            s: fmt_n_pct(int(((d["CNSR"] != 0) & (d["EVNTDESC"] == desc)).sum()), len(d)) for s, d in by_arm.items()
        }

    quant = km.quantiles((0.25, 0.5, 0.75))
    section = "Time to event (months)"
    for p, name in (
        (0.5, f"Median ({pct} CI)"),
        (0.25, f"25th percentile ({pct} CI)"),
        (0.75, f"75th percentile ({pct} CI)"),
    ):
        out[(section, name)] = {
            a.short: fmt_ci(*quant.loc[(a.code, p), ["estimate", "lower", "upper"]].to_numpy(float)) for a in arms
        }
    out[(section, "Range")] = {s: _censored_range(d) for s, d in by_arm.items()}

    ref = reference_arm(arms)
    footnotes = [km.footnote]
    analyses: list[tuple[str, tuple[str, ...]]] = [("Unstratified analysis", ())]
    if strata:
        analyses.append((f"Stratified analysis ({len(strata)} factors)", tuple(strata)))
    for label, cols in analyses:
        hr_row: dict[str, str] = {}
        p_row: dict[str, str] = {}
        for arm in treatment_arms(arms):
            cmp = compare_arms(rows, arm, ref, strata=cols)
            hr_row[arm.short] = fmt_ci(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)
            p_row[arm.short] = fmt_p(cmp.logrank_p)
            footnotes += list(cmp.footnotes)
        out[(label, f"Hazard ratio vs {ref.short} ({pct} CI)")] = hr_row
        out[(label, "p-value (log-rank, two-sided)")] = p_row

    marks = km.landmark(list(landmarks))
    for t in landmarks:
        section = f"{t:g} months"
        out[(section, "Patients remaining at risk")] = {
            a.short: str(int(cell(marks, (a.code, float(t)), "n_risk"))) for a in arms
        }
        out[(section, f"Event-free rate, % ({pct} CI)")] = {
            a.short: fmt_ci(*(100 * marks.loc[(a.code, float(t)), ["survival", "lower", "upper"]].to_numpy(float)))
            for a in arms
        }
    title = str(rows["PARAM"].dropna().iloc[0]) if "PARAM" in rows.columns and rows["PARAM"].notna().any() else paramcd
    return _table(
        out,
        [a.short for a in arms],
        title=f"{title.replace(' (months)', '')}: summary (ITT population)",
        footnotes=[
            "Range: + marks a censored observation. HR < 1 favours the treatment arm.",
            *footnotes,
        ],
        column_labels=_labels(arms),
        column_n={s: len(d) for s, d in by_arm.items()},
    )


def _censored_range(rows: pd.DataFrame) -> str:
    if rows.empty:
        return NOT_ESTIMABLE
    ordered = rows.sort_values(["AVAL", "CNSR"], kind="stable")
    lo, hi = ordered.iloc[0], ordered.sort_values(["AVAL", "CNSR"], ascending=[False, False]).iloc[0]
    lo_t = f"{fmt_num(lo['AVAL'])}{'+' if lo['CNSR'] else ''}"
    hi_t = f"{fmt_num(hi['AVAL'])}{'+' if hi['CNSR'] else ''}"
    return f"{lo_t}, {hi_t}"


# ---- subgroups -------------------------------------------------------------------------------------------------


def subgroup_hazard_ratios(
    adtte: pd.DataFrame,
    adsl: pd.DataFrame,
    paramcd: str = "PFS",
    *,
    arms: Sequence[ArmStyle] | None = None,
    subgroups: Mapping[str, str] | None = None,
    protocol: Protocol | None = None,
) -> pd.DataFrame:
    """Hazard ratio (first treatment arm vs the reference) per subgroup level, for the forest plot.

    ``subgroups`` maps a heading to an ADSL column; default: every stratification factor (``STRATnV``), age
    group (< 65 / ≥ 65 years, from ``AGE``), sex and country when every level has ``MIN_SUBGROUP`` patients.
    One row per level with ``n_trt``, ``events_trt``, ``n_ref``, ``events_ref``, ``hr``, ``lower``, ``upper``
    (unstratified Cox, Efron ties, Wald CI; NaN where it cannot be estimated); heading rows have ``header``
    True. The first row is all patients, stratified by the randomization strata as in the primary analysis.
    """
    rows = _tte_rows(adtte, paramcd)
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    trt, ref = treatment_arms(arms)[0], reference_arm(arms)
    extra = adsl.set_index("USUBJID")
    data = rows[rows["ARMCD"].isin([trt.code, ref.code])].copy()
    if subgroups is None:
        subgroups = _default_subgroups(adsl, protocol)
    for column in subgroups.values():
        if column == "_AGEGR":
            data[column] = np.where(data["USUBJID"].map(extra["AGE"]) < 65, "< 65 years", "≥ 65 years")
        elif column not in data.columns:
            if column not in extra.columns:
                raise ReportError(f"ADSL: no column {column!r} for a subgroup")
            data[column] = data["USUBJID"].map(extra[column]).astype(str)

    records: list[dict[str, Any]] = []

    def add(label: str, part: pd.DataFrame, strata: Sequence[str] = ()) -> None:
        t = part[part["ARMCD"] == trt.code]
        r = part[part["ARMCD"] == ref.code]
        cmp = compare_arms(part, trt, ref, strata=strata)
        records.append(
            {
                "label": label,
                "header": False,
                "n_trt": len(t),
                "events_trt": int((t["CNSR"] == 0).sum()),
                "n_ref": len(r),
                "events_ref": int((r["CNSR"] == 0).sum()),
                "hr": cmp.hr,
                "lower": cmp.hr_lower,
                "upper": cmp.hr_upper,
            }
        )

    strata = strata_columns(data)
    order = {label: i for *_, levels in _strata_levels(adsl, protocol) for i, (_, label) in enumerate(levels)}
    add("All patients" + (" (stratified)" if strata else ""), data, strata)
    for heading, column in subgroups.items():
        records.append({"label": heading, "header": True})
        levels = sorted(data[column].dropna().astype(str).unique(), key=lambda v: (order.get(v, len(order)), v))
        for level in levels:
            add(level, data[data[column].astype(str) == level])
    frame = pd.DataFrame.from_records(records)
    for col in ("n_trt", "events_trt", "n_ref", "events_ref"):
        frame[col] = frame[col].fillna(0).astype(int)
    for col in ("hr", "lower", "upper"):
        frame[col] = frame[col].astype(float)
    frame.attrs["footnote"] = (
        f"Hazard ratio {trt.short} vs {ref.short}: Cox proportional hazards, Efron ties, Wald 95% CI; "
        "unstratified within subgroups; all patients stratified by the randomization strata. NE: not estimable."
    )
    return frame


def _default_subgroups(adsl: pd.DataFrame, protocol: Protocol | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, code_col, label_col, _ in _strata_levels(adsl, protocol):
        out[name] = label_col if label_col in adsl.columns else code_col
    out["Age"] = "_AGEGR"
    for heading, column in (("Sex", "SEX"), ("Country", "COUNTRY")):
        if column in adsl.columns:
            sizes = adsl[column].value_counts()
            if len(sizes) > 1 and int(sizes.min()) >= MIN_SUBGROUP:
                out[heading] = column
    return out


#: A demographic subgroup variable is shown in the forest plot only when each of its levels has this many patients.
MIN_SUBGROUP = 10


# ---- response --------------------------------------------------------------------------------------------------

_BOR_LABELS = {
    "CR": "Complete response (CR)",
    "PR": "Partial response (PR)",
    "SD": "Stable disease (SD)",
    "NON-CR/NON-PD": "Non-CR/non-PD",
    "PD": "Progressive disease (PD)",
    "NE": "Not evaluable (NE)",
}


def table_response(
    adrs: pd.DataFrame,
    *,
    assessor: str = "BICR",
    arms: Sequence[ArmStyle] | None = None,
    strata: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """RSPT01-style response table by arm for ``assessor`` (ITT): best overall response, objective response rate
    (CR + PR) and clinical benefit rate with Clopper–Pearson CIs, the difference vs the reference arm (Newcombe)
    and the Cochran–Mantel–Haenszel test stratified by ``strata`` (default the ``STRATn`` columns) with the
    Mantel–Haenszel odds ratio."""
    mine = adrs[adrs["ASSESSOR"] == assessor]
    if mine.empty:
        raise ReportError(f"ADRS: no rows for assessor {assessor!r}")
    arms = tuple(arms) if arms is not None else arm_styles(mine)
    mine = mine[mine["ARMCD"].isin([a.code for a in arms])]
    strata = strata_columns(mine) if strata is None else list(strata)
    bor = mine[mine["PARAMCD"] == "BOR"]
    by_arm = {a.short: bor[bor["ARMCD"] == a.code] for a in arms}
    out: dict[Row, dict[str, str]] = {}
    section = f"Best overall response ({assessor})"
    for code, label in _BOR_LABELS.items():
        if code == "NON-CR/NON-PD" and not (bor["AVALC"] == code).any():
            continue
        out[(section, label)] = {s: fmt_n_pct(int((d["AVALC"] == code).sum()), len(d)) for s, d in by_arm.items()}
    pct = f"{100 * conf_level:g}%"
    ref = reference_arm(arms)
    footnotes: list[str] = []
    for paramcd, name in (("RSP", "Objective response rate (CR + PR)"), ("CBR", "Clinical benefit rate")):
        part = mine[mine["PARAMCD"] == paramcd]
        if part.empty:
            continue
        responder = (part["AVALC"] == "Y").to_numpy()
        groups = part["ARMCD"].astype(str).to_numpy()
        rates = response_rate(responder, groups, conf_level=conf_level)
        summary = rates.summary
        footnotes.append(rates.footnote)
        out[(name, "Responders")] = {
            a.short: fmt_n_pct(int(cell(summary, a.code, "responders")), int(cell(summary, a.code, "n"))) for a in arms
        }
        out[(name, f"Rate, % ({pct} CI)")] = {
            a.short: fmt_ci(*(100 * summary.loc[a.code, ["rate", "lower", "upper"]].to_numpy(float))) for a in arms
        }
        diff_row, or_row, p_row = {}, {}, {}
        for arm in treatment_arms(arms):
            keep = np.isin(groups, [arm.code, ref.code])
            diff = rate_difference(responder[keep], groups[keep], reference=ref.code, conf_level=conf_level)
            diff_row[arm.short] = fmt_ci(100 * diff.difference, 100 * diff.lower, 100 * diff.upper)
            footnotes.append(diff.footnote)
            strat = part.loc[keep, strata].astype(str) if strata else None
            cmh = cmh_test(responder[keep], groups[keep], strat, reference=ref.code, conf_level=conf_level)
            or_row[arm.short] = fmt_ci(cmh.odds_ratio, *cmh.or_ci, 2)
            p_row[arm.short] = fmt_p(cmh.p_value)
            footnotes.append(cmh.footnote)
        out[(name, f"Difference vs {ref.short}, % ({pct} CI)")] = diff_row
        kind = "stratified" if strata else "unstratified"
        out[(name, f"Odds ratio vs {ref.short}, {kind} ({pct} CI)")] = or_row
        out[(name, f"p-value (CMH, {kind})")] = p_row
    return _table(
        out,
        [a.short for a in arms],
        title=f"Tumour response by {assessor} (RECIST 1.1, ITT population)",
        footnotes=["Patients without an evaluable post-baseline assessment count as non-responders (NE).", *footnotes],
        column_labels=_labels(arms),
        column_n={s: len(d) for s, d in by_arm.items()},
    )


# ---- safety ----------------------------------------------------------------------------------------------------

GRADE_COLUMNS = ("Any grade", "Grade ≥3")


def _safety_groups(adsl: pd.DataFrame, arms: Sequence[ArmStyle]) -> tuple[pd.DataFrame, list[ArmStyle]]:
    """Safety population (SAFFL = Y) of the arms as treated; subjects treated off-arm (UNPLAN) are left out."""
    safety = adsl[(adsl["SAFFL"] == "Y") & adsl["ACTARMCD"].isin([a.code for a in arms])]
    return safety, list(arms)


def table_safety(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    arms: Sequence[ArmStyle] | None = None,
    min_percent: float = 0.0,
) -> pd.DataFrame:
    """Treatment-emergent adverse events (``TRTEMFL`` = Y, CTCAE v5.0) by term, any grade and grade ≥ 3, by arm
    as treated (``ACTARMCD``; safety population ``SAFFL`` = Y). Overview rows first (any TEAE, grade ≥ 3,
    serious, grade 5), then terms by decreasing total incidence; terms below ``min_percent`` in every arm are
    left out. Columns are a two-level header (arm, grade)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl)
    safety, shown = _safety_groups(adsl, arms)
    teae = adae[adae["TRTEMFL"] == "Y"]
    any_grade = adverse_event_incidence(teae, safety, group="ACTARMCD", min_grade=1)
    severe = adverse_event_incidence(teae, safety, group="ACTARMCD", min_grade=3)
    serious = adverse_event_incidence(teae[teae["AESER"] == "Y"], safety, group="ACTARMCD", min_grade=1)
    fatal = adverse_event_incidence(teae, safety, group="ACTARMCD", min_grade=5)
    n_by = {a.code: int((safety["ACTARMCD"] == a.code).sum()) for a in shown}
    columns = pd.MultiIndex.from_tuples([(a.short, g) for a in shown for g in GRADE_COLUMNS], names=["arm", "grade"])

    def incidence(table: pd.DataFrame, term: str, code: str) -> str:
        key = (term, code)
        n = int(cell(table, key, "n")) if key in table.index else 0
        return fmt_n_pct(n, n_by[code])

    data: dict[Row, list[str]] = {}
    data[("Patients with any TEAE", "")] = [
        incidence(any_grade if g == GRADE_COLUMNS[0] else severe, "ANY", a.code) for a in shown for g in GRADE_COLUMNS
    ]
    data[("Patients with any serious TEAE", "")] = [
        incidence(serious, "ANY", a.code) if g == GRADE_COLUMNS[0] else _serious_severe(teae, safety, a.code, n_by)
        for a in shown
        for g in GRADE_COLUMNS
    ]
    data[("Patients with a fatal TEAE (grade 5)", "")] = [
        incidence(fatal, "ANY", a.code) if g == GRADE_COLUMNS[1] else "" for a in shown for g in GRADE_COLUMNS
    ]
    terms = [t for t in any_grade.index.get_level_values("term").unique() if t != "ANY"]
    totals = {t: int(any_grade.loc[t, "n"].sum()) for t in terms}
    for term in sorted(terms, key=lambda t: (-totals[t], t)):
        pcts = [
            float(cell(any_grade, (term, a.code), "percent")) if (term, a.code) in any_grade.index else 0.0
            for a in shown
        ]
        if max(pcts, default=0.0) < min_percent:
            continue
        data[("TEAE by term (CTCAE v5.0)", term)] = [
            incidence(any_grade if g == GRADE_COLUMNS[0] else severe, term, a.code)
            for a in shown
            for g in GRADE_COLUMNS
        ]
    index = pd.MultiIndex.from_tuples(list(data), names=["section", "row"])
    frame = pd.DataFrame(list(data.values()), index=index, columns=columns)
    frame.attrs["title"] = "Treatment-emergent adverse events by term and worst grade (safety population)"
    frame.attrs["footnotes"] = [
        "TEAE: onset on or after the first dose and up to 30 days after the last dose (ADAE TRTEMFL). A patient "
        "counts once per term, at the worst grade. Arms as treated (ACTARM).",
        any_grade.attrs.get("footnote", ""),
    ]
    frame.attrs["column_labels"] = _labels(shown)
    frame.attrs["column_n"] = {a.short: n_by[a.code] for a in shown}
    return frame


def _serious_severe(teae: pd.DataFrame, safety: pd.DataFrame, code: str, n_by: Mapping[str, int]) -> str:
    table = adverse_event_incidence(teae[teae["AESER"] == "Y"], safety, group="ACTARMCD", min_grade=3)
    key = ("ANY", code)
    return fmt_n_pct(int(cell(table, key, "n")) if key in table.index else 0, n_by[code])


# ---- exposure --------------------------------------------------------------------------------------------------


def dosing_schedules(protocol: Protocol) -> dict[str, DosingSchedule]:
    """Planned schedule per drug name, regimen id and label of ``protocol`` (for :func:`dose_intensity`)."""
    out: dict[str, DosingSchedule] = {}
    for regimen in protocol.regimens:
        schedule = DosingSchedule(len(regimen.dosing_days), regimen.cycle_length_days)
        for key in (regimen.drug, regimen.id, regimen.label):
            out.setdefault(key, schedule)
    return out


def table_dose_intensity(
    exposure: pd.DataFrame,
    adsl: pd.DataFrame,
    protocol: Protocol,
    *,
    arms: Sequence[ArmStyle] | None = None,
    cutoff: Any = None,
) -> pd.DataFrame:
    """EXT01-style exposure table by arm as treated (safety population): duration of treatment, cycles, dose
    holds, omissions, reductions, discontinuation for an adverse event and relative dose intensity
    (:func:`trialtwin.analysis.safety.dose_intensity`, each drug of a combination counted separately)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    safety, shown = _safety_groups(adsl, arms)
    per_drug = dose_intensity(exposure, dosing_schedules(protocol), cutoff=cutoff)
    per_drug = per_drug.merge(
        safety[["SUBJID", "ACTARMCD"]], left_on="subject_id", right_on="SUBJID", how="inner", validate="many_to_one"
    )
    per_subject = per_drug.groupby("subject_id").agg(
        {"holds": "sum", "omissions": "sum", "reductions": "sum", "cycles": "max", "ACTARMCD": "first"}
    )
    out: dict[Row, dict[str, str]] = {}
    n_by: dict[str, int] = {}
    for arm in shown:
        pop = safety[safety["ACTARMCD"] == arm.code]
        subj = per_subject[per_subject["ACTARMCD"] == arm.code]
        drugs = per_drug[per_drug["ACTARMCD"] == arm.code]
        n = len(pop)
        n_by[arm.short] = n
        months = pop["TRTDURD"] / DAYS_PER_MONTH
        rdi = 100 * drugs["relative_dose_intensity"]
        s = arm.short
        out.setdefault(("Duration of treatment (months)", "Median (min, max)"), {})[s] = _median_range(months)
        out.setdefault(("Cycles started", "Median (min, max)"), {})[s] = _median_range(subj["cycles"].astype(float))
        out.setdefault(("Patients with ≥ 1 dose held (delayed)", ""), {})[s] = fmt_n_pct(
            int((subj["holds"] > 0).sum()), n
        )
        out.setdefault(("Patients with ≥ 1 dose omitted", ""), {})[s] = fmt_n_pct(int((subj["omissions"] > 0).sum()), n)
        out.setdefault(("Patients with ≥ 1 dose reduction", ""), {})[s] = fmt_n_pct(
            int((subj["reductions"] > 0).sum()), n
        )
        out.setdefault(("Treatment discontinued for an adverse event", ""), {})[s] = fmt_n_pct(
            int(((pop["EOTSTT"] == "DISCONTINUED") & (pop["DCTREAS"] == "ADVERSE EVENT")).sum()), n
        )
        section = "Relative dose intensity (%)"
        out.setdefault((section, "Median (min, max)"), {})[s] = _median_range(rdi)
        out.setdefault((section, "Mean (SD)"), {})[s] = (
            f"{fmt_num(rdi.mean())} ({fmt_num(rdi.std())})" if len(rdi) else NOT_ESTIMABLE
        )
        out.setdefault((section, "≥ 90%"), {})[s] = fmt_n_pct(int((rdi >= 90).sum()), len(rdi))
        out.setdefault((section, "80% to < 90%"), {})[s] = fmt_n_pct(int(((rdi >= 80) & (rdi < 90)).sum()), len(rdi))
        out.setdefault((section, "< 80%"), {})[s] = fmt_n_pct(int((rdi < 80).sum()), len(rdi))
    return _table(
        out,
        [a.short for a in shown],
        title="Exposure and dose intensity (safety population, as treated)",
        footnotes=[
            "Relative dose intensity = delivered dose intensity / planned dose intensity (Hryniuk & Bush 1984): "
            "cumulative dose given divided by the starting dose × planned doses per cycle × (treatment period / "
            "cycle length); the period runs from the first dose to the end of the cycle of the last dose. Held "
            "doses are given later (a delay); omitted doses are skipped.",
            "Duration of treatment = last dose date − first dose date + 1 (ADSL TRTDURD).",
        ],
        column_labels=_labels(shown),
        column_n=n_by,
    )


# ---- published vs this trial -----------------------------------------------------------------------------------

_PT_TO_CTCAE = {
    "neutropenia": "Neutrophil count decreased",
    "anaemia": "Anemia",
    "anemia": "Anemia",
    "thrombocytopenia": "Platelet count decreased",
    "leukopenia": "White blood cell decreased",
    "diarrhoea": "Diarrhea",
    "diarrhea": "Diarrhea",
    "nausea": "Nausea",
    "vomiting": "Vomiting",
    "febrile neutropenia": "Febrile neutropenia",
}
_GRADE_TERM = re.compile(r"^grade\s*(?:>=|≥)\s*(\d)\s+(.+?)\s*(?:\(teae\))?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Estimate:
    value: float
    lower: float = float("nan")
    upper: float = float("nan")
    digits: int = 1


def table_published_vs_trial(
    protocol: Protocol,
    adam: Mapping[str, pd.DataFrame],
    *,
    arms: Sequence[ArmStyle] | None = None,
) -> pd.DataFrame:
    """Every ``protocol.published_results`` value next to this trial's estimate of the same quantity.

    Medians and landmark rates from Kaplan–Meier, hazard ratios from the stratified Cox model, response rates
    with Clopper–Pearson CIs, odds ratios from the stratified Mantel–Haenszel estimate, counts and proportions
    from ADSL/ADAE. ``Published within CI`` says whether the published value lies inside this trial's CI. A
    published value with no counterpart in the datasets shows ``—``."""
    adsl = adam["ADSL"]
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    by_code = {a.code: a for a in arms}
    rows: dict[str, dict[str, str]] = {}
    for value in protocol.published_results:
        try:
            estimate = _trial_estimate(value, protocol, adam, arms)
        except (AnalysisInputError, ReportError, KeyError):
            estimate = None
        what = value.endpoint or ""
        if value.characteristic:
            what = f"{what}: {value.characteristic}" if what else value.characteristic
        if value.subgroup:
            what += " [" + ", ".join(f"{k} = {v}" for k, v in value.subgroup.items()) + "]"
        statistic = value.statistic.value.replace("_", " ")
        if value.at_months:
            statistic += f" at {value.at_months:g} months"
        unit = "" if value.unit in ("ratio",) else (" %" if value.unit == "%" else f" {value.unit}")
        digits = 2 if value.unit == "ratio" else (0 if value.unit in ("patients", "events") else 1)
        published = _fmt_value(value.value, value.ci, digits)
        if value.p_value is not None:
            published += f"; p = {fmt_p(value.p_value)}"
        trial = "—"
        within = "—"
        if estimate is not None and finite(estimate.value):
            has_ci = finite(estimate.lower) and finite(estimate.upper)
            trial = (
                fmt_ci(estimate.value, estimate.lower, estimate.upper, estimate.digits)
                if has_ci
                else fmt_num(estimate.value, estimate.digits)
            )
            if has_ci:
                within = "yes" if estimate.lower <= value.value <= estimate.upper else "no"
        arm = by_code[value.arm].short if value.arm in by_code else (value.arm or "")
        rows[value.id] = {
            "Quantity": what,
            "Statistic": statistic + (f" ({unit.strip()})" if unit.strip() else ""),
            "Arm": arm,
            "Published": published,
            "This trial": trial,
            "Published within CI": within,
            "Source": value.source + (" (derived)" if value.status == "derived" else ""),
        }
    columns = ["Quantity", "Statistic", "Arm", "Published", "This trial", "Published within CI", "Source"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = "id"
    frame.attrs["title"] = "Published results and this trial's estimates"
    frame.attrs["footnotes"] = [
        "This trial: Kaplan–Meier medians and landmark rates (log-log CI), Cox hazard ratios stratified by the "
        "randomization strata (Efron ties, Wald CI), response rates with Clopper–Pearson CIs, Mantel–Haenszel odds "
        "ratios stratified by the randomization strata (Robins–Breslow–Greenland CI). Published within CI: the "
        "published value lies inside this trial's 95% CI. —: not available in this record.",
    ]
    frame.attrs["column_labels"] = {}
    frame.attrs["column_n"] = {}
    return frame


def _fmt_value(value: float, ci: tuple[float, float] | None, digits: int) -> str:
    if ci is None:
        return fmt_num(value, digits)
    return fmt_ci(value, ci[0], ci[1], digits)


def _trial_estimate(
    value: PublishedValue, protocol: Protocol, adam: Mapping[str, pd.DataFrame], arms: Sequence[ArmStyle]
) -> _Estimate | None:
    ref = reference_arm(arms)
    trt = treatment_arms(arms)[0]
    endpoint = next((e for e in protocol.endpoints if e.id == value.endpoint), None)
    tte = {p.endpoint: p.paramcd for p in tte_parameters(protocol) if p.endpoint}
    if value.endpoint == "OS" or (endpoint is not None and endpoint.events == ("death",)):
        tte.setdefault(str(value.endpoint), "OS")
    if value.endpoint in tte:
        rows = _tte_rows(adam["ADTTE"], tte[str(value.endpoint)])
        if value.statistic is Statistic.HAZARD_RATIO:
            cmp = compare_arms(rows, trt, ref, strata=strata_columns(rows))
            return _Estimate(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)
        if value.statistic is Statistic.COUNT:
            return _Estimate(float((rows["CNSR"] == 0).sum()), digits=0)
        part = rows[rows["ARMCD"] == value.arm] if value.arm else rows
        if part.empty:
            return None
        km = kaplan_meier(part["AVAL"].to_numpy(float), 1 - part["CNSR"].to_numpy(int))
        if value.statistic is Statistic.MEDIAN:
            med = km.summary.iloc[0]
            return _Estimate(float(med["median"]), float(med["median_lower"]), float(med["median_upper"]))
        if value.statistic is Statistic.RATE and value.at_months:
            mark = km.landmark([float(value.at_months)]).iloc[0]
            return _Estimate(100 * mark["survival"], 100 * mark["lower"], 100 * mark["upper"])
        return None
    if endpoint is not None and endpoint.type is EndpointType.PROPORTION and "ADRS" in adam:
        paramcd = "CBR" if "SD" in endpoint.responses else "RSP"
        adrs = adam["ADRS"]
        part = adrs[(adrs["PARAMCD"] == paramcd) & (adrs["ASSESSOR"] == (endpoint.assessor or "investigator"))]
        if part.empty:
            return None
        if value.statistic is Statistic.ODDS_RATIO:
            pair = part[part["ARMCD"].isin([trt.code, ref.code])]
            strata = strata_columns(pair)
            cmh = cmh_test(
                (pair["AVALC"] == "Y").to_numpy(),
                pair["ARMCD"].astype(str).to_numpy(),
                pair[strata].astype(str) if strata else None,
                reference=ref.code,
            )
            return _Estimate(cmh.odds_ratio, *cmh.or_ci, 2)
        part = part[part["ARMCD"] == value.arm] if value.arm else part
        if part.empty:
            return None
        rate = response_rate((part["AVALC"] == "Y").to_numpy()).summary.iloc[0]
        return _Estimate(100 * rate["rate"], 100 * rate["lower"], 100 * rate["upper"])
    if value.characteristic:
        return _characteristic(value, protocol, adam)
    return None


def _characteristic(value: PublishedValue, protocol: Protocol, adam: Mapping[str, pd.DataFrame]) -> _Estimate | None:
    adsl = adam["ADSL"]
    text = str(value.characteristic).strip()
    people = adsl[adsl["ARMCD"] == value.arm] if value.arm else adsl
    lowered = text.casefold()
    graded = _GRADE_TERM.match(text)
    if graded and "ADAE" in adam:
        grade, term = int(graded.group(1)), graded.group(2).strip()
        ctcae = _PT_TO_CTCAE.get(term.casefold(), term)
        safety = people[people["SAFFL"] == "Y"]
        adae = adam["ADAE"]
        teae = adae[(adae["TRTEMFL"] == "Y") & (adae["AEDECOD"].astype(str).str.casefold() == ctcae.casefold())]
        table = adverse_event_incidence(teae, safety.assign(_ALL="all"), group="_ALL", min_grade=grade)
        return _Estimate(float(cell(table, ("ANY", "all"), "percent"))) if len(safety) else None
    if value.subgroup:
        mask = pd.Series(True, index=people.index)
        for var in strata_variables(protocol):
            if var.factor_id in value.subgroup:
                mask &= people[var.code_column].astype(str) == str(value.subgroup[var.factor_id])
        return _count_or_share(value, int(mask.sum()), len(people))
    if "randomized" in lowered or "itt" in lowered:
        return _Estimate(float(len(people)), digits=0)
    if lowered in ("female", "male"):
        return _count_or_share(value, int((people["SEX"] == lowered[0].upper()).sum()), len(people))
    if lowered.startswith("age") and value.statistic is Statistic.MEDIAN:
        return _Estimate(float(people["AGE"].median()))
    return None


def _count_or_share(value: PublishedValue, count: int, total: int) -> _Estimate:
    if value.statistic is Statistic.COUNT:
        return _Estimate(float(count), digits=0)
    return _Estimate(100.0 * count / total if total else math.nan)


# ---- key results -----------------------------------------------------------------------------------------------


def table_key_results(
    adam: Mapping[str, pd.DataFrame],
    *,
    arms: Sequence[ArmStyle] | None = None,
    assessor: str = "BICR",
) -> pd.DataFrame:
    """One-glance summary by arm: patients randomized and treated, for every ADTTE parameter the events, the
    Kaplan–Meier median (95% CI) and the stratified hazard ratio with the log-rank p, the objective response rate
    (``assessor``) and the proportion with a grade ≥ 3 TEAE."""
    adsl = adam["ADSL"]
    arms = tuple(arms) if arms is not None else arm_styles(adsl)
    ref = reference_arm(arms)
    out: dict[Row, dict[str, str]] = {}
    out[("Patients randomized (ITT)", "")] = {a.short: str(int((adsl["ARMCD"] == a.code).sum())) for a in arms}
    out[("Patients treated (safety)", "")] = {
        a.short: str(int(((adsl["ACTARMCD"] == a.code) & (adsl["SAFFL"] == "Y")).sum())) for a in arms
    }
    footnotes: list[str] = []
    adtte = adam.get("ADTTE")
    if adtte is not None and len(adtte):
        for paramcd in adtte.drop_duplicates("PARAMCD").sort_values("PARAMN")["PARAMCD"]:
            rows = adtte[(adtte["PARAMCD"] == paramcd) & adtte["ARMCD"].isin([a.code for a in arms])]
            name = str(rows["PARAM"].iloc[0]).replace(" (months)", "")
            km = kaplan_meier(rows["AVAL"].to_numpy(float), 1 - rows["CNSR"].to_numpy(int), rows["ARMCD"].astype(str))
            summary = km.summary
            out[(name, "Events, n (%)")] = {
                a.short: fmt_n_pct(int(cell(summary, a.code, "events")), int(cell(summary, a.code, "n"))) for a in arms
            }
            out[(name, "Median, months (95% CI)")] = {
                a.short: fmt_ci(*summary.loc[a.code, ["median", "median_lower", "median_upper"]].to_numpy(float))
                for a in arms
            }
            hr: dict[str, str] = {}
            for arm in treatment_arms(arms):
                cmp = compare_arms(rows, arm, ref, strata=strata_columns(rows))
                kind = "stratified " if cmp.stratified else ""
                p_text = fmt_p(cmp.logrank_p)
                p_text = p_text if p_text.startswith("<") else f"= {p_text}"
                hr[arm.short] = f"{fmt_ci(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)}; {kind}log-rank p {p_text}"
            out[(name, f"Hazard ratio vs {ref.short} (95% CI)")] = hr
            footnotes.append(km.footnote)
    adrs = adam.get("ADRS")
    if adrs is not None:
        rsp = adrs[
            (adrs["PARAMCD"] == "RSP") & (adrs["ASSESSOR"] == assessor) & adrs["ARMCD"].isin([a.code for a in arms])
        ]
        if len(rsp):
            rates = response_rate((rsp["AVALC"] == "Y").to_numpy(), rsp["ARMCD"].astype(str).to_numpy()).summary
            out[(f"Objective response rate ({assessor})", "Rate, % (95% CI)")] = {
                a.short: fmt_ci(*(100 * rates.loc[a.code, ["rate", "lower", "upper"]].to_numpy(float))) for a in arms
            }
    adae = adam.get("ADAE")
    if adae is not None:
        safety = adsl[adsl["SAFFL"] == "Y"]
        severe = adverse_event_incidence(adae[adae["TRTEMFL"] == "Y"], safety, group="ACTARMCD", min_grade=3)
        out[("Patients with a grade ≥ 3 TEAE", "")] = {
            a.short: fmt_n_pct(int(cell(severe, ("ANY", a.code), "n")), int(cell(severe, ("ANY", a.code), "N")))
            if ("ANY", a.code) in severe.index
            else "0"
            for a in arms
        }
    return _table(
        out,
        [a.short for a in arms],
        title="Key results (ITT population; TEAE in the safety population)",
        footnotes=[
            "Hazard ratios from Cox models stratified by the randomization strata (Efron ties, Wald CI); p from the "
            "stratified log-rank test. Response rates with Clopper–Pearson CIs. Details in the sections below.",
            *footnotes[:1],
        ],
        column_labels=_labels(arms),
        column_n={a.short: int((adsl["ARMCD"] == a.code).sum()) for a in arms},
    )
