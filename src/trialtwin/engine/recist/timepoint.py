"""Time-point response: target, non-target and overall (RECIST 1.1 §4.3, Eisenhauer 2009 Tables 1 and 2).

Facts file section 5 reproduces both tables. Target response compares the sum of diameters with the
BASELINE sum for partial response and with the NADIR (smallest sum on study, baseline included, before
this assessment) for progression.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from trialtwin.engine.recist.lesions import Assessment, LesionStatus, NonTargetLesion, TargetLesion
from trialtwin.engine.recist.sums import TOO_SMALL_MM, compute_pct_change

#: Partial response: at least a 30% decrease of the sum from baseline (RECIST 1.1 §4.3.1).
PR_DECREASE = 0.30
#: Progression: at least a 20% increase of the sum over the nadir (RECIST 1.1 §4.3.1) ...
PD_INCREASE = 0.20
#: ... and an absolute increase of at least 5 mm (RECIST 1.1 §4.3.1).
PD_MIN_INCREASE_MM = 5.0
#: A lymph node with a short axis below 10 mm is normal (RECIST 1.1 §4.3.1, complete response).
NORMAL_NODE_MM = 10.0
_EPS = 1e-9  # float tolerance on the >= 20% / <= -30% / >= 5 mm boundaries (60.0 vs 50 * 1.2)


class ResponseCategory(StrEnum):
    """RECIST 1.1 response categories (Eisenhauer 2009 §4.3, Tables 1-3)."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    NON_CR_NON_PD = "NON-CR/NON-PD"
    PD = "PD"
    NE = "NE"


_CR = ResponseCategory.CR
_PR = ResponseCategory.PR
_SD = ResponseCategory.SD
_NN = ResponseCategory.NON_CR_NON_PD
_PD = ResponseCategory.PD
_NE = ResponseCategory.NE


def is_progression(total_mm: float, nadir_mm: float) -> bool:
    """Target progression by size: sum >= nadir + 20% AND >= nadir + 5 mm (RECIST 1.1 §4.3.1)."""
    increase = total_mm - nadir_mm
    return increase >= PD_MIN_INCREASE_MM - _EPS and increase >= PD_INCREASE * nadir_mm - _EPS


def _classify_target(
    lesions: tuple[TargetLesion, ...], baseline_sum: float, nadir_sum: float
) -> tuple[ResponseCategory, float | None, float]:
    """(target response, complete sum or None, sum of the measured lesions)."""
    total = 0.0
    complete = True
    disease_left = False  # a non-nodal lesion still there, or a node >= 10 mm
    for lesion in lesions:
        size = lesion.diameter_mm
        if size is None:
            if not lesion.too_small:
                complete = False
                continue
            size = TOO_SMALL_MM
        total += size
        if (size >= NORMAL_NODE_MM) if lesion.nodal else (size > 0.0):
            disease_left = True
    if not complete:
        # RECIST 1.1 §4.3.3: a partly measured assessment is NE unless the measured lesions alone already
        # prove progression (missing lesions can only add to the sum).
        return (_PD if is_progression(total, nadir_sum) else _NE), None, total
    if not disease_left:
        return _CR, total, total
    if is_progression(total, nadir_sum):
        return _PD, total, total
    if total <= (1.0 - PR_DECREASE) * baseline_sum + _EPS:
        return _PR, total, total
    return _SD, total, total


def assess_target(
    lesions: tuple[TargetLesion, ...], *, baseline_sum: float, nadir_sum: float
) -> ResponseCategory | None:
    """Target-lesion response at one assessment (RECIST 1.1 §4.3.1; ``None`` without target lesions).

    - CR: every non-nodal target gone (0 mm) and every nodal target short axis < 10 mm. Checked first: with
      no pathological target disease left there is nothing to progress, even if normal nodes grew.
    - PD: sum >= 20% above the nadir and >= 5 mm above it (``nadir_sum``: smallest sum before this
      assessment, baseline included).
    - PR: sum at least 30% below the baseline sum.
    - SD: neither.
    - NE: a target not measured (``diameter_mm`` null and not too small), unless the measured ones already
      meet PD (RECIST 1.1 §4.3.3).
    """
    if not lesions:
        return None
    return _classify_target(lesions, baseline_sum, nadir_sum)[0]


