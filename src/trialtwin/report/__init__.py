"""trialtwin.report: the trial report — tables, figures and one self-contained HTML document (presentation only).

Numbers come from :mod:`trialtwin.analysis`; this package orders, formats and draws them. Nothing here reads or
writes files: plots return :class:`matplotlib.figure.Figure`, tables return DataFrames of formatted text (methods
in ``attrs["footnotes"]``), :func:`render_report` returns the HTML text and the figure bytes. See docs/report.md.
"""

from trialtwin.report._common import ArmStyle, ReportError, arm_styles, figure_bytes
from trialtwin.report.html import SECTIONS, render_report, render_table
from trialtwin.report.plots import (
    at_risk_texts,
    plot_consort,
    plot_forest,
    plot_km,
    plot_swimmer,
    plot_waterfall,
    screen_failure_reasons,
)
from trialtwin.report.tables import (
    Comparison,
    compare_arms,
    dosing_schedules,
    strata_columns,
    subgroup_hazard_ratios,
    table_baseline,
    table_disposition,
    table_dose_intensity,
    table_key_results,
    table_published_vs_trial,
    table_response,
    table_safety,
    table_tte,
)

__all__ = [
    "SECTIONS",
    "ArmStyle",
    "Comparison",
    "ReportError",
    "arm_styles",
    "at_risk_texts",
    "compare_arms",
    "dosing_schedules",
    "figure_bytes",
    "plot_consort",
    "plot_forest",
    "plot_km",
    "plot_swimmer",
    "plot_waterfall",
    "render_report",
    "render_table",
    "screen_failure_reasons",
    "strata_columns",
    "subgroup_hazard_ratios",
    "table_baseline",
    "table_disposition",
    "table_dose_intensity",
    "table_key_results",
    "table_published_vs_trial",
    "table_response",
    "table_safety",
    "table_tte",
]
