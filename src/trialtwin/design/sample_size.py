"""Events and subjects for a log-rank comparison of two arms: fixed designs and group-sequential designs.

Notation: one-sided level α, power 1 − β, z_p the standard normal p-quantile, HR the hazard ratio experimental
versus control under H₁, r the fraction of subjects randomized to the experimental arm and r' = r / (1 − r) the
allocation ratio experimental : control (1:1 is r = 0.5, r' = 1).

- Schoenfeld (1981, Biometrika 68:316–319; 1983, Biometrics 39:499–503): the log-rank Z has mean
  −ln(HR)·√(d r(1 − r)) after d events, so d = (z_{1−α} + z_{1−β})² / (r(1 − r) ln²HR).
- Freedman (1982, Stat Med 1:121–129): with the at-risk ratio control : experimental held at 1/r' and each
  death falling in the experimental arm with probability r'HR / (1 + r'HR), the expected O − E per death gives
  d = (z_{1−α} + z_{1−β})² (1 + r'·HR)² / (r' (1 − HR)²); Freedman's paper gives the 1:1 case (1 + HR)²/(1 − HR)².
- Group-sequential inflation: the drift θ_GSD that gives the target power with the design's bounds (solved in
  ``gsd_bounds``) against θ_fixed = z_{1−α} + z_{1−β}; the maximum events are d_fixed · (θ_GSD / θ_fixed)²
  (Jennison & Turnbull 2000 §2.5, the "R" of their Tables 2.1–2.3; gsDesign's "inflation factor").
- Subjects from events: uniform accrual over [0, A], analysis at A + F, exponential event times with hazards
  λ_C = ln 2 / median_C and λ_E = HR·λ_C, exponential drop-out with hazard η; a subject followed for s has an
  event with probability λ/(λ + η)·(1 − e^{−(λ+η)s}), so averaged over s ~ U[F, A + F]:
  P(event) = λ/(λ + η) · (1 − (e^{−(λ+η)F} − e^{−(λ+η)(A+F)}) / ((λ + η) A))   (Lachin & Foulkes 1986,
  Biometrics 42:507–519, uniform entry), and N = d / (r P_E + (1 − r) P_C).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy.typing as npt
from scipy import special

from trialtwin.design.boundaries import DEFAULT_GRID, GroupSequentialDesign, WangTsiatis, gsd_bounds
from trialtwin.design.spending import (
    DesignInputError,
    OBrienFlemingSpending,
    SpendingFunction,
    check_probability,
)


def _check_hr(hr: float) -> float:
    try:
        value = float(hr)
    except (TypeError, ValueError):
        raise DesignInputError(f"hr: must be a positive number other than 1, got {hr!r}") from None
    if not math.isfinite(value) or value <= 0.0 or value == 1.0:
        raise DesignInputError(f"hr: must be a positive number other than 1, got {hr!r}")
    return value


def _check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignInputError(f"{name}: must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        kind = ">= 0" if allow_zero else "> 0"
        raise DesignInputError(f"{name}: must be a finite number {kind}, got {value!r}")
    return v


def _z_sum(alpha: float, power: float) -> float:
    a = check_probability(alpha, "alpha")
    p = check_probability(power, "power")
    return float(special.ndtri(1.0 - a) + special.ndtri(p))


def schoenfeld_events(hr: float, *, alpha: float = 0.025, power: float = 0.9, allocation: float = 0.5) -> float:
    """Events for a one-sided log-rank test: (z_{1−α} + z_{1−β})² / (r(1 − r) ln²HR) (Schoenfeld 1981, 1983).

    Unrounded; round up for a protocol. HR 0.67, α 0.025, power 0.9, 1:1 → 262.06 events.
    """
    h = _check_hr(hr)
    r = check_probability(allocation, "allocation")
    return _z_sum(alpha, power) ** 2 / (r * (1.0 - r) * math.log(h) ** 2)


def freedman_events(hr: float, *, alpha: float = 0.025, power: float = 0.9, allocation: float = 0.5) -> float:
    """Events by Freedman (1982): (z_{1−α} + z_{1−β})² (1 + r'HR)² / (r'(1 − HR)²), r' = r / (1 − r).

    Unrounded. HR 0.5, α 0.025, power 0.8, 1:1 → 70.64 (71 events; Schoenfeld gives 65.35).
    """
    h = _check_hr(hr)
    r = check_probability(allocation, "allocation")
    ratio = r / (1.0 - r)
    return _z_sum(alpha, power) ** 2 * (1.0 + ratio * h) ** 2 / (ratio * (1.0 - h) ** 2)


def drift_for_events(hr: float, events: float, *, allocation: float = 0.5) -> float:
    """Drift θ = −ln(HR)·√(d r(1 − r)): the mean of the final log-rank Z after ``events`` (Schoenfeld 1981)."""
    h = _check_hr(hr)
    d = _check_positive(events, "events")
    r = check_probability(allocation, "allocation")
    return -math.log(h) * math.sqrt(d * r * (1.0 - r))


def events_for_drift(drift: float, hr: float, *, allocation: float = 0.5) -> float:
    """Events d at which the log-rank Z has mean ``drift``: θ² / (r(1 − r) ln²HR) (inverse of ``drift_for_events``)."""
    h = _check_hr(hr)
    theta = _check_positive(abs(float(drift)), "drift")
    r = check_probability(allocation, "allocation")
    return theta**2 / (r * (1.0 - r) * math.log(h) ** 2)


def inflation_factor(
    information_fractions: Sequence[float] | npt.ArrayLike,
    *,
    alpha: float = 0.025,
    power: float = 0.9,
    spending: SpendingFunction | WangTsiatis = OBrienFlemingSpending(),
    beta_spending: SpendingFunction | None = None,
    futility_bounds: npt.ArrayLike | None = None,
    grid_points: int = DEFAULT_GRID,
) -> float:
    """Maximum information of the group-sequential design relative to the fixed design with the same α and power.

    (θ_GSD / (z_{1−α} + z_{1−β}))², θ_GSD solved by ``gsd_bounds`` (Jennison & Turnbull 2000 §2.5 "R";
    gsDesign "inflation factor"). Multiply fixed-design events by it to get the final-analysis events.
    """
    design = gsd_bounds(
        information_fractions,
        alpha=alpha,
        power=power,
        spending=spending,
        beta_spending=beta_spending,
        futility_bounds=futility_bounds,
        grid_points=grid_points,
    )
    return (design.drift / _z_sum(alpha, power)) ** 2


def group_sequential_events(
    hr: float,
    information_fractions: Sequence[float] | npt.ArrayLike,
    *,
    alpha: float = 0.025,
    power: float = 0.9,
    spending: SpendingFunction | WangTsiatis = OBrienFlemingSpending(),
    beta_spending: SpendingFunction | None = None,
    futility_bounds: npt.ArrayLike | None = None,
    allocation: float = 0.5,
    grid_points: int = DEFAULT_GRID,
) -> GroupSequentialDesign:
    """The group-sequential design for hazard ratio ``hr``, with the final-analysis events that give ``power``.

    Events at t = 1 are θ_GSD² / (r(1 − r) ln²HR) = Schoenfeld events × inflation factor (unrounded:
    ``design.final_events``; per look ``design.events``; hazard ratios at the bounds in ``design.summary``).
    """
    h = _check_hr(hr)
    design = gsd_bounds(
        information_fractions,
        alpha=alpha,
        power=power,
        spending=spending,
        beta_spending=beta_spending,
        futility_bounds=futility_bounds,
        allocation=allocation,
        grid_points=grid_points,
    )
    if (design.drift > 0.0) != (h < 1.0):
        raise DesignInputError(f"hr: the design expects a benefit (hr < 1) for an upper efficacy bound, got {hr!r}")
    final_events = events_for_drift(design.drift, h, allocation=design.allocation)
    return dataclasses.replace(design, final_events=final_events)


def event_probability(hazard: float, *, accrual: float, follow_up: float, dropout_hazard: float = 0.0) -> float:
    """P(event observed by the analysis) with uniform accrual over ``accrual`` and ``follow_up`` after it closes.

    λ/(λ + η)·(1 − (e^{−(λ+η)F} − e^{−(λ+η)(A+F)}) / ((λ + η)A)) (Lachin & Foulkes 1986); ``accrual`` = 0: all
    subjects followed for F. Times in any one unit (hazards per that unit).
    """
    lam = _check_positive(hazard, "hazard")
    eta = _check_positive(dropout_hazard, "dropout_hazard", allow_zero=True)
    a = _check_positive(accrual, "accrual", allow_zero=True)
    f = _check_positive(follow_up, "follow_up", allow_zero=True)
    if a == 0.0 and f == 0.0:
        raise DesignInputError("accrual, follow_up: at least one must be > 0")
    total = lam + eta
    if a == 0.0:
        observed = -math.expm1(-total * f)
    else:
        # (e^{−cF} − e^{−c(A+F)}) / (cA) = e^{−cF}(1 − e^{−cA}) / (cA)
        observed = 1.0 - math.exp(-total * f) * (-math.expm1(-total * a)) / (total * a)
    return lam / total * observed


def subjects_for_events(
    events: float,
    *,
    control_median: float,
    hr: float,
    accrual: float,
    follow_up: float,
    allocation: float = 0.5,
    dropout_hazard: float = 0.0,
) -> float:
    """Subjects to randomize so that ``events`` are expected by the analysis: d / (r P_E + (1 − r) P_C).

    Exponential event times (λ_C = ln 2 / ``control_median``, λ_E = HR·λ_C), uniform accrual over ``accrual``,
    analysis ``follow_up`` after accrual closes, drop-out hazard ``dropout_hazard`` in both arms (Lachin &
    Foulkes 1986). Unrounded; times in one unit (months, say).
    """
    d = _check_positive(events, "events")
    h = _check_hr(hr)
    median = _check_positive(control_median, "control_median")
    r = check_probability(allocation, "allocation")
    lam_c = math.log(2.0) / median
    p_c = event_probability(lam_c, accrual=accrual, follow_up=follow_up, dropout_hazard=dropout_hazard)
    p_e = event_probability(h * lam_c, accrual=accrual, follow_up=follow_up, dropout_hazard=dropout_hazard)
    return d / (r * p_e + (1.0 - r) * p_c)