def assess_non_target(lesions: tuple[NonTargetLesion, ...]) -> ResponseCategory | None:
    """Non-target response (RECIST 1.1 §4.3.2; ``None`` without non-target lesions).

    PD when any lesion shows unequivocal progression; otherwise NE when any was not evaluated; CR when all
    are absent (an "absent" node means normal size, < 10 mm); otherwise NON-CR/NON-PD.
    """
    if not lesions:
        return None
    statuses = {lesion.status for lesion in lesions}
    if LesionStatus.UNEQUIVOCAL_PROGRESSION in statuses:
        return _PD
    if LesionStatus.NOT_EVALUATED in statuses:
        return _NE
    return _NN if LesionStatus.PRESENT in statuses else _CR


def assess_overall(
    target: ResponseCategory | None, non_target: ResponseCategory | None, new_lesions: bool
) -> ResponseCategory:
    """Overall time-point response from target, non-target and new lesions.

    With target disease, Eisenhauer 2009 Table 1:

    ====================  ===========================  =====  =======
    target                non-target                   new    overall
    ====================  ===========================  =====  =======
    CR                    CR (or none at baseline)     no     CR
    CR                    non-CR/non-PD                no     PR
    CR                    not evaluated                no     PR
    PR                    non-PD or not all evaluated  no     PR
    SD                    non-PD or not all evaluated  no     SD
    not all evaluated     non-PD                       no     NE
    PD                    any                          any    PD
    any                   PD                           any    PD
    any                   any                          yes    PD
    ====================  ===========================  =====  =======

    Non-target disease only (``target`` None), Eisenhauer 2009 Table 2: CR / NON-CR/NON-PD / NE as the
    non-target response, PD with unequivocal progression or any new lesion.
    """
    if new_lesions or target is _PD or non_target is _PD:
        return _PD
    if target is None:
        return non_target if non_target is not None else _NE
    if target is _NE:
        return _NE
    if target is _CR:
        return _CR if non_target is _CR or non_target is None else _PR
    return target  # PR or SD, whatever the (non-PD) non-target response


@dataclass(frozen=True, slots=True)
class TimepointResponse:
    """Response at one follow-up assessment.

    ``sum_mm`` is None when not every target was measured (or there are no targets); ``nadir_mm`` is the
    reference for progression (smallest complete sum before this date, baseline included);
    ``pct_from_nadir`` is None when that nadir is 0 mm.
    """

    date: dt.date
    sum_mm: float | None
    nadir_mm: float | None
    pct_from_baseline: float | None
    pct_from_nadir: float | None
    target: ResponseCategory | None
    non_target: ResponseCategory | None
    new_lesions: bool
    overall: ResponseCategory


def assess_timepoint(
    assessment: Assessment, *, baseline_sum: float | None, nadir_sum: float | None
) -> TimepointResponse:
    """Target, non-target and overall response of one follow-up assessment (RECIST 1.1 §4.3, Tables 1-2).

    ``baseline_sum`` and ``nadir_sum`` are the baseline sum of diameters and the smallest complete sum
    before this assessment (baseline included); both None for a patient without target lesions.
    """
    target: ResponseCategory | None = None
    total: float | None = None
    pct_base: float | None = None
    pct_nadir: float | None = None
    if assessment.target and baseline_sum is not None and nadir_sum is not None:
        target, total, _measured = _classify_target(assessment.target, baseline_sum, nadir_sum)
        if total is not None:
            pct_base = compute_pct_change(total, baseline_sum)
            pct_nadir = compute_pct_change(total, nadir_sum)
    non_target = assess_non_target(assessment.non_target)
    return TimepointResponse(
        date=assessment.date,
        sum_mm=total,
        nadir_mm=nadir_sum,
        pct_from_baseline=pct_base,
        pct_from_nadir=pct_nadir,
        target=target,
        non_target=non_target,
        new_lesions=assessment.new_lesions,
        overall=assess_overall(target, non_target, assessment.new_lesions),
    )
