"""What every report module shares: arm order and colours, number formats, figure rendering to bytes.

Presentation only: numbers come from :mod:`trialtwin.analysis`; here they are ordered, rounded and drawn.
Figures are built with :class:`matplotlib.figure.Figure` and rendered through the Agg/SVG canvases directly (no
pyplot, no global backend state), so rendering is thread-safe and deterministic.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import ArmType, Protocol

#: Okabe–Ito colour-blind-safe palette (Okabe M, Ito K 2008, "Color Universal Design"), experimental arm first.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")

#: Colours of best overall response categories (RECIST 1.1) in waterfall and swimmer plots.
RESPONSE_COLOURS = {
    "CR": "#1B7837",
    "PR": "#5AAE61",
    "SD": "#9E9AC8",
    "NON-CR/NON-PD": "#BCBDDC",
    "PD": "#C2185B",
    "NE": "#BDBDBD",
}

NOT_ESTIMABLE = "NE"


class ReportError(TrialtwinError, ValueError):
    """The datasets cannot be presented (e.g. no rows for a parameter); the message names the dataset and value."""


@dataclass(frozen=True, slots=True)
class ArmStyle:
    """How an arm is shown: ADaM ``ARMCD`` code, full label, short label (plots, column heads) and colour."""

    code: str
    label: str
    short: str
    colour: str
    reference: bool


def _short_label(code: str, label: str) -> str:
    found = re.search(r"\(([^()]{1,12})\)\s*$", label)
    if found:
        return found.group(1)
    if len(code) <= 6:
        return code.upper()
    return label


def arm_styles(adsl: pd.DataFrame, protocol: Protocol | None = None) -> tuple[ArmStyle, ...]:
    """Arms present in ``adsl`` (columns ``ARMCD``/``ARM``), in protocol order when a protocol is given (else
    sorted by code). The reference (control) arm is the first non-experimental arm of the protocol, else the last
    arm; comparisons are every other arm versus it."""
    present = adsl[["ARMCD", "ARM"]].drop_duplicates("ARMCD")
    labels = dict(zip(present["ARMCD"].astype(str), present["ARM"].astype(str), strict=True))
    if protocol is not None:
        order = [a.id for a in protocol.arms if a.id in labels]
        order += sorted(c for c in labels if c not in order)
        controls = [a.id for a in protocol.arms if a.id in labels and a.type is not ArmType.EXPERIMENTAL]
    else:
        order = sorted(labels)
        controls = []
    reference = controls[0] if controls else (order[-1] if order else "")
    return tuple(
        ArmStyle(code, labels[code], _short_label(code, labels[code]), PALETTE[i % len(PALETTE)], code == reference)
        for i, code in enumerate(order)
    )


def reference_arm(arms: Sequence[ArmStyle]) -> ArmStyle:
    """The control arm of ``arms``."""
    for arm in arms:
        if arm.reference:
            return arm
    return arms[-1]


def treatment_arms(arms: Sequence[ArmStyle]) -> list[ArmStyle]:
    """Every arm but the reference, in display order."""
    ref = reference_arm(arms)
    return [a for a in arms if a.code != ref.code]


# ---- numbers ---------------------------------------------------------------------------------------------------


def cell(frame: pd.DataFrame, row: Any, column: Any) -> float:
    """One numeric cell of a result table as a float (``frame.loc[row, column]``)."""
    value: Any = frame.loc[row, column]
    return float(value)


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_num(value: Any, digits: int = 1) -> str:
    """A number rounded to ``digits`` decimals, ``NE`` (not estimable) when missing or infinite."""
    return f"{float(value):.{digits}f}" if finite(value) else NOT_ESTIMABLE


def fmt_ci(estimate: Any, lower: Any, upper: Any, digits: int = 1) -> str:
    """``estimate (lower, upper)`` with ``NE`` for limits that cannot be estimated."""
    return f"{fmt_num(estimate, digits)} ({fmt_num(lower, digits)}, {fmt_num(upper, digits)})"


def fmt_n_pct(n: int, total: int, digits: int = 1) -> str:
    """``n (pct%)``; ``0`` alone when n = 0 (ICH E3 table convention)."""
    if n == 0 or total == 0:
        return "0"
    return f"{n} ({100.0 * n / total:.{digits}f}%)"


def fmt_p(p: Any) -> str:
    """Two-sided p-value: four decimals, ``<0.0001`` below 10⁻⁴."""
    if not finite(p):
        return NOT_ESTIMABLE
    return "<0.0001" if float(p) < 1e-4 else f"{float(p):.4f}"


def fmt_range(values: Any, digits: int = 1) -> str:
    """``min, max`` of the finite values (empty → NE)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return NOT_ESTIMABLE
    return f"{v.min():.{digits}f}, {v.max():.{digits}f}"


# ---- figures ---------------------------------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Figure:
    """A white figure on its own Agg canvas (the raster backend; no pyplot, no global backend switch)."""
    fig = Figure(figsize=(width, height), facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Any) -> None:
    """Open axes (no top/right spines), light tick labels — the journal look."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=9, colors="#333333")
    for spine in ("left", "bottom"):
        ax.spines[spine].set_color("#555555")


def figure_bytes(fig: Figure, fmt: str, *, salt: str = "trialtwin", dpi: int = 200) -> bytes:
    """``fig`` rendered as ``png`` or ``svg`` bytes, deterministic (no timestamps; SVG ids salted by ``salt``)."""
    buffer = io.BytesIO()
    if fmt == "svg":
        with mpl.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "trialtwin"})
    elif fmt == "png":
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": "trialtwin"})
    else:
        raise ValueError(f"figure format {fmt!r} is not png or svg")
    return buffer.getvalue()
