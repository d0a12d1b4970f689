"""Report figures: each plot function returns a Figure whose artists match the analysis results they show.

Reference values: ``trialtwin.analysis`` itself (kaplan_meier, compare_arms → cox_ph/logrank_test) on the
hand-made datasets of conftest.py, and the counts listed in the fixtures' docstrings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from trialtwin.analysis import kaplan_meier
from trialtwin.protocol import Protocol
from trialtwin.report import (
    ReportError,
    at_risk_texts,
    compare_arms,
    figure_bytes,
    plot_consort,
    plot_forest,
    plot_km,
    plot_swimmer,
    plot_waterfall,
    screen_failure_reasons,
    subgroup_hazard_ratios,
)
from trialtwin.report._common import RESPONSE_COLOURS, fmt_ci, reference_arm, treatment_arms


def _lines(fig: Figure, prefix: str) -> list[Any]:
    return [line for ax in fig.axes for line in ax.get_lines() if str(line.get_gid() or "").startswith(prefix)]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]


def test_km_one_curve_per_arm_with_censor_ticks(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """One step curve per arm; censor ticks at the censored times (PFS_CNSR: 2 in SG, 1 in TPC)."""
    fig = plot_km(small_adam["ADTTE"], "PFS", arms=small_arms)
    assert isinstance(fig, Figure)
    curves = _lines(fig, "km-curve-")
    assert sorted(line.get_gid() for line in curves) == ["km-curve-sg", "km-curve-tpc"]
    censor = {line.get_gid(): len(line.get_xdata()) for line in _lines(fig, "km-censor-")}
    assert censor == {"km-censor-sg": 2, "km-censor-tpc": 1}
    sg_curve = next(line for line in curves if line.get_gid() == "km-curve-sg")
    assert float(np.asarray(sg_curve.get_ydata())[0]) == 100.0


def test_km_numbers_at_risk_match_kaplan_meier(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """The at-risk row under the axis equals kaplan_meier(...).at_risk at the x ticks (0, 2, ..., 12 months)."""
    rows = small_adam["ADTTE"][small_adam["ADTTE"]["PARAMCD"] == "PFS"]
    km = kaplan_meier(rows["AVAL"], 1 - rows["CNSR"], rows["ARMCD"])
    fig = plot_km(small_adam["ADTTE"], "PFS", arms=small_arms, tick_months=2)
    expected = km.at_risk([0, 2, 4, 6, 8, 10, 12])
    for arm in ("sg", "tpc"):
        assert at_risk_texts(fig, arm) == [str(int(v)) for v in expected.loc[arm]]
    assert at_risk_texts(fig, "sg") == ["6", "6", "5", "4", "3", "2", "1"]


def test_km_hazard_ratio_annotation(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """The HR text is the stratified Cox HR of compare_arms (STRAT1-3 columns), formatted to 2 decimals."""
    fig = plot_km(small_adam["ADTTE"], "PFS", arms=small_arms)
    rows = small_adam["ADTTE"][small_adam["ADTTE"]["PARAMCD"] == "PFS"]
    trt, ref = treatment_arms(small_arms)[0], reference_arm(small_arms)
    cmp = compare_arms(rows, trt, ref, strata=["STRAT1", "STRAT2", "STRAT3"])
    hr_text = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "km-hr"]
    assert len(hr_text) == 1
    assert f"Stratified HR SG vs TPC: {fmt_ci(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)}" in hr_text[0]


def test_km_median_lines_optional(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    with_medians = plot_km(small_adam["ADTTE"], "PFS", arms=small_arms)
    without = plot_km(small_adam["ADTTE"], "PFS", arms=small_arms, show_median=False, show_hr=False)
    assert len(_lines(with_medians, "km-median")) == 3  # the 50% line and one drop per arm
    assert _lines(without, "km-median") == []
    assert not any(t.get_gid() == "km-hr" for ax in without.axes for t in ax.texts)


def test_km_unknown_parameter_names_it(small_adam: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ReportError, match=r"PARAMCD 'DOR'.*OS, PFS"):
        plot_km(small_adam["ADTTE"], "DOR")


def test_forest_rows_and_intervals(small_adam: dict[str, pd.DataFrame], small_arms: Any, ever: Protocol) -> None:
    """Every subgroup row with an estimable HR has a CI line; headings name the protocol's factors."""
    table = subgroup_hazard_ratios(small_adam["ADTTE"], small_adam["ADSL"], "PFS", arms=small_arms, protocol=ever)
    fig = plot_forest(small_adam["ADTTE"], small_adam["ADSL"], "PFS", arms=small_arms, protocol=ever)
    estimable = (~table["header"].astype(bool)) & np.isfinite(table["hr"]) & np.isfinite(table["lower"])
    assert len(_lines(fig, "forest-ci")) == int(estimable.sum())
    texts = _texts(fig)
    assert "All patients (stratified)" in texts
    assert "Prior systemic chemotherapy lines for MBC" in texts
    assert "6 / 4" in texts  # SG: 6 patients, 4 PFS events
    assert ax_is_log(fig)


