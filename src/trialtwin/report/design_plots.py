"""Plots of a group-sequential design's operating characteristics (presentation only; plain numbers in)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def plot_power_curve(
    hazard_ratios: Sequence[float],
    power: Sequence[float],
    mc_se: Sequence[float],
    analytic: Sequence[float] | None = None,
    *,
    title: str = "Power by true hazard ratio",
) -> Figure:
    """Simulated power (± 2 Monte-Carlo SE) against the true HR, with the analytic curve when given."""
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    hr = np.asarray(hazard_ratios, dtype=float)
    p = np.asarray(power, dtype=float)
    se = np.asarray(mc_se, dtype=float)
    ax.errorbar(hr, 100 * p, yerr=200 * se, fmt="o-", color="#0072B2", capsize=3, label="simulated (± 2 MC SE)")
    if analytic is not None:
        ax.plot(hr, 100 * np.asarray(analytic, dtype=float), "--", color="#D55E00", label="Schoenfeld (fixed design)")
    ax.set_xlabel("True hazard ratio (experimental vs control)")
    ax.set_ylabel("Probability of rejecting H0 (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title(title, loc="left", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_boundaries(
    events: Sequence[float],
    efficacy: Sequence[float],
    futility: Sequence[float] | None = None,
    *,
    title: str = "Group-sequential boundaries (Z scale, positive favours experimental)",
) -> Figure:
    """Efficacy (and futility) z-bounds at each look against the events at that look."""
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    x = np.asarray(events, dtype=float)
    ax.plot(x, efficacy, "o-", color="#009E73", label="efficacy bound")
    for xi, zi in zip(x, efficacy, strict=True):
        ax.annotate(f"{zi:.2f}", (xi, zi), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=9)
    if futility is not None and np.isfinite(np.asarray(futility, dtype=float)).any():
        ax.plot(x, futility, "s--", color="#CC79A7", label="futility bound (non-binding)")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("PFS events at the analysis")
    ax.set_ylabel("Z")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title(title, loc="left", fontweight="bold", fontsize=11)
    fig.tight_layout()
    return fig
