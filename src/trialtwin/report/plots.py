"""Figures of the trial report: Kaplan–Meier with numbers at risk, forest, waterfall, swimmer and CONSORT.

Every function takes ADaM datasets (or analysis frames), returns a :class:`matplotlib.figure.Figure` and never
writes a file. Statistics come from :mod:`trialtwin.analysis` (``kaplan_meier``, ``cox_ph``, ``logrank_test``);
here they are only drawn. Artists that tests and readers look for carry a ``gid``: ``km-curve-<ARMCD>``,
``km-censor-<ARMCD>``, ``km-median``, ``at-risk-<ARMCD>``, ``forest-ci``, ``waterfall-bar``, ``swimmer-bar``,
``consort-box``.

Conventions: CONSORT 2010 flow diagram (Schulz KF et al., BMJ 2010;340:c332, Figure 1); Kaplan–Meier plots with
the numbers at risk under the time axis at the tick times (Pocock SJ et al., Lancet 2002;359:1686–1689); forest
plot on a log hazard-ratio scale with a reference line at 1 (Cuzick J, Lancet 2005;365:1308).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from trialtwin.analysis import kaplan_meier
from trialtwin.analysis.derive import DAYS_PER_MONTH
from trialtwin.protocol.model import Protocol
from trialtwin.report._common import (
    RESPONSE_COLOURS,
    ArmStyle,
    ReportError,
    arm_styles,
    cell,
    fmt_ci,
    fmt_p,
    new_figure,
    reference_arm,
    style_axes,
    treatment_arms,
)
from trialtwin.report.tables import compare_arms, strata_columns, subgroup_hazard_ratios

_INK = "#222222"
_GREY = "#777777"


def _parameter(adtte: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = adtte[adtte["PARAMCD"] == paramcd]
    if rows.empty:
        found = ", ".join(sorted(str(p) for p in adtte["PARAMCD"].unique())) or "none"
        raise ReportError(f"ADTTE: no rows for PARAMCD {paramcd!r} (parameters: {found})")
    return rows


def _param_title(rows: pd.DataFrame, paramcd: str) -> str:
    if "PARAM" in rows.columns and rows["PARAM"].notna().any():
        return str(rows["PARAM"].dropna().iloc[0]).replace(" (months)", "")
    return paramcd


def _tick_step(span: float) -> float:
    for step in (1.0, 2.0, 3.0, 6.0, 12.0, 24.0):
        if span / step <= 12:
            return step
    return 48.0


def _y_axis_label(paramcd: str, title: str) -> str:
    base = "Overall survival" if paramcd.startswith("OS") else title.split(" by ")[0]
    return f"{base} (%)"


def plot_km(
    adtte: pd.DataFrame,
    paramcd: str = "PFS",
    *,
    arms: Sequence[ArmStyle] | None = None,
    strata: Sequence[str] | None = None,
    tick_months: float | None = None,
    show_median: bool = True,
    show_hr: bool = True,
    title: str | None = None,
) -> Figure:
    """Kaplan–Meier curves per arm of ADTTE parameter ``paramcd`` (``AVAL`` months, event = ``CNSR`` 0).

    Step curves with censoring ticks, optional dashed median lines, a legend with n, events and the median
    (95% CI) per arm, the hazard ratio of each arm versus the reference arm (stratified by ``strata`` — default
    the ADTTE ``STRATn`` columns — with the log-rank p), and the numbers at risk under the time axis at every
    tick (``kaplan_meier(...).at_risk(ticks)``).
    """
    rows = _parameter(adtte, paramcd)
    arms = tuple(arms) if arms is not None else arm_styles(rows)
    rows = rows[rows["ARMCD"].isin([a.code for a in arms])]
    km = kaplan_meier(rows["AVAL"].to_numpy(float), 1 - rows["CNSR"].to_numpy(int), rows["ARMCD"].astype(str))
    heading = title or _param_title(rows, paramcd)
    horizon = float(rows["AVAL"].max()) if len(rows) else 1.0
    step = tick_months or _tick_step(horizon)
    x_max = max(step, math.ceil(horizon / step - 1e-9) * step)
    ticks = np.arange(0.0, x_max + step / 2, step)

    n_arms = len(arms)
    width, top_in, plot_in, label_in, risk_head_in, row_in, bottom_in = 9.0, 0.55, 4.1, 0.62, 0.34, 0.27, 0.18
    height = top_in + plot_in + label_in + risk_head_in + row_in * n_arms + bottom_in
    fig = new_figure(width, height)
    left, right = 1.45 / width, 1 - 0.35 / width
    ax = fig.add_axes((left, 1 - (top_in + plot_in) / height, right - left, plot_in / height))
    style_axes(ax)
    summary = km.summary
    for arm in arms:
        curve = km.curve(arm.code)
        x = np.concatenate(([0.0], curve.time))
        y = np.concatenate(([1.0], curve.survival))
        med = summary.loc[arm.code]
        label = (
            f"{arm.short} (n={curve.n}, events={curve.events}): median "
            f"{fmt_ci(med['median'], med['median_lower'], med['median_upper'])} mo"
        )
        ax.step(x, 100 * y, where="post", color=arm.colour, lw=1.8, label=label, gid=f"km-curve-{arm.code}")
        censored = curve.n_censor > 0
        ax.plot(
            curve.time[censored],
            100 * curve.survival[censored],
            ls="none",
            marker="|",
            ms=7,
            mew=1.1,
            color=arm.colour,
            gid=f"km-censor-{arm.code}",
        )
    if show_median:
        medians = [cell(summary, a.code, "median") for a in arms]
        finite_medians = [m for m in medians if math.isfinite(m)]
        if finite_medians:
            ax.plot([0, max(finite_medians)], [50, 50], ls=(0, (4, 3)), lw=0.9, color=_GREY, gid="km-median")
            for m in finite_medians:
                ax.plot([m, m], [0, 50], ls=(0, (4, 3)), lw=0.9, color=_GREY, gid="km-median")
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, 102)
    ax.xaxis.set_major_locator(FixedLocator(list(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
    ax.grid(axis="y", color="#E6E6E6", lw=0.7)
    ax.set_axisbelow(True)
    ax.set_xlabel("Months since randomization", fontsize=10, color=_INK)
    ax.set_ylabel(_y_axis_label(paramcd, heading), fontsize=10, color=_INK)
    fig.text(left, 1 - 0.22 / height, heading, fontsize=12, fontweight="bold", color=_INK, va="center")

    legend = ax.legend(loc="upper right", fontsize=8.5, frameon=False, handlelength=1.8, borderaxespad=0.3)
    if show_hr and n_arms >= 2:
        lines = []
        ref = reference_arm(arms)
        for arm in treatment_arms(arms):
            cmp = compare_arms(rows, arm, ref, strata=strata_columns(rows) if strata is None else strata)
            kind = "Stratified" if cmp.stratified else "Unstratified"
            lines.append(
                f"{kind} HR {arm.short} vs {ref.short}: {fmt_ci(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)}; "
                f"log-rank p {_p_text(cmp.logrank_p)}"
            )
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        box = legend.get_window_extent(renderer).transformed(ax.transAxes.inverted())
        ax.text(
            box.x1 - 0.01,
            box.y0 - 0.015,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8.5,
            color=_INK,
            gid="km-hr",
        )

    # numbers at risk, aligned with the x ticks of the curve axes
    risk_top = 1 - (top_in + plot_in + label_in) / height
    risk_height = (risk_head_in + row_in * n_arms) / height
    rx = fig.add_axes((left, risk_top - risk_height, right - left, risk_height))
    rx.set_xlim(0, x_max)
    rx.set_ylim(0, risk_head_in + row_in * n_arms)
    rx.axis("off")
    table = km.at_risk(ticks)
    header_y = row_in * n_arms + risk_head_in * 0.45
    rx.text(-0.01 * x_max, header_y, "Number at risk", ha="right", va="center", fontsize=9, fontweight="bold")
    for i, arm in enumerate(arms):
        y_row = row_in * (n_arms - i - 0.5)
        rx.text(
            -0.02 * x_max, y_row, arm.short, ha="right", va="center", fontsize=9, color=arm.colour, fontweight="bold"
        )
        for t, value in zip(ticks, table.loc[arm.code].to_numpy(), strict=True):
            rx.text(
                float(t),
                y_row,
                f"{int(value)}",
                ha="center",
                va="center",
                fontsize=8.5,
                color=_INK,
                gid=f"at-risk-{arm.code}",
            )
    return fig


def _p_text(p: float) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


# ---- forest ----------------------------------------------------------------------------------------------------


def plot_forest(
    adtte: pd.DataFrame,
    adsl: pd.DataFrame,
    paramcd: str = "PFS",
    *,
    arms: Sequence[ArmStyle] | None = None,
    subgroups: Mapping[str, str] | None = None,
    protocol: Protocol | None = None,
    title: str | None = None,
) -> Figure:
    """Hazard ratio (first treatment arm vs the reference) with 95% CI in every subgroup, log scale, a solid
    reference line at 1 and a dashed line at the overall HR; n / events per arm and HR (95% CI) as columns.

    Rows come from :func:`trialtwin.report.tables.subgroup_hazard_ratios` (unstratified Cox within subgroups,
    the all-patients row stratified as in the primary analysis); ``protocol`` names the stratification factors.
    """
    rows = _parameter(adtte, paramcd)
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    trt, ref = treatment_arms(arms)[0], reference_arm(arms)
    table = subgroup_hazard_ratios(adtte, adsl, paramcd, arms=arms, subgroups=subgroups, protocol=protocol)
    heading = title or f"{_param_title(rows, paramcd)}: hazard ratio by subgroup"

    n_rows = len(table)
    row_in, head_in, foot_in, width = 0.27, 1.0, 0.8, 11.0
    height = head_in + row_in * n_rows + foot_in
    fig = new_figure(width, height)
    ax_left, ax_right = 0.50, 0.77
    ax = fig.add_axes((ax_left, foot_in / height, ax_right - ax_left, row_in * n_rows / height))
    style_axes(ax)
    ax.spines["left"].set_visible(False)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.yaxis.set_major_locator(NullLocator())
    usable = table[np.isfinite(table["lower"]) & np.isfinite(table["upper"])]
    lo = float(usable["lower"].min()) if len(usable) else 0.5
    hi = float(usable["upper"].max()) if len(usable) else 2.0
    x_lo = max([c for c in _FOREST_LIMITS if c <= min(lo, 0.5)], default=_FOREST_LIMITS[0])
    x_hi = min([c for c in _FOREST_LIMITS if c >= max(hi, 2.0)], default=_FOREST_LIMITS[-1])
    ax.set_xscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.xaxis.set_major_locator(FixedLocator([c for c in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0) if x_lo <= c <= x_hi]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.axvline(1.0, color="#444444", lw=0.9, zorder=1)
    overall = table.iloc[0]
    if np.isfinite(overall["hr"]):
        ax.axvline(float(overall["hr"]), color=trt.colour, lw=0.8, ls=(0, (3, 3)), zorder=1)
    ax.set_xlabel("Hazard ratio (log scale)", fontsize=9.5, color=_INK)

    columns = (
        (0.015, "Subgroup", "left"),
        (0.335, f"{trt.short}\nn / events", "center"),
        (0.425, f"{ref.short}\nn / events", "center"),
        (0.785, "HR (95% CI)", "left"),
    )
    head_y = 1 - 0.62 / height
    for x, text, ha in columns:
        fig.text(x, head_y, text, ha=ha, va="center", fontsize=9, fontweight="bold", color=_INK)
    rule_y = 1 - 0.86 / height
    fig.add_artist(Line2D([0.015, 0.985], [rule_y, rule_y], color="#999999", lw=0.8, transform=fig.transFigure))
    fig.text(0.015, 1 - 0.2 / height, heading, fontsize=11.5, fontweight="bold", color=_INK, va="center")
    to_fig = fig.transFigure.inverted()
    hrs, lows, highs = (table[c].to_numpy(float) for c in ("hr", "lower", "upper"))
    counts = table[["n_trt", "events_trt", "n_ref", "events_ref"]].to_numpy(int)
    for i, (label, is_header) in enumerate(zip(table["label"].astype(str), table["header"].astype(bool), strict=True)):
        strong = is_header or i == 0
        y_fig = float(to_fig.transform(ax.transData.transform((1.0, i)))[1])
        x_label = 0.015 if strong else 0.03
        weight = "bold" if strong else "normal"
        fig.text(x_label, y_fig, label, ha="left", va="center", fontsize=9, fontweight=weight, color=_INK)
        if is_header:
            continue
        n_trt, ev_trt, n_ref, ev_ref = (int(v) for v in counts[i])
        hr, low, high = float(hrs[i]), float(lows[i]), float(highs[i])
        fig.text(0.335, y_fig, f"{n_trt} / {ev_trt}", ha="center", va="center", fontsize=9)
        fig.text(0.425, y_fig, f"{n_ref} / {ev_ref}", ha="center", va="center", fontsize=9)
        fig.text(0.785, y_fig, fmt_ci(hr, low, high, 2), ha="left", va="center", fontsize=9)
        if not (math.isfinite(hr) and math.isfinite(low) and math.isfinite(high)):
            continue
        ax.plot([max(low, x_lo), min(high, x_hi)], [i, i], color=_INK, lw=1.2, gid="forest-ci", solid_capstyle="butt")
        ax.plot(
            [hr],
            [i],
            marker="D" if i == 0 else "s",
            ms=7.5 if i == 0 else 5.5,
            color=_INK if i == 0 else trt.colour,
            ls="none",
            zorder=3,
        )
        if high > x_hi:
            ax.plot([x_hi], [i], marker=">", ms=5, color=_INK, ls="none", clip_on=False)
        if low < x_lo:
            ax.plot([x_lo], [i], marker="<", ms=5, color=_INK, ls="none", clip_on=False)
    one = ax_left + (ax_right - ax_left) * (math.log(1.0 / x_lo) / math.log(x_hi / x_lo))
    fig.text(
        one - 0.005, 0.14 / height, f"← Favours {trt.short}", ha="right", va="center", fontsize=8.5, color=trt.colour
    )
    fig.text(
        one + 0.005, 0.14 / height, f"Favours {ref.short} →", ha="left", va="center", fontsize=8.5, color=ref.colour
    )
    return fig


_FOREST_LIMITS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0)


# ---- waterfall -------------------------------------------------------------------------------------------------


def plot_waterfall(
    best_response: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    assessor: str = "BICR",
    arms: Sequence[ArmStyle] | None = None,
    cap: float = 100.0,
) -> Figure:
    """Best percentage change of the target-lesion sum from baseline per subject (best_response frame), one
    panel per arm, bars sorted from worst to best and coloured by best overall response; dashed lines at +20 %
    (progression threshold) and −30 % (partial-response threshold), RECIST 1.1 §4.3.1 (Eisenhauer 2009). Bars
    above ``cap`` are cut at it and marked with a triangle. Subjects without a post-baseline measurement have no
    bar (each panel's title gives their number)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl)
    subject_arm = adsl.set_index("SUBJID")["ARMCD"].astype(str)
    data = best_response[(best_response["assessor"] == assessor) & best_response["subject_id"].isin(subject_arm.index)]
    data = data.assign(ARMCD=data["subject_id"].map(subject_arm))
    width, height = 11.0, 5.0
    fig = new_figure(width, height)
    n_arms = max(len(arms), 1)
    gap, left, right = 0.35 / width, 1.0 / width, 1 - 0.15 / width
    panel_w = (right - left - gap * (n_arms - 1)) / n_arms
    first_ax: Axes | None = None
    capped_any = False
    for i, arm in enumerate(arms):
        ax = fig.add_axes((left + i * (panel_w + gap), 0.35 / height, panel_w, 3.55 / height), sharey=first_ax)
        first_ax = first_ax or ax
        style_axes(ax)
        rows = data[data["ARMCD"] == arm.code]
        n_total = int((subject_arm == arm.code).sum())
        measured = rows[rows["best_pct_change"].notna()].sort_values(
            ["best_pct_change", "subject_id"], ascending=[False, True], kind="stable"
        )
        values = measured["best_pct_change"].to_numpy(float)
        shown = np.minimum(values, cap)
        colours = [RESPONSE_COLOURS.get(str(r), RESPONSE_COLOURS["NE"]) for r in measured["response"]]
        positions = np.arange(len(values))
        for bar in ax.bar(positions, shown, width=0.85, color=colours, linewidth=0):
            bar.set_gid("waterfall-bar")
        capped = values > cap
        if capped.any():
            capped_any = True
            ax.plot(positions[capped], shown[capped] + 4, ls="none", marker="^", ms=3.5, color=_INK)
        for level in (20, -30):
            ax.axhline(level, color=_GREY, lw=0.9, ls=(0, (4, 3)), zorder=0)
        ax.axhline(0, color="#444444", lw=0.8)
        ax.set_xlim(-1, max(len(values), 1))
        ax.set_ylim(-105, cap + 12)
        ax.yaxis.set_major_locator(FixedLocator([-100, -75, -50, -30, 0, 20, 50, 75, 100]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}%".replace("-", "−") if v else "0"))
        ax.xaxis.set_major_locator(NullLocator())
        ax.spines["bottom"].set_visible(False)
        ax.set_title(
            f"{arm.label}\n{len(values)} of {n_total} patients with a post-baseline measurement",
            fontsize=9.5,
            color=arm.colour,
            fontweight="bold",
        )
        if i == 0:
            ax.set_ylabel("Best change from baseline in the\nsum of target-lesion diameters", fontsize=9.5, color=_INK)
        else:
            ax.tick_params(labelleft=False)
    present = [r for r in RESPONSE_COLOURS if r in set(data["response"].astype(str))]
    handles: list[Any] = [Patch(color=RESPONSE_COLOURS[r], label=r) for r in present]
    if capped_any:
        handles.append(Line2D([], [], ls="none", marker="^", ms=4, color=_INK, label=f"> {cap:g}% (bar cut)"))
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles) or 1,
        frameon=False,
        fontsize=9,
        bbox_to_anchor=(0.5, 1.0),
        title=f"Best overall response ({assessor}, RECIST 1.1)",
        title_fontsize=9,
    )
    return fig