def ax_is_log(fig: Figure) -> bool:
    return any(ax.get_xscale() == "log" for ax in fig.axes)


def test_subgroup_table_levels(small_adam: dict[str, pd.DataFrame], small_arms: Any, ever: Protocol) -> None:
    """Age < 65 / ≥ 65 from AGE (≥ 65: S03, S05 and T02); sex is left out (one male, below MIN_SUBGROUP)."""
    table = subgroup_hazard_ratios(small_adam["ADTTE"], small_adam["ADSL"], "PFS", arms=small_arms, protocol=ever)
    labels = list(table["label"])
    assert labels[0] == "All patients (stratified)"
    assert "Sex" not in labels
    older = table[table["label"] == "≥ 65 years"].iloc[0]
    assert (older["n_trt"], older["n_ref"]) == (2, 1)
    assert labels.index("2 lines") < labels.index("3-4 lines")


def test_waterfall_one_bar_per_measured_subject(
    small_adam: dict[str, pd.DataFrame], small_frames: dict[str, pd.DataFrame], small_arms: Any
) -> None:
    """S06 has no post-baseline measurement: 5 bars for SG, 6 for TPC; colours follow the best response."""
    fig = plot_waterfall(small_frames["best_response"], small_adam["ADSL"], arms=small_arms)
    panels = [ax for ax in fig.axes if any(p.get_gid() == "waterfall-bar" for p in ax.patches)]
    counts = [sum(p.get_gid() == "waterfall-bar" for p in ax.patches) for ax in panels]
    assert counts == [5, 6]
    first = next(p for p in panels[0].patches if p.get_gid() == "waterfall-bar")
    assert first.get_height() == 30.0  # sorted worst first: S05, +30%, PD
    assert np.allclose(first.get_facecolor()[:3], _rgb(RESPONSE_COLOURS["PD"]))
    tallest = max(p.get_height() for p in panels[1].patches if p.get_gid() == "waterfall-bar")
    assert tallest == 100.0  # T04's +150% is cut at the cap


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def test_swimmer_top_n(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    fig = plot_swimmer(small_adam["ADSL"], small_adam["ADRS"], arms=small_arms, top=5)
    bars = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "swimmer-bar"]
    assert len(bars) == 5
    widths = [p.get_width() for p in bars]
    assert widths == sorted(widths, reverse=True)
    assert any("5 patients treated longest" in t for t in _texts(fig))


def test_consort_counts(
    small_adam: dict[str, pd.DataFrame], small_frames: dict[str, pd.DataFrame], small_arms: Any, ever: Protocol
) -> None:
    """16 screened, 4 failures, 12 randomized; one box per stage and arm (3 × 2) plus 3 shared boxes."""
    fig = plot_consort(small_frames["screening"], small_adam["ADSL"], arms=small_arms, protocol=ever)
    texts = _texts(fig)
    assert "Assessed for eligibility (n=16)" in texts
    assert "Excluded: screen failures (n=4)" in texts
    assert "Randomized (n=12)" in texts
    assert any(t.startswith("Allocated to Sacituzumab Govitecan-hziy (n=6)") for t in texts)
    assert any(t.strip().startswith("– Adverse event (n=1)") for t in texts)
    boxes = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "consort-box"]
    assert len(boxes) == 3 + 3 * 2


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        pytest.param(5, [("I6", 3), ("E1", 2)], id="criterion-counted-per-person-failing-it"),
        pytest.param(1, [("I6", 3), ("Other criteria (1)", 2)], id="rest-pooled-as-other-criteria"),
    ],
)
def test_screen_failure_reasons(
    small_frames: dict[str, pd.DataFrame], ever: Protocol, top: int, expected: list[tuple[str, int]]
) -> None:
    n_failed, reasons = screen_failure_reasons(small_frames["screening"], protocol=ever, top_reasons=top)
    assert n_failed == 4
    assert [(label.split(":")[0].split()[-1] if ":" in label else label, n) for label, n in reasons] == expected


def test_screen_failure_without_protocol_uses_the_reason_text(small_frames: dict[str, pd.DataFrame]) -> None:
    _, reasons = screen_failure_reasons(small_frames["screening"])
    assert reasons[0] == ("I6: Bone-only disease", 3)


def test_figure_bytes_are_deterministic(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    fig = plot_km(small_adam["ADTTE"], "OS", arms=small_arms)
    svg1, svg2 = figure_bytes(fig, "svg", salt="km"), figure_bytes(fig, "svg", salt="km")
    png = figure_bytes(fig, "png", dpi=60)
    assert svg1 == svg2 and svg1.lstrip().startswith(b"<?xml")
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="pdf"):
        figure_bytes(fig, "pdf")
