"""Sum of diameters and percent changes (RECIST 1.1 §4.2 and §4.3.1, Eisenhauer 2009).

Each target lesion contributes its longest diameter, a lymph node its short axis. A lesion present but too
small to measure counts 5 mm, a disappeared (non-nodal) lesion 0 mm, and a node keeps its actual short axis
even below 10 mm, so the sum at a complete response with nodal targets is not zero (RECIST 1.1 §4.3.1 note;
EORTC RECIST Q&A; facts file section 5 "Small lesions").
"""

from __future__ import annotations

from collections.abc import Iterable

from trialtwin.engine.recist.lesions import TargetLesion

#: Default size of a lesion "present but too small to measure" (RECIST 1.1 appendix, EORTC Q&A).
TOO_SMALL_MM = 5.0


def lesion_size_mm(lesion: TargetLesion) -> float | None:
    """The size a target lesion contributes to the sum: its measurement, 5 mm when too small to
    measure, ``None`` when it was not measured."""
    if lesion.diameter_mm is not None:
        return lesion.diameter_mm
    return TOO_SMALL_MM if lesion.too_small else None


def compute_sum_of_diameters(lesions: Iterable[TargetLesion]) -> float:
    """Sum of diameters (mm) of the measured target lesions (RECIST 1.1 §4.2).

    Longest diameter for non-nodal lesions, short axis for nodes, 5 mm for "too small to measure", 0 for a
    disappeared lesion. Lesions not measured at all are left out: use :func:`all_measured` to know whether
    the sum is complete.
    """
    total = 0.0
    for lesion in lesions:
        if lesion.diameter_mm is not None:
            total += lesion.diameter_mm
        elif lesion.too_small:
            total += TOO_SMALL_MM
    return total


def all_measured(lesions: Iterable[TargetLesion]) -> bool:
    """True when every target lesion has a size (a measurement or "too small to measure")."""
    return all(lesion.diameter_mm is not None or lesion.too_small for lesion in lesions)


def compute_pct_change(value: float, reference: float) -> float | None:
    """Percent change of ``value`` from ``reference`` (``None`` when the reference is 0 mm)."""
    if reference <= 0.0:
        return None
    return (value - reference) / reference * 100.0