# ---- swimmer ---------------------------------------------------------------------------------------------------


def plot_swimmer(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    *,
    assessor: str = "BICR",
    top: int = 30,
    arms: Sequence[ArmStyle] | None = None,
) -> Figure:
    """Time on treatment (months since randomization, ``TRTSDT`` to ``TRTEDT``) of the ``top`` treated subjects
    with the longest treatment, one bar each coloured by arm, with the first objective response (CR/PR) and the
    first progression (PD) time points of ``assessor`` (ADRS OVR), death, and an arrow for treatment ongoing at
    the cut-off (ADSL ``EOTSTT`` = ONGOING)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl)
    colour = {a.code: a.colour for a in arms}
    treated = adsl[(adsl["SAFFL"] == "Y") & adsl["ARMCD"].isin(list(colour))].copy()
    treated["start"] = (treated["TRTSDT"] - treated["RANDDT"]).dt.days / DAYS_PER_MONTH
    treated["end"] = ((treated["TRTEDT"] - treated["RANDDT"]).dt.days + 1) / DAYS_PER_MONTH
    treated = treated.sort_values(["end", "SUBJID"], ascending=[False, True], kind="stable").head(top)
    ovr = adrs[(adrs["PARAMCD"] == "OVR") & (adrs["ASSESSOR"] == assessor) & adrs["SUBJID"].isin(treated["SUBJID"])]
    ovr = ovr.assign(month=(ovr["ADT"] - ovr["RANDDT"]).dt.days / DAYS_PER_MONTH)
    first_response = ovr[ovr["AVALC"].isin(["CR", "PR"])].groupby("SUBJID")["month"].min()
    first_pd = ovr[ovr["AVALC"] == "PD"].groupby("SUBJID")["month"].min()
    death = ((treated["DTHDT"] - treated["RANDDT"]).dt.days / DAYS_PER_MONTH).set_axis(treated["SUBJID"])

    n = len(treated)
    row_in, top_in, bottom_in = 0.24, 0.95, 0.6
    height = top_in + row_in * max(n, 1) + bottom_in
    fig = new_figure(10.0, height)
    ax = fig.add_axes((0.13, bottom_in / height, 0.84, row_in * max(n, 1) / height))
    style_axes(ax)
    y = np.arange(n)
    starts, ends = treated["start"].to_numpy(float), treated["end"].to_numpy(float)
    arm_codes = treated["ARMCD"].astype(str).to_numpy()
    ongoing = (treated["EOTSTT"] == "ONGOING").to_numpy()
    for yi in range(n):
        tint = colour[str(arm_codes[yi])]
        ax.barh(yi, ends[yi] - starts[yi], left=starts[yi], height=0.62, color=tint, alpha=0.85)
        ax.patches[-1].set_gid("swimmer-bar")
        if ongoing[yi]:
            ax.plot([ends[yi] + 0.22], [yi], marker=">", ms=5.5, color=tint, ls="none")
    subjects = [str(v) for v in treated["SUBJID"]]
    markers = (
        (first_response, "^", RESPONSE_COLOURS["PR"], 7.0, f"First CR/PR ({assessor})"),
        (first_pd, "X", RESPONSE_COLOURS["PD"], 7.0, f"First PD ({assessor})"),
        (death, "D", "#000000", 5.0, "Death"),
    )
    for series, marker, face, size, _label in markers:
        lookup = {str(k): float(v) for k, v in series.items()}
        points = [(lookup[sid], yi) for yi, sid in enumerate(subjects) if math.isfinite(lookup.get(sid, math.nan))]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            ls="none",
            marker=marker,
            ms=size,
            color=face,
            mec="white",
            mew=0.6,
            zorder=3,
        )
    ax.set_ylim(n - 0.5, -0.5)
    ax.yaxis.set_major_locator(FixedLocator(list(y)))
    ax.set_yticklabels(list(subjects), fontsize=7.5)
    horizon = max(1.0, float(treated["end"].max()) if n else 1.0) * 1.06
    step = _tick_step(horizon)
    ax.set_xlim(0, horizon)
    ax.xaxis.set_major_locator(FixedLocator(list(np.arange(0.0, horizon, step))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("Months since randomization", fontsize=9.5, color=_INK)
    ax.grid(axis="x", color="#EEEEEE", lw=0.7)
    ax.set_axisbelow(True)
    handles: list[Any] = [Patch(color=a.colour, alpha=0.85, label=a.short) for a in arms]
    handles += [
        Line2D([], [], ls="none", marker=m, ms=size, color=face, label=label) for _, m, face, size, label in markers
    ]
    handles.append(Line2D([], [], ls="none", marker=">", ms=5.5, color=_GREY, label="Treatment ongoing"))
    fig.legend(
        handles=handles,
        loc="center",
        ncol=len(handles),
        frameon=False,
        fontsize=8.5,
        bbox_to_anchor=(0.55, 1 - 0.62 / height),
    )
    fig.text(
        0.13,
        1 - 0.22 / height,
        f"Time on treatment: the {n} patients treated longest",
        fontsize=11,
        fontweight="bold",
        color=_INK,
        va="center",
    )
    return fig


# ---- CONSORT ---------------------------------------------------------------------------------------------------

_LINE_IN = 0.19
_PAD_IN = 0.09
_FONT = 8.8
_EDGE = "#4A5A70"


def _criterion_labels(protocol: Protocol | None) -> dict[str, str]:
    if protocol is None:
        return {}
    out = {}
    for criterion in protocol.eligibility.all_criteria():
        kind = "Inclusion" if criterion.kind.value == "inclusion" else "Exclusion"
        text = " ".join(criterion.text.replace("\\", "").split())
        text = textwrap.shorten(text.rstrip("."), width=64, placeholder="…")
        out[criterion.id] = f"{kind} {criterion.id}: {text}"
    return out


def screen_failure_reasons(
    screening: pd.DataFrame, *, protocol: Protocol | None = None, top_reasons: int = 5
) -> tuple[int, list[tuple[str, int]]]:
    """(screen failures, [(criterion, persons)]) — the ``top_reasons`` most frequently failed criteria (a person
    failing several counts under each), then "other criteria" and "evaluation incomplete"."""
    failed = screening[screening["status"] != "eligible"]
    names = _criterion_labels(protocol)
    counts: dict[str, int] = {}
    first_reason: dict[str, str] = {}
    for crit, reasons in zip(failed["failed_criteria"].fillna(""), failed["reasons"].fillna(""), strict=True):
        ids = [c.strip() for c in str(crit).split(";") if c.strip()]
        texts = [r.strip() for r in str(reasons).split(" | ")]
        for j, cid in enumerate(ids):
            counts[cid] = counts.get(cid, 0) + 1
            if cid not in first_reason and j < len(texts) and texts[j]:
                first_reason[cid] = texts[j].split(":")[0]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [(names.get(cid, f"{cid}: {first_reason.get(cid, 'criterion not met')}"), n) for cid, n in ranked]
    out = shown[:top_reasons]
    rest = ranked[top_reasons:]
    if rest:
        out.append((f"Other criteria ({len(rest)})", sum(n for _, n in rest)))
    incomplete = int((failed["status"] == "incomplete").sum())
    if incomplete:
        out.append(("Evaluation incomplete", incomplete))
    return len(failed), out


class _Canvas:
    """Boxes and arrows placed in inches from the top-left corner of an axes covering the whole figure."""

    def __init__(self, ax: Axes, width: float, height: float) -> None:
        self.ax, self.width, self.height = ax, width, height

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        return x / self.width, 1 - y / self.height

    def box(self, x_c: float, top: float, width: float, title: str, lines: Sequence[str]) -> tuple[float, float]:
        """A box with a bold title and body lines, centred at ``x_c``; returns (left, bottom) in inches."""
        body, title_lines = _wrap_box(width, title, lines)
        height = 2 * _PAD_IN + _LINE_IN * (len(title_lines) + len(body))
        x0 = x_c - width / 2
        self.ax.add_patch(
            FancyBboxPatch(
                self._xy(x0, top + height),
                width / self.width,
                height / self.height,
                boxstyle="round,pad=0,rounding_size=0.006",
                transform=self.ax.transAxes,
                facecolor="#F7F9FC",
                edgecolor=_EDGE,
                lw=1.0,
                gid="consort-box",
            )
        )
        y = top + _PAD_IN + _LINE_IN / 2
        for i, text in enumerate([*title_lines, *body]):
            weight = "bold" if i < len(title_lines) else "normal"
            self.ax.text(*self._xy(x0 + 0.12, y), text, fontsize=_FONT, fontweight=weight, va="center", color=_INK)
            y += _LINE_IN
        return x0, top + height

    def arrow(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.ax.annotate(
            "",
            xy=self._xy(*end),
            xytext=self._xy(*start),
            xycoords="axes fraction",
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "-|>", "color": _EDGE, "lw": 1.0, "shrinkA": 0, "shrinkB": 0},
        )

    def line(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        points = [self._xy(x, y) for x, y in zip(xs, ys, strict=True)]
        self.ax.plot([p[0] for p in points], [p[1] for p in points], color=_EDGE, lw=1.0, transform=self.ax.transAxes)


def _wrap_box(width: float, title: str, lines: Sequence[str]) -> tuple[list[str], list[str]]:
    chars = max(20, int((width - 0.24) * 15.5))
    body: list[str] = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        wrapped = textwrap.wrap(line.strip(), chars - indent) or [""]
        body.append(" " * indent + wrapped[0])
        body += [" " * (indent + 3) + w for w in wrapped[1:]]
    return body, textwrap.wrap(title, chars)


def _box_height(width: float, title: str, lines: Sequence[str]) -> float:
    body, title_lines = _wrap_box(width, title, lines)
    return 2 * _PAD_IN + _LINE_IN * (len(title_lines) + len(body))


def plot_consort(
    screening: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    arms: Sequence[ArmStyle] | None = None,
    protocol: Protocol | None = None,
    top_reasons: int = 5,
) -> Figure:
    """CONSORT 2010 flow diagram: screened → screen failures (the ``top_reasons`` most frequently failed
    criteria, named from ``protocol``) → randomized → allocated per arm (treated / not treated) → treatment
    status at the cut-off (ongoing / discontinued by reason, ADSL ``EOTSTT``/``DCTREAS``; deaths) → analysed
    (ITT and safety populations)."""
    arms = tuple(arms) if arms is not None else arm_styles(adsl, protocol)
    n_failed, reasons = screen_failure_reasons(screening, protocol=protocol, top_reasons=top_reasons)
    width = 10.5
    stages: list[list[tuple[str, list[str]]]] = [[], [], []]
    for arm in arms:
        rows = adsl[adsl["ARMCD"] == arm.code]
        treated = int((rows["SAFFL"] == "Y").sum())
        stages[0].append(
            (
                f"Allocated to {arm.label} (n={len(rows)})",
                [f"• Received treatment (n={treated})", f"• Did not receive treatment (n={len(rows) - treated})"],
            )
        )
        status = [f"• Treatment ongoing (n={int((rows['EOTSTT'] == 'ONGOING').sum())})"]
        completed = int((rows["EOTSTT"] == "COMPLETED").sum())
        if completed:
            status.append(f"• Completed treatment (n={completed})")
        stopped = rows[rows["EOTSTT"] == "DISCONTINUED"]
        status.append(f"• Discontinued treatment (n={len(stopped)})")
        for reason, count in stopped["DCTREAS"].fillna("UNKNOWN").astype(str).value_counts().sort_index().items():
            status.append(f"    – {str(reason).capitalize()} (n={count})")
        status.append(f"• Died (n={int((rows['DTHFL'] == 'Y').sum())})")
        stages[1].append((f"{arm.short}: status at the data cut-off", status))
        stages[2].append(
            (
                f"{arm.short}: analysed",
                [f"• Efficacy, ITT (n={int((rows['ITTFL'] == 'Y').sum())})", f"• Safety, as treated (n={treated})"],
            )
        )
    n_cols = max(len(arms), 1)
    col_w = min(4.4, (width - 0.6 - 0.35 * (n_cols - 1)) / n_cols)
    stage_h = [max((_box_height(col_w, t, b) for t, b in stage), default=0.0) for stage in stages]
    excluded_title = f"Excluded: screen failures (n={n_failed})"
    excluded_lines = [f"• {label} (n={count})" for label, count in reasons]
    ex_w = 5.6
    ex_h = _box_height(ex_w, excluded_title, excluded_lines)
    small_h = _box_height(3.0, "x", [])
    height = 0.2 + small_h + 0.3 + ex_h + 0.3 + small_h + 0.55 + sum(stage_h) + 2 * 0.35 + 0.2
    fig = new_figure(width, height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    canvas = _Canvas(ax, width, height)

    centre = 2.9
    _, screened_bottom = canvas.box(centre, 0.2, 3.0, f"Assessed for eligibility (n={len(screening)})", [])
    ex_top = screened_bottom + 0.3
    ex_left, ex_bottom = canvas.box(width - 0.2 - ex_w / 2, ex_top, ex_w, excluded_title, excluded_lines)
    rand_top = ex_bottom + 0.3
    canvas.arrow((centre, screened_bottom), (centre, rand_top))
    canvas.arrow((centre, (ex_top + ex_bottom) / 2), (ex_left, (ex_top + ex_bottom) / 2))
    _, rand_bottom = canvas.box(centre, rand_top, 3.0, f"Randomized (n={len(adsl)})", [])

    centres = [0.3 + (width - 0.6) * (i + 0.5) / n_cols for i in range(n_cols)]
    split = rand_bottom + 0.25
    first_top = split + 0.3
    canvas.line([centre, centre], [rand_bottom, split])
    if n_cols > 1:
        canvas.line([min(centres), max(centres)], [split, split])
    tops = [first_top, first_top + stage_h[0] + 0.35, first_top + stage_h[0] + stage_h[1] + 0.7]
    for col, c in enumerate(centres):
        if n_cols == 1:
            canvas.line([centre, c], [split, split])
        canvas.arrow((c, split), (c, tops[0]))
        bottoms = [canvas.box(c, tops[k], col_w, *stages[k][col])[1] for k in range(3)]
        for k in range(2):
            canvas.arrow((c, bottoms[k]), (c, tops[k + 1]))
    return fig


def at_risk_texts(fig: Figure, arm_code: str) -> list[str]:
    """The numbers-at-risk row of ``arm_code`` as drawn by :func:`plot_km` (for checks and tests)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == f"at-risk-{arm_code}"]
