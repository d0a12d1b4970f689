"""Group-sequential boundaries by numerical integration of the canonical joint distribution.

Canonical joint distribution (Jennison & Turnbull 2000, *Group Sequential Methods with Applications to Clinical
Trials*, §3.1): at information fractions 0 < t₁ < … < t_K ≤ 1 the standardized statistics Z₁, …, Z_K are jointly
normal with E[Z_k] = θ√t_k and Cov(Z_j, Z_k) = √(t_j / t_k) for j ≤ k; equivalently the score S_k = Z_k√t_k has
independent increments S_k − S_{k−1} ~ N(θ(t_k − t_{k−1}), t_k − t_{k−1}). θ is the *drift*: the mean of the
final Z at t = 1. For a log-rank test with d events at t = 1, allocation fraction r and hazard ratio HR,
θ = −ln(HR)·√(d r(1 − r)) (Schoenfeld 1981); Z is oriented so that large Z favours the experimental arm (Z = −Z of
``trialtwin.analysis.logrank_test`` when the experimental arm is the second group level).

Crossing probabilities: the recursive integration of Armitage, McPherson & Rowe (1969, JRSS A 132:235–244) as
laid out in Jennison & Turnbull (2000) ch. 19: the sub-density of Z_k on the continuation region is carried
from look to look on a grid of at most 12r − 3 points (6r − 1 points placed around the mean, truncated to the
continuation region, plus the region's ends and the midpoints between, weighted by Simpson's rule); gsDesign
(Anderson) uses the same grid with r = 18. Error with r = 18 is about 1e-9 in crossing probabilities.

Boundaries:

- alpha spending (Lan & DeMets 1983): the efficacy bound b_k solves P₀(Z_j < b_j for j < k, Z_k ≥ b_k) =
  f(t_k; α) − f(t_{k−1}; α) under θ = 0, ignoring futility bounds (non-binding futility: type I error is α even
  if a futility bound is overruled);
- beta spending (non-binding futility, as gsDesign ``test.type = 4``): the futility bound a_k solves
  P_θ(a_j < Z_j < b_j for j < k, Z_k ≤ a_k) = g(t_k; β) − g(t_{k−1}; β) under the design drift θ; a_k is capped
  at b_k, and a_K = b_K at the final look (the trial ends with a decision);
- Wang–Tsiatis (1987, Biometrics 43:193–199) constant-shape bounds b_k = C·t_k^{Δ−1/2}: Δ = 0 is O'Brien &
  Fleming (1979, Biometrics 35:549–556), Δ = 0.5 is Pocock (1977, Biometrika 64:191–199); C solves the level
  equation (one-sided, or two-sided symmetric as in Jennison & Turnbull Table 2.1/2.3).

Design drift: left out, it is solved so that the power P_θ(reject H₀) equals the target power (with beta spending
that is exactly the θ for which the final futility bound meets the final efficacy bound, as in gsDesign).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

from trialtwin.design.spending import (
    DesignInputError,
    FloatArray,
    OBrienFlemingSpending,
    SpendingFunction,
    check_probability,
)

DEFAULT_GRID = 18
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_XTOL = 1e-11


# ----------------------------------------------------------------------------------------------------- inputs


def equally_spaced(looks: int) -> FloatArray:
    """Information fractions k/K of ``looks`` equally spaced analyses (the last one final)."""
    if isinstance(looks, bool) or not isinstance(looks, int | np.integer) or looks < 1:
        raise DesignInputError(f"looks: must be a whole number >= 1, got {looks!r}")
    return np.arange(1, int(looks) + 1, dtype=np.float64) / float(looks)


def information_fractions_from_events(events: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Information fractions t_k = d_k / d_K from the events at each analysis (log-rank information ∝ events)."""
    arr = np.asarray(events, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise DesignInputError(f"events: must be a non-empty list of positive numbers, got {events!r}")
    if np.any(np.diff(arr) <= 0):
        raise DesignInputError(f"events: must increase strictly from analysis to analysis, got {events!r}")
    return np.asarray(arr / arr[-1], dtype=np.float64)


def check_information_fractions(information_fractions: npt.ArrayLike) -> FloatArray:
    """0 < t₁ < … < t_K ≤ 1 as a float array (a last fraction below 1 describes the looks so far only)."""
    try:
        t = np.atleast_1d(np.asarray(information_fractions, dtype=np.float64))
    except (TypeError, ValueError):
        raise DesignInputError(f"information_fractions: must be numbers, got {information_fractions!r}") from None
    if t.ndim != 1 or t.size == 0:
        raise DesignInputError(f"information_fractions: must be a non-empty list, got {information_fractions!r}")
    if not np.all(np.isfinite(t)) or t[0] <= 0.0 or t[-1] > 1.0 + 1e-12:
        raise DesignInputError(
            f"information_fractions: must lie in (0, 1] (t_k = d_k / d_K), got {information_fractions!r}"
        )
    if np.any(np.diff(t) <= 0.0):
        raise DesignInputError(f"information_fractions: must increase strictly, got {information_fractions!r}")
    return np.minimum(t, 1.0)


def _check_grid(grid_points: int) -> int:
    if isinstance(grid_points, bool) or not isinstance(grid_points, int | np.integer) or not 1 <= grid_points <= 80:
        raise DesignInputError(f"grid_points: must be a whole number from 1 to 80, got {grid_points!r}")
    return int(grid_points)


def _check_bounds(values: npt.ArrayLike, k: int, name: str) -> FloatArray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise DesignInputError(f"{name}: must be numbers (z scale), got {values!r}") from None
    if arr.shape != (k,):
        raise DesignInputError(f"{name}: needs one z value per look ({k}), got {arr.size}")
    if np.any(np.isnan(arr)):
        raise DesignInputError(f"{name}: must not contain NaN (use inf or -inf for 'no bound'), got {values!r}")
    return arr


# ------------------------------------------------------------------------------------ numerical integration


@lru_cache(maxsize=16)
def _offsets(r: int) -> FloatArray:
    """Jennison & Turnbull (2000) §19.2.1 grid offsets around the mean: 6r − 1 points, dense within ±3."""
    i = np.arange(1, 6 * r, dtype=np.float64)
    out = np.empty_like(i)
    low, high = i < r, i > 5 * r
    mid = ~(low | high)
    out[low] = -3.0 - 4.0 * np.log(r / i[low])
    out[mid] = -3.0 + 3.0 * (i[mid] - r) / (2.0 * r)
    out[high] = 3.0 + 4.0 * np.log(r / (6.0 * r - i[high]))
    out.setflags(write=False)
    return out


def _grid(mean: float, lower: float, upper: float, r: int) -> tuple[FloatArray, FloatArray]:
    """Simpson nodes and weights on the continuation region (lower, upper) ∩ grid range, J&T §19.2.1."""
    x = mean + _offsets(r)
    lo, hi = max(lower, float(x[0])), min(upper, float(x[-1]))
    if not lo < hi:
        return np.empty(0), np.empty(0)
    nodes = np.concatenate(([lo], x[(x > lo) & (x < hi)], [hi]))
    width = np.diff(nodes)
    z = np.empty(2 * nodes.size - 1)
    z[0::2] = nodes
    z[1::2] = nodes[:-1] + 0.5 * width
    w = np.zeros_like(z)
    w[0:-1:2] += width / 6.0
    w[2::2] += width / 6.0
    w[1::2] = 4.0 * width / 6.0
    return z, w


@dataclass(frozen=True, slots=True, eq=False)
class _State:
    """Sub-density of Z at the previous look times Simpson weights, on its grid; start: a point mass at t = 0."""

    z: FloatArray
    wh: FloatArray
    t: float


_START = _State(np.zeros(1), np.ones(1), 0.0)


def _standardized(state: _State, t: float, drift: float, bound: float) -> FloatArray:
    dt = t - state.t
    return np.asarray((bound * math.sqrt(t) - state.z * math.sqrt(state.t) - drift * dt) / math.sqrt(dt))


def _upper(state: _State, t: float, drift: float, bound: float) -> float:
    """P(continue so far, Z_k ≥ bound)."""
    if bound == math.inf or state.z.size == 0:
        return 0.0
    return float(state.wh @ special.ndtr(-_standardized(state, t, drift, bound)))


def _lower(state: _State, t: float, drift: float, bound: float) -> float:
    """P(continue so far, Z_k < bound)."""
    if bound == -math.inf or state.z.size == 0:
        return 0.0
    return float(state.wh @ special.ndtr(_standardized(state, t, drift, bound)))


def _advance(state: _State, t: float, drift: float, lower: float, upper: float, r: int) -> _State:
    """Sub-density of Z_k on (lower, upper), J&T (19.4): h_k(z) = ∫ h_{k−1}(u) f_k(u, z) du."""
    z, w = _grid(drift * math.sqrt(t), lower, upper, r)
    if z.size == 0 or state.z.size == 0:
        return _State(np.empty(0), np.empty(0), t)
    dt = t - state.t
    arg = (z[:, None] * math.sqrt(t) - state.z[None, :] * math.sqrt(state.t) - drift * dt) / math.sqrt(dt)
    density = (np.exp(-0.5 * arg * arg) @ state.wh) * (math.sqrt(t / dt) / _SQRT_2PI)
    return _State(z, w * density, t)


def _crossing(
    t: FloatArray, upper: FloatArray, lower: FloatArray, drift: float, r: int
) -> tuple[FloatArray, FloatArray]:
    up, lo = np.zeros(t.size), np.zeros(t.size)
    state = _START
    for k in range(t.size):
        tk = float(t[k])
        up[k] = _upper(state, tk, drift, float(upper[k]))
        lo[k] = _lower(state, tk, drift, float(lower[k]))
        if k + 1 < t.size:
            state = _advance(state, tk, drift, float(lower[k]), float(upper[k]), r)
    return up, lo


def _solve_upper(state: _State, t: float, target: float) -> float:
    """Efficacy bound b with P₀(continue so far, Z ≥ b) = target (θ = 0)."""
    if target <= 0.0:
        return math.inf

    def excess(b: float) -> float:
        return _upper(state, t, 0.0, b) - target

    lo, hi = -10.0, 10.0
    if excess(lo) < 0.0:
        raise DesignInputError(
            f"alpha spending: the increment {target:.3g} at t = {t:.4g} exceeds the probability left to spend"
        )
    while excess(hi) > 0.0:
        hi *= 2.0
        if hi > 1e4:
            return math.inf
    return float(optimize.brentq(excess, lo, hi, xtol=_XTOL))


def _solve_lower(state: _State, t: float, drift: float, target: float, ceiling: float) -> float:
    """Futility bound a ≤ ceiling with P_θ(continue so far, Z < a) = target; capped at the efficacy bound."""
    if target <= 0.0:
        return -math.inf

    def excess(a: float) -> float:
        return _lower(state, t, drift, a) - target

    top = ceiling if math.isfinite(ceiling) else drift * math.sqrt(t) + 40.0
    if excess(top) <= 0.0:
        return ceiling
    lo, step = top - 1.0, 1.0
    while excess(lo) > 0.0:
        step *= 2.0
        lo = top - step
        if step > 1e4:
            return -math.inf
    return float(optimize.brentq(excess, lo, top, xtol=_XTOL))


# ------------------------------------------------------------------------------------------- public results


@dataclass(frozen=True, slots=True, eq=False)
class CrossingProbabilities:
    """Per-look probabilities of stopping at the upper (efficacy) and lower (futility) bound under ``drift``.

    ``upper[k]`` = P(no stop before look k, Z_k ≥ b_k); ``lower[k]`` = P(no stop before look k, Z_k < a_k).
    """

    information_fractions: FloatArray
    drift: float
    upper: FloatArray
    lower: FloatArray

    @property
    def total_upper(self) -> float:
        """Probability of ever crossing the efficacy bound: type I error under θ = 0, power under θ > 0."""
        return float(self.upper.sum())

    @property
    def total_lower(self) -> float:
        return float(self.lower.sum())

    @property
    def stop(self) -> FloatArray:
        """Probability of stopping at each look; the final look takes whatever is left."""
        out = self.upper + self.lower
        out[-1] = 1.0 - float(out[:-1].sum())
        return out

    @property
    def expected_information(self) -> float:
        """E[t at stop] (expected events / d_K): the average sample number relative to the maximum."""
        return float(self.stop @ self.information_fractions)


@dataclass(frozen=True, slots=True)
class WangTsiatis:
    """Constant-shape bounds b_k = C·t_k^{Δ−1/2} (Wang & Tsiatis 1987): Δ = 0 O'Brien–Fleming, Δ = 0.5 Pocock."""

    delta: float

    def __post_init__(self) -> None:
        d = float(self.delta)
        if not math.isfinite(d) or not -0.5 <= d <= 1.0:
            raise DesignInputError(f"delta: Wang–Tsiatis Δ must lie in [-0.5, 1], got {self.delta!r}")
        object.__setattr__(self, "delta", d)

    @property
    def label(self) -> str:
        name = {0.0: " (O'Brien–Fleming)", 0.5: " (Pocock)"}.get(self.delta, "")
        return f"Wang–Tsiatis Δ = {self.delta:g}{name}"

    def shape(self, information_fractions: FloatArray) -> FloatArray:
        return np.asarray(information_fractions ** (self.delta - 0.5), dtype=np.float64)


#: Classical constant-shape boundaries.
OBRIEN_FLEMING = WangTsiatis(0.0)
POCOCK = WangTsiatis(0.5)


@dataclass(frozen=True, slots=True, eq=False)
class GroupSequentialDesign:
    """A one-sided group-sequential design: bounds on the Z scale and their operating characteristics.

    ``efficacy``: reject H₀ at look k if Z_k ≥ efficacy[k]. ``futility``: stop for futility if Z_k < futility[k]
    (non-binding; −inf where there is no futility bound; the last equals the last efficacy bound when there is
    any futility bound). ``alpha_spent``: cumulative P₀(efficacy crossing) ignoring futility — the type I error
    actually controlled. ``h0`` / ``h1``: crossing probabilities under θ = 0 and θ = ``drift`` with both bounds
    obeyed. ``final_events`` (optional) gives events per look and the hazard ratios at the bounds.
    """

    information_fractions: FloatArray
    efficacy: FloatArray
    futility: FloatArray
    alpha: float
    target_power: float
    drift: float
    alpha_spent: FloatArray
    h0: CrossingProbabilities
    h1: CrossingProbabilities
    efficacy_rule: str
    futility_rule: str
    final_events: float | None = None
    allocation: float = 0.5
    grid_points: int = DEFAULT_GRID
    constant: float | None = None

    @property
    def looks(self) -> int:
        return int(self.information_fractions.size)

    @property
    def has_futility(self) -> bool:
        return bool(np.isfinite(self.futility).any())

    @property
    def power(self) -> float:
        """P_θ(reject H₀) at the design drift, futility bounds obeyed."""
        return self.h1.total_upper

    @property
    def type_one_error(self) -> float:
        """P₀(reject H₀) ignoring futility bounds (non-binding): the α this design controls."""
        return float(self.alpha_spent[-1])

    @property
    def events(self) -> FloatArray | None:
        """Events at each look, t_k · final_events (unrounded), if ``final_events`` was given."""
        return None if self.final_events is None else self.information_fractions * self.final_events

    @property
    def nominal_p(self) -> FloatArray:
        """One-sided nominal p-value at each efficacy bound, 1 − Φ(b_k)."""
        return np.asarray(special.ndtr(-self.efficacy), dtype=np.float64)

    def _hr(self, z: FloatArray) -> FloatArray | None:
        events = self.events
        if events is None:
            return None
        r = self.allocation
        with np.errstate(over="ignore", invalid="ignore"):
            hr = np.exp(-z / np.sqrt(events * r * (1.0 - r)))
        return np.where(np.isfinite(z), hr, np.nan)

    @property
    def efficacy_hr(self) -> FloatArray | None:
        """Approximate hazard ratio at each efficacy bound, exp(−b_k / √(d_k r(1 − r))) (Schoenfeld 1981)."""
        return self._hr(self.efficacy)

    @property
    def futility_hr(self) -> FloatArray | None:
        """Approximate hazard ratio at each futility bound (NaN where there is none)."""
        return self._hr(self.futility)

    def crossing(self, drift: float) -> CrossingProbabilities:
        """Crossing probabilities of these bounds (futility obeyed) under another drift θ."""
        return boundary_crossing_probabilities(
            self.efficacy, self.information_fractions, drift, futility=self.futility, grid_points=self.grid_points
        )

    @property
    def footnote(self) -> str:
        fut = f"; futility: {self.futility_rule} (non-binding)" if self.has_futility else "; no futility bound"
        events = f", {self.final_events:.1f} events at t = 1" if self.final_events is not None else ""
        return (
            f"One-sided group-sequential design, alpha = {self.alpha:g}; efficacy: {self.efficacy_rule}{fut}. "
            f"Drift theta = {self.drift:.4f}{events}; power {self.power:.4f}. Crossing probabilities by recursive "
            f"numerical integration (Jennison & Turnbull 2000 ch. 19, r = {self.grid_points}); Z > 0 favours the "
            "experimental arm; HR at bound exp(-z / sqrt(d r (1 - r)))."
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One row per look: fraction, events, bounds (z, nominal p, HR), α spent, crossing probabilities.

        ``efficacy_h0`` is per-look α (futility ignored, non-binding), ``efficacy_h1`` per-look power,
        ``futility_h0`` / ``futility_h1`` per-look futility stopping with both bounds obeyed.
        """
        cols: dict[str, FloatArray] = {"information_fraction": self.information_fractions}
        events = self.events
        if events is not None:
            cols["events"] = events
        cols["efficacy_z"] = self.efficacy
        cols["efficacy_p"] = self.nominal_p
        eff_hr = self.efficacy_hr
        if eff_hr is not None:
            cols["efficacy_hr"] = eff_hr
        cols["efficacy_h0"] = np.diff(self.alpha_spent, prepend=0.0)
        cols["alpha_spent"] = self.alpha_spent
        cols["efficacy_h1"] = self.h1.upper
        cols["power_cumulative"] = np.cumsum(self.h1.upper)
        if self.has_futility:
            fut = np.where(np.isfinite(self.futility), self.futility, np.nan)
            cols["futility_z"] = fut
            cols["futility_p"] = np.asarray(special.ndtr(-fut), dtype=np.float64)
            fut_hr = self.futility_hr
            if fut_hr is not None:
                cols["futility_hr"] = fut_hr
            cols["futility_h0"] = self.h0.lower
            cols["futility_h1"] = self.h1.lower
        frame = pd.DataFrame(cols, index=pd.Index(np.arange(1, self.looks + 1), name="look"))
        frame.attrs["footnote"] = self.footnote
        return frame


# ------------------------------------------------------------------------------------------------ functions


def boundary_crossing_probabilities(
    bounds: npt.ArrayLike,
    information_fractions: npt.ArrayLike,
    drift: float = 0.0,
    *,
    futility: npt.ArrayLike | None = None,
    grid_points: int = DEFAULT_GRID,
) -> CrossingProbabilities:
    """Per-look probabilities of crossing efficacy ``bounds`` (and ``futility`` bounds, if given) under ``drift``.

    ``bounds``: efficacy z bounds b_k (inf: no efficacy stop at that look); ``futility``: z bounds a_k ≤ b_k
    (−inf: none). θ = 0 gives type I error (``total_upper``), θ = the design drift its power.
    """
    t = check_information_fractions(information_fractions)
    upper = _check_bounds(bounds, t.size, "bounds")
    lower = np.full(t.size, -math.inf) if futility is None else _check_bounds(futility, t.size, "futility")
    if np.any(lower > upper):
        raise DesignInputError("futility: each futility bound must be at or below the efficacy bound of its look")
    theta = float(drift)
    if not math.isfinite(theta):
        raise DesignInputError(f"drift: must be a finite number, got {drift!r}")
    up, lo = _crossing(t, upper, lower, theta, _check_grid(grid_points))
    return CrossingProbabilities(t, theta, up, lo)


def _spending_bounds(t: FloatArray, alpha: float, spending: SpendingFunction, r: int) -> FloatArray:
    cumulative = spending.spend(t, alpha)
    increments = np.diff(cumulative, prepend=0.0)
    bounds = np.empty(t.size)
    state = _START
    for k in range(t.size):
        tk = float(t[k])
        bounds[k] = _solve_upper(state, tk, float(increments[k]))
        if k + 1 < t.size:
            state = _advance(state, tk, 0.0, -math.inf, float(bounds[k]), r)
    return bounds


def _level(t: FloatArray, shape: FloatArray, constant: float, sides: int, r: int) -> float:
    upper = constant * shape
    lower = -upper if sides == 2 else np.full(t.size, -math.inf)
    up, lo = _crossing(t, upper, lower, 0.0, r)
    return float(up.sum() + lo.sum())


def wang_tsiatis_constant(
    information_fractions: npt.ArrayLike,
    delta: float,
    *,
    alpha: float = 0.025,
    sides: int = 1,
    grid_points: int = DEFAULT_GRID,
) -> float:
    """The constant C of Wang–Tsiatis bounds C·t_k^{Δ−1/2} at level ``alpha``.

    ``sides=1``: P₀(Z_k ≥ b_k for some k) = α. ``sides=2``: the symmetric two-sided test,
    P₀(|Z_k| ≥ b_k for some k) = α — Jennison & Turnbull (2000) Tables 2.1 (Pocock, Δ = 0.5: C_P) and 2.3
    (O'Brien–Fleming, Δ = 0: C_B, the final-look bound) at α = 0.05.
    """
    t = check_information_fractions(information_fractions)
    a = check_probability(alpha, "alpha")
    if sides not in (1, 2):
        raise DesignInputError(f"sides: must be 1 or 2, got {sides!r}")
    r = _check_grid(grid_points)
    shape = WangTsiatis(delta).shape(t)
    z_fixed = float(special.ndtri(1.0 - a / sides))
    lo, hi = z_fixed / float(shape.max()) - 0.5, z_fixed * 3.0 + 5.0
    return float(optimize.brentq(lambda c: _level(t, shape, c, sides, r) - a, lo, hi, xtol=_XTOL))


def _futility_bounds(
    t: FloatArray, efficacy: FloatArray, drift: float, beta: float, beta_spending: SpendingFunction, r: int
) -> FloatArray:
    increments = np.diff(beta_spending.spend(t, beta), prepend=0.0)
    futility = np.empty(t.size)
    state = _START
    for k in range(t.size):
        tk = float(t[k])
        if k + 1 == t.size:
            futility[k] = efficacy[k]
            break
        futility[k] = _solve_lower(state, tk, drift, float(increments[k]), float(efficacy[k]))
        state = _advance(state, tk, drift, float(futility[k]), float(efficacy[k]), r)
    return futility


def _fixed_futility(futility_bounds: npt.ArrayLike, t: FloatArray, efficacy: FloatArray) -> FloatArray:
    given = np.atleast_1d(np.asarray(futility_bounds, dtype=np.float64))
    k = t.size
    if given.shape == (k - 1,):
        given = np.append(given, efficacy[-1])
    out = _check_bounds(given, k, "futility_bounds")
    if np.any(out > efficacy):
        raise DesignInputError("futility_bounds: each futility bound must be at or below the efficacy bound")
    out[-1] = efficacy[-1]
    return out


def _power_at(
    drift: float,
    t: FloatArray,
    efficacy: FloatArray,
    beta: float,
    beta_spending: SpendingFunction | None,
    fixed_futility: FloatArray | None,
    r: int,
) -> tuple[float, FloatArray]:
    if beta_spending is not None:
        futility = _futility_bounds(t, efficacy, drift, beta, beta_spending, r)
    elif fixed_futility is not None:
        futility = fixed_futility
    else:
        futility = np.full(t.size, -math.inf)
    up, _ = _crossing(t, efficacy, futility, drift, r)
    return float(up.sum()), futility


def _solve_drift(
    t: FloatArray,
    efficacy: FloatArray,
    power: float,
    beta_spending: SpendingFunction | None,
    fixed_futility: FloatArray | None,
    r: int,
) -> float:
    beta = 1.0 - power

    def shortfall(theta: float) -> float:
        return _power_at(theta, t, efficacy, beta, beta_spending, fixed_futility, r)[0] - power

    if shortfall(0.0) >= 0.0:
        raise DesignInputError(f"power: {power:g} is not above the type I error of the bounds; choose a higher power")
    hi = float(special.ndtri(power) + np.max(np.where(np.isfinite(efficacy), efficacy, 0.0))) + 1.0
    while shortfall(hi) < 0.0:
        hi *= 1.5
        if hi > 1e3:
            raise DesignInputError(f"power: no drift reaches power {power:g} with these bounds")
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=_XTOL))


def gsd_bounds(
    information_fractions: npt.ArrayLike,
    *,
    alpha: float = 0.025,
    power: float = 0.9,
    spending: SpendingFunction | WangTsiatis = OBrienFlemingSpending(),
    beta_spending: SpendingFunction | None = None,
    futility_bounds: npt.ArrayLike | None = None,
    drift: float | None = None,
    final_events: float | None = None,
    allocation: float = 0.5,
    grid_points: int = DEFAULT_GRID,
) -> GroupSequentialDesign:
    """Efficacy (and non-binding futility) bounds of a one-sided group-sequential design.

    ``information_fractions``: t_k = d_k / d_K, strictly increasing, last 1 for a complete design (see
    ``information_fractions_from_events``). ``spending``: an alpha-spending function (default Lan–DeMets
    O'Brien–Fleming type) or ``WangTsiatis(Δ)`` (``OBRIEN_FLEMING``, ``POCOCK``) for classical bounds.
    Futility: either ``beta_spending`` (bounds from spending β = 1 − ``power`` under the drift) or
    ``futility_bounds`` (fixed z bounds for the interim looks, e.g. ``[0.0, -inf]``), never both.
    ``drift``: θ under H₁ (``trialtwin.design.drift_for_events``); left out, it is solved for ``power``.
    ``final_events`` (events at t = 1) and ``allocation`` (fraction randomized to the experimental arm) add
    events and hazard ratios at the bounds to the summary.
    """
    t = check_information_fractions(information_fractions)
    a = check_probability(alpha, "alpha")
    target_power = check_probability(power, "power")
    r = _check_grid(grid_points)
    alloc = check_probability(allocation, "allocation")
    if beta_spending is not None and futility_bounds is not None:
        raise DesignInputError("futility: give beta_spending or futility_bounds, not both")
    if beta_spending is not None and not isinstance(beta_spending, SpendingFunction):
        raise DesignInputError(f"beta_spending: expected a spending function, got {beta_spending!r}")
    if final_events is not None and not (math.isfinite(float(final_events)) and float(final_events) > 0):
        raise DesignInputError(f"final_events: must be a positive number, got {final_events!r}")

    constant: float | None = None
    if isinstance(spending, WangTsiatis):
        constant = wang_tsiatis_constant(t, spending.delta, alpha=a, sides=1, grid_points=r)
        efficacy = constant * spending.shape(t)
    elif isinstance(spending, SpendingFunction):
        efficacy = _spending_bounds(t, a, spending, r)
    else:
        raise DesignInputError(f"spending: expected a spending function or WangTsiatis, got {spending!r}")
    alpha_spent = np.cumsum(_crossing(t, efficacy, np.full(t.size, -math.inf), 0.0, r)[0])

    fixed = None if futility_bounds is None else _fixed_futility(futility_bounds, t, efficacy)
    if drift is None:
        theta = _solve_drift(t, efficacy, target_power, beta_spending, fixed, r)
    else:
        theta = float(drift)
        if not math.isfinite(theta):
            raise DesignInputError(f"drift: must be a finite number, got {drift!r}")
    _, futility = _power_at(theta, t, efficacy, 1.0 - target_power, beta_spending, fixed, r)

    h0 = CrossingProbabilities(t, 0.0, *_crossing(t, efficacy, futility, 0.0, r))
    h1 = CrossingProbabilities(t, theta, *_crossing(t, efficacy, futility, theta, r))
    if beta_spending is not None:
        futility_rule = f"{beta_spending.label} beta spending, beta = {1.0 - target_power:g}"
    elif fixed is not None:
        futility_rule = "fixed z bounds"
    else:
        futility_rule = "none"
    efficacy_rule = spending.label if isinstance(spending, WangTsiatis) else f"{spending.label} alpha spending"
    return GroupSequentialDesign(
        information_fractions=t,
        efficacy=efficacy,
        futility=futility,
        alpha=a,
        target_power=target_power,
        drift=theta,
        alpha_spent=alpha_spent,
        h0=h0,
        h1=h1,
        efficacy_rule=efficacy_rule,
        futility_rule=futility_rule,
        final_events=None if final_events is None else float(final_events),
        allocation=alloc,
        grid_points=r,
        constant=constant,
    )
