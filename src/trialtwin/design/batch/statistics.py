"""Survival statistics of many replicate trials at once: stratified log-rank Z, stratified Cox HR, KM medians.

The fast path beside ``trialtwin.analysis`` (``logrank_test``, ``cox_ph``, ``kaplan_meier``), which stays the
reference: tests/validation/test_batch_parity.py checks that both give the same Z and log HR (to 1e-10) on the
same data. Definitions are the analysis package's (docs/analysis/statistics.md):

- Log-rank (Mantel 1966; R ``survdiff``): at each distinct event time j of a stratum, with nⱼ at risk, n₁ⱼ of them
  in arm 1, dⱼ events (d₁ⱼ in arm 1): O − E = Σ (d₁ⱼ − dⱼ n₁ⱼ/nⱼ), hypergeometric V = Σ dⱼ(nⱼ − dⱼ)/(nⱼ − 1) ·
  n₁ⱼ n₀ⱼ / nⱼ², summed over strata; Z = (O − E)/√V of arm 1 (negative: fewer arm-1 events than expected).
- Cox (Cox 1972; ties Efron 1977 or Breslow 1974; Therneau & Grambsch 2000 §3.2), one covariate x = 1 for arm 1,
  a baseline hazard per stratum. With θ = e^β the l-th of the dⱼ tied deaths (l = 0 … dⱼ − 1, aₗ = l/dⱼ for
  Efron, 0 for Breslow) contributes ρ = n₁'θ / (n₀' + n₁'θ), n₁' = n₁ⱼ − aₗd₁ⱼ, n₀' = n₀ⱼ − aₗd₀ⱼ, to
  U(β) = O₁ − Σ ρ and I(β) = Σ ρ(1 − ρ) (x is binary, so S2 = S1). Newton–Raphson from the log-rank (Peto)
  estimate β₀ = (O − E)/V, vectorized over replicates (the first step in float32, the rest in float64), stops
  when Newton's error bound |dI/dβ|·step²/(2I) is ≤ 10⁻¹² (1 + |β|): β then agrees with ``cox_ph`` (which
  stops on |step| ≤ 10⁻⁹(1 + |β|)) to ~10⁻¹², usually after two steps.
- Kaplan–Meier per arm (strata pooled), median as R ``quantile.survfit``: the first event time where Ŝ ≤ 0.5;
  the midpoint of a flat lying exactly at 0.5 (within √ε); NaN when never reached.

How it is fast: each replicate's subjects are encoded as one unsigned integer key — stratum, follow-up time in
integer ticks, event bit, arm bit — so a single ``np.sort`` per row orders them by (stratum, time), with no
``argsort`` and no gathers. At-risk counts are then differences of positions (nⱼ = end of stratum − position)
and of one cumulative count of arm-1 subjects; everything else is a few passes over (replicates × subjects)
arrays. Rows with tied times involving an event (rare for continuous times) take an exact tie-aware path. A
second key (arm, time, event) sorted the same way gives the Kaplan–Meier curves; log Ŝ is summed in 2⁻⁴⁰
fixed point (exact integer cumulative sums, ~10⁻¹⁰ from the float product, far inside R's √ε tolerance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from trialtwin.analysis import Ties
from trialtwin.analysis.km import QUANTILE_TOLERANCE
from trialtwin.protocol.errors import TrialtwinError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: Sort keys: uint32 or uint64 arrays.
KeyArray = npt.NDArray[Any]
KeyType = type[np.uint32] | type[np.uint64]

#: Fixed-point scale of log Ŝ in the Kaplan–Meier sums.
_LOG_SCALE = float(2**40)
#: log(1 − 1/1) = −∞ (the last subject at risk has the event) is stored as this finite value, so that sums stay
#: exact integers; Ŝ = e^{−1000} is 0 for every comparison made here.
_LOG_ZERO = -1000.0


class BatchInputError(TrialtwinError, ValueError):
    """Bad input to the batched design engine: the message names the argument and the value at fault."""


@dataclass(frozen=True, slots=True, eq=False)
class BatchStatistics:
    """Per-replicate statistics of one analysis (arrays of length R, one entry per replicate trial).

    Arm 0 is the control arm, arm 1 the experimental arm. ``z`` is the stratified log-rank Z of arm 1 (negative
    favours arm 1), ``log_hr`` the stratified Cox log hazard ratio arm 1 vs arm 0 with its Wald ``se_log_hr``
    (NaN where the estimate does not exist: no events, or all events in one arm — ``converged`` is False there),
    ``median`` the Kaplan–Meier median per arm in ticks (column 0 control, 1 experimental; NaN if not reached).
    ``tied`` marks rows that needed the tie-aware path.
    """

    events: IntArray
    events_by_arm: IntArray
    z: FloatArray
    log_hr: FloatArray
    se_log_hr: FloatArray
    converged: BoolArray
    iterations: IntArray
    median: FloatArray
    tied: BoolArray


def key_layout(n_strata: int, max_tick: int) -> tuple[KeyType, int]:
    """Key dtype and time bits for ``n_strata`` strata and ticks up to ``max_tick``: 32-bit keys when
    stratum bits + time bits + 2 flag bits fit, else 64-bit (slower sort)."""
    time_bits = max(int(max_tick).bit_length(), 1)
    strata_bits = max(int(n_strata) - 1, 0).bit_length()
    total = strata_bits + time_bits + 2
    if total <= 32:
        return np.uint32, time_bits
    if total <= 64:
        return np.uint64, time_bits
    raise BatchInputError(f"time: {max_tick} ticks with {n_strata} strata do not fit a 64-bit sort key")


@lru_cache(maxsize=8)
def _log_table(n: int) -> IntArray:
    """Fixed-point Kaplan–Meier factors by 2m + c: log(1 − 1/m) for an event (c = 0) with m at risk, 0 for a
    censoring (c = 1); m = 1 (Ŝ drops to 0) is the finite ``_LOG_ZERO``."""
    m = np.maximum(np.arange(n + 1, dtype=np.float64), 2.0)
    values = np.log1p(-1.0 / m)
    values[:2] = _LOG_ZERO
    table = np.zeros(2 * (n + 1), dtype=np.int64)
    table[0::2] = np.rint(values * _LOG_SCALE).astype(np.int64)
    return table


def statistics_from_ticks(
    ticks: npt.NDArray[np.uint32],
    event: BoolArray,
    arm: npt.NDArray[np.uint8],
    stratum: npt.NDArray[np.uint8],
    n_strata: int,
    *,
    ties: Ties = Ties.EFRON,
    max_iter: int = 30,
    tol: float = 1e-12,
    strata_counts: IntArray | None = None,
    cell: npt.NDArray[np.intp] | None = None,
) -> BatchStatistics:
    """Statistics of R replicate trials from (R, n) arrays: follow-up in integer ticks, event flags, arm codes
    (0 control, 1 experimental) and stratum codes (0 … ``n_strata`` − 1).

    A subject with 0 ticks and no event is in no risk set at any event time (all event ticks are ≥ 1 in the
    simulator): that is how not-yet-enrolled subjects are left out without changing array shapes.
    ``strata_counts`` (R, n_strata) and ``cell`` (r·n_strata + stratum): pass them when every row is already
    ordered by stratum (the simulator's layout) to skip recounting. No input checks (the simulator's own
    arrays); ``batch_statistics`` is the checked entry point.
    """
    n_rows = ticks.shape[0]
    max_tick = int(ticks.max()) if ticks.size else 0
    kdt, time_bits = key_layout(n_strata, max_tick)
    key = stratified_key(ticks, event, arm, stratum, kdt, time_bits)
    key.sort(axis=1)
    lr = _logrank_and_risk(key, stratum, n_strata, time_bits + 2, strata_counts, cell)
    r_eff, expected, variance = lr.r_eff, lr.expected, lr.variance

    # rows where an event shares its (stratum, time) with another subject: exact tie-aware path. Events sort
    # after censorings at a tie, so a tie with an event always shows as a pair ending in an event.
    tie_pair = (key[:, 1:] ^ key[:, :-1]) < 4
    tie_pair &= lr.event[:, 1:]
    tied_rows = np.flatnonzero(tie_pair.any(axis=1))
    del tie_pair
    tied = np.zeros(n_rows, dtype=np.bool_)
    if tied_rows.size:
        tied[tied_rows] = True
        t_r, t_e, t_v = _tied_rows(
            key[tied_rows], lr.event[tied_rows], lr.at_risk[tied_rows], lr.at_risk_1[tied_rows], ties
        )
        r_eff[tied_rows] = t_r
        expected[tied_rows] = t_e
        variance[tied_rows] = t_v
    events = np.count_nonzero(lr.event, axis=1).astype(np.int64)
    arm1_total = lr.arm1_total
    del lr  # free the (R, n) work arrays before the Cox iterations
    observed_1 = _count_arm1_events(key)
    del key
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (observed_1 - expected) / np.sqrt(variance)
    z[variance <= 0] = np.nan

    log_hr, se, converged, iterations = _cox_newton(r_eff, observed_1, events, expected, variance, max_iter, tol)
    del r_eff
    median = _km_medians(ticks, event, arm, time_bits, arm1_total)
    by_arm = np.stack([events - observed_1, observed_1], axis=1)
    return BatchStatistics(
        events=events,
        events_by_arm=by_arm,
        z=z,
        log_hr=log_hr,
        se_log_hr=se,
        converged=converged,
        iterations=iterations,
        median=median,
        tied=tied,
    )


def stratified_key(
    ticks: npt.NDArray[np.uint32],
    event: BoolArray,
    arm: npt.NDArray[np.uint8],
    stratum: npt.NDArray[np.uint8],
    kdt: KeyType,
    time_bits: int,
) -> KeyArray:
    """(stratum, ticks, event, arm) packed into one unsigned integer per subject; sorting orders by
    (stratum, time), censored before events at a tied time."""
    key: npt.NDArray[np.unsignedinteger[Any]] = stratum.astype(kdt)
    key <<= kdt(time_bits)
    key |= ticks
    key <<= kdt(1)
    key |= event
    key <<= kdt(1)
    key |= arm
    return key


def _count_arm1_events(key: KeyArray) -> IntArray:
    low = key & 3
    return np.asarray(np.count_nonzero(low == 3, axis=1), dtype=np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class _RiskSets:
    event: BoolArray  # (R, n) event flag in sorted order
    at_risk: npt.NDArray[np.int32]  # (R, n) subjects of the position's stratum at or after it
    at_risk_1: npt.NDArray[np.int32]  # (R, n) arm-1 subjects among them
    r_eff: FloatArray  # (R, n) n₁/n at events, 0 elsewhere (Cox ρ at β = 0, no ties)
    expected: FloatArray  # (R,) Σ n₁/n over events
    variance: FloatArray  # (R,) Σ n₁n₀/n² over events
    arm1_total: IntArray  # (R,) subjects in arm 1


def _logrank_and_risk(
    key: KeyArray,
    stratum: npt.NDArray[np.uint8],
    n_strata: int,
    strata_shift: int,
    strata_counts: IntArray | None,
    given_cell: npt.NDArray[np.intp] | None = None,
) -> _RiskSets:
    """At-risk counts at every sorted position and the no-ties log-rank sums (ties are redone by the caller).

    nⱼ = (end of the stratum's segment) − position; n₁ⱼ = (arm-1 count up to that end) − (arm-1 count before
    the position): one cumulative count and one gather of a per-(replicate, stratum) table.
    """
    n_rows, n_cols = key.shape
    arm1 = (key & 1).view(np.int32) if key.dtype == np.uint32 else (key & 1).astype(np.int32)
    cum1 = np.cumsum(arm1, axis=1, dtype=np.int32)  # inclusive
    row_base = (np.arange(n_rows, dtype=np.intp) * n_strata)[:, None]
    if strata_counts is not None:  # rows already ordered by stratum: the sorted stratum is the given one
        cell = given_cell if given_cell is not None else np.add(stratum, row_base, dtype=np.intp)
        counts = strata_counts
    else:
        cell = (key >> strata_shift).astype(np.intp)
        cell += row_base
        counts = np.bincount(cell.ravel(), minlength=n_rows * n_strata).reshape(n_rows, n_strata)
    ends = np.cumsum(counts, axis=1, dtype=np.int32)
    last = np.maximum(ends - 1, 0) + (np.arange(n_rows, dtype=np.int32) * n_cols)[:, None]
    arm1_at_end = np.take(cum1.ravel(), last)
    # (end of stratum, arm-1 count up to it) packed in one int32 for one gather (n < 2**15)
    packed = (ends << 16) | arm1_at_end
    both = np.take(packed.ravel(), cell)
    at_risk = both >> 16
    at_risk -= np.arange(n_cols, dtype=np.int32)
    both &= 0xFFFF
    both -= cum1
    both += arm1
    at_risk_1 = both
    arm1_total = cum1[:, -1].astype(np.int64)
    del cum1, arm1
    is_event = ((key >> 1) & 1).astype(np.int32)
    r = np.multiply(at_risk_1, is_event).astype(np.float64)
    r /= at_risk
    event = is_event.astype(np.bool_)
    expected = r.sum(axis=1)
    variance = expected - np.einsum("ij,ij->i", r, r)
    return _RiskSets(event, at_risk, at_risk_1, r, expected, variance, arm1_total)


def _tied_rows(
    key: KeyArray,
    event: BoolArray,
    at_risk: npt.NDArray[np.int32],
    at_risk_1: npt.NDArray[np.int32],
    ties: Ties,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Tie-aware log-rank sums and Cox ρ-weights for rows with tied times (R survdiff / coxph definitions).

    A run is a set of subjects with the same stratum and time; the counts at risk of a run are those at its
    first sorted position (every later row of the stratum has a time at or after it).
    """
    n_rows, n_cols = key.shape
    block = key >> 2
    new = np.ones((n_rows, n_cols), dtype=np.bool_)
    np.not_equal(block[:, 1:], block[:, :-1], out=new[:, 1:])
    new_flat = new.ravel()
    run = np.cumsum(new_flat) - 1
    starts = np.flatnonzero(new_flat)
    ev = event.ravel()
    ev1 = ev & (key.ravel() & 1).astype(np.bool_)
    n_runs = starts.shape[0]
    d_run = np.bincount(run, weights=ev, minlength=n_runs)
    d1_run = np.bincount(run, weights=ev1, minlength=n_runs)
    nr_run = at_risk.ravel()[starts].astype(np.float64)
    n1_run = at_risk_1.ravel()[starts].astype(np.float64)

    pos = np.flatnonzero(ev)
    rp = run[pos]
    d, d1, nr, n1 = d_run[rp], d1_run[rp], nr_run[rp], n1_run[rp]
    cum = np.cumsum(ev, dtype=np.int64)
    first = starts[rp]
    within = (cum[pos] - (cum[first] - ev[first])) - 1  # events of the run before this one
    r1 = n1 / nr
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(nr > 1, (nr - d) / (nr - 1), 0.0)
    row = pos // n_cols
    expected = np.bincount(row, weights=r1, minlength=n_rows).astype(np.float64)
    variance = np.bincount(row, weights=c * r1 * (1.0 - r1), minlength=n_rows).astype(np.float64)
    if ties is Ties.EFRON:
        frac = within / d
        eff = (n1 - frac * d1) / (nr - within)
    else:
        eff = r1
    r_eff = np.zeros(n_rows * n_cols, dtype=np.float64)
    r_eff[pos] = eff
    return r_eff.reshape(n_rows, n_cols), expected, variance


def _cox_newton(
    r_eff: FloatArray,
    observed_1: IntArray,
    events: IntArray,
    expected: FloatArray,
    variance: FloatArray,
    max_iter: int,
    tol: float,
) -> tuple[FloatArray, FloatArray, BoolArray, IntArray]:
    """Newton–Raphson for the one-covariate stratified Cox model, all rows at once, from the Peto estimate.

    With q = r/(1 + r(θ − 1)) over the deaths (r their effective n₁'/(n₀' + n₁')) and Aₖ = θᵏΣqᵏ:
    U = O₁ − A₁, I = A₁ − A₂ and dI/dβ = A₁ − 3A₂ + 2A₃. After a step s the error of β + s is about
    |dI/dβ|·s²/(2I) (Newton's quadratic term; at most s²/2 here since |1 − 2ρ| ≤ 1): a row stops when that bound
    is ≤ ``tol``·(1 + |β|), and its information is carried to β + s to first order (I + s·dI/dβ), so both β and
    its SE are exact to O(s²) without a confirming iteration. Rows are computed together until most have
    stopped, then the rest are copied out.
    """
    n_rows = r_eff.shape[0]
    obs = observed_1.astype(np.float64)
    finite = (variance > 0) & (observed_1 > 0) & (observed_1 < events)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(finite, (obs - expected) / variance, 0.0)
    info = np.full(n_rows, np.nan)
    converged = np.zeros(n_rows, dtype=np.bool_)
    iterations = np.zeros(n_rows, dtype=np.int64)
    rows = np.arange(n_rows)  # rows held in ``work``
    work = r_eff
    todo = finite.copy()  # per row of ``work``: still iterating
    if max_iter > 1 and todo.any():
        # first step in float32 (half the memory traffic): from the Peto estimate it lands within ~10⁻⁶ of
        # the estimate, where float32 rounding (~10⁻⁷) no longer matters; the float64 steps finish the job
        r32 = work.astype(np.float32)
        theta32 = np.exp(beta).astype(np.float32)
        q32 = np.multiply(r32, (theta32 - np.float32(1.0))[:, None])
        q32 += np.float32(1.0)
        np.divide(r32, q32, out=q32)
        del r32
        t = theta32.astype(np.float64)
        a1 = t * q32.sum(axis=1, dtype=np.float64)
        a2 = t * t * np.einsum("ij,ij->i", q32, q32).astype(np.float64)
        del q32
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.clip((obs - a1) / (a1 - a2), -2.0, 2.0)
        beta[todo] += step[todo]
        iterations[todo] += 1
    q = np.empty_like(work)
    q2 = np.empty_like(work)
    for _ in range(max_iter):
        if not todo.any():
            break
        if todo.mean() < 0.5:  # copy out the few remaining rows
            rows, work = rows[todo], work[todo]
            todo = np.ones(rows.shape[0], dtype=np.bool_)
            q, q2 = np.empty_like(work), np.empty_like(work)
        b = beta[rows]
        theta = np.exp(b)
        np.multiply(work, (theta - 1.0)[:, None], out=q)
        q += 1.0
        np.divide(work, q, out=q)
        np.multiply(q, q, out=q2)
        a1 = theta * q.sum(axis=1)
        a2 = theta**2 * q2.sum(axis=1)
        a3 = theta**3 * np.einsum("ij,ij->i", q2, q)
        information = a1 - a2
        slope = a1 - 3.0 * a2 + 2.0 * a3
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.clip((obs[rows] - a1) / information, -2.0, 2.0)
            bound = np.abs(slope) * step * step / (2.0 * information)
        step[~todo] = 0.0
        b += step
        upd = rows[todo]
        beta[upd] = b[todo]
        info[upd] = (information + slope * step)[todo]
        iterations[upd] += 1
        done = todo & (bound <= tol * (1.0 + np.abs(b)))
        converged[rows[done]] = True
        todo &= ~done
    log_hr = np.where(converged, beta, np.nan)
    # infinite estimates: all events in one arm
    log_hr[(variance > 0) & (observed_1 == 0)] = -np.inf
    log_hr[(variance > 0) & (observed_1 == events) & (events > 0)] = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(converged, 1.0 / np.sqrt(info), np.nan)
    return log_hr, se, converged, iterations


def arm_key(
    ticks: npt.NDArray[np.uint32],
    event: BoolArray,
    arm: npt.NDArray[np.uint8],
    kdt: KeyType,
    time_bits: int,
) -> KeyArray:
    """(arm, ticks, not-event) packed: sorting orders by (arm, time), events before censorings at a tie."""
    key: npt.NDArray[np.unsignedinteger[Any]] = arm.astype(kdt)
    key <<= kdt(time_bits)
    key |= ticks
    key <<= kdt(1)
    key |= ~event
    return key


def _km_medians(
    ticks: npt.NDArray[np.uint32],
    event: BoolArray,
    arm: npt.NDArray[np.uint8],
    time_bits: int,
    n1: IntArray | None = None,
) -> FloatArray:
    """Kaplan–Meier median per arm (strata pooled) in ticks, R ``quantile.survfit`` rule (see module doc).

    Sorted by (arm, time, events first), the subjects at risk at a position are (end of its arm's segment) −
    position; log Ŝ is the cumulative sum of a table entry indexed by 2 × at-risk + censored (0 for censored).
    log Ŝ is non-increasing along the whole row, so the first position of an arm below a level is a count.
    """
    n_rows, n_cols = ticks.shape
    kdt = np.uint32 if time_bits + 2 <= 32 else np.uint64
    key = arm_key(ticks, event, arm, kdt, time_bits)
    key.sort(axis=1)
    if n1 is None:
        n1 = np.count_nonzero(arm, axis=1)
    n0 = n_cols - n1
    # 2 × (end of the arm's segment − position) + censored bit, in modular unsigned arithmetic
    index: npt.NDArray[np.unsignedinteger[Any]] = key >> kdt(time_bits + 1)  # arm of the position
    two_n1: npt.NDArray[np.unsignedinteger[Any]] = np.asarray(2 * n1, dtype=kdt)
    index *= two_n1[:, None]
    index += key & kdt(1)
    two_n0: npt.NDArray[np.unsignedinteger[Any]] = np.asarray(2 * n0, dtype=kdt)
    index += two_n0[:, None] - np.arange(0, 2 * n_cols, 2, dtype=kdt)
    log_s = np.take(_log_table(n_cols), index)
    del index
    np.cumsum(log_s, axis=1, out=log_s)
    lo_end = np.where(n0 > 0, log_s[np.arange(n_rows), np.maximum(n0 - 1, 0)], 0)
    th_reach = math.floor(math.log(0.5 + QUANTILE_TOLERANCE) * _LOG_SCALE)
    th_beyond = math.floor(math.log(0.5 - QUANTILE_TOLERANCE) * _LOG_SCALE)
    mask = (1 << time_bits) - 1
    median = np.full((n_rows, 2), np.nan)
    zero = np.zeros_like(lo_end)
    full = np.full_like(n0, n_cols)
    for a, start, end, base in ((0, zero, n0, zero), (1, n0, full, lo_end)):
        above = log_s > th_reach if a == 0 else log_s > (th_reach + base)[:, None]
        first = np.maximum(np.count_nonzero(above, axis=1), start)
        hit = np.flatnonzero(first < end)
        if not hit.size:
            continue
        i1 = first[hit]
        t1 = ((key[hit, i1] >> kdt(1)) & kdt(mask)).astype(np.float64)
        median[hit, a] = t1
        # Ŝ within √ε of 0.5 at the first reach: R's midpoint rule (to the next event, or to the last time)
        for j in np.flatnonzero(log_s[hit, i1] - base[hit] > th_beyond):
            r, i, seg_end = int(hit[j]), int(i1[j]), int(end[hit[j]])
            beyond = np.flatnonzero(log_s[r, i:seg_end] - base[r] <= th_beyond)
            other = int(key[r, i + int(beyond[0])] if beyond.size else key[r, seg_end - 1]) >> 1 & mask
            median[r, a] = (t1[j] + other) / 2.0
    return median


def _as_rows(values: npt.ArrayLike, name: str, shape: tuple[int, ...] | None) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise BatchInputError(f"{name}: expected a (replicates, subjects) array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise BatchInputError(f"{name}: shape {arr.shape} differs from time's {shape}")
    return arr


def _as_codes(values: npt.ArrayLike, name: str, shape: tuple[int, ...], limit: int) -> npt.NDArray[np.uint8]:
    arr = _as_rows(values, name, shape)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise BatchInputError(f"{name}: expected integer codes, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= limit)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise BatchInputError(f"{name}: codes must be 0 … {limit - 1}, got {arr[r, c]!r} at replicate {r}, subject {c}")
    return arr.astype(np.uint8)


def batch_statistics(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    arm: npt.ArrayLike,
    strata: npt.ArrayLike | None = None,
    *,
    ties: Ties | str = Ties.EFRON,
    resolution: float = 2.0**-16,
) -> BatchStatistics:
    """Stratified log-rank Z, stratified Cox log HR (SE) and KM medians of many trials given as (R, n) arrays.

    ``time``: follow-up (≥ 0), counted in whole ticks of ``resolution`` rounded up — exact for times that are
    multiples of it (the simulator's 2⁻¹⁶ month; ``resolution=1`` for whole days); ``event``: 0/1; ``arm``: 0
    control, 1 experimental; ``strata``: codes 0 … 255 (None: one stratum). Medians come back in ``time``'s
    unit. A 1-D input is one trial. Same definitions as ``trialtwin.analysis`` (see the module docstring).
    """
    t = _as_rows(time, "time", None)
    shape = t.shape
    if t.dtype.kind not in "iuf":
        raise BatchInputError(f"time: values must be numeric (got dtype {t.dtype})")
    t = t.astype(np.float64)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise BatchInputError("time: values must be finite and ≥ 0")
    if not (math.isfinite(resolution) and resolution > 0):
        raise BatchInputError(f"resolution: must be a positive number, got {resolution!r}")
    ticks_f = np.ceil(t / resolution)
    if ticks_f.max(initial=0.0) >= 2.0**31:
        raise BatchInputError(f"time: {t.max()} is more than 2³¹ ticks of {resolution}; use a coarser resolution")
    ev = _as_codes(event, "event", shape, 2).astype(np.bool_)
    a = _as_codes(arm, "arm", shape, 2)
    s = np.zeros(shape, dtype=np.uint8) if strata is None else _as_codes(strata, "strata", shape, 256)
    try:
        tie_method = Ties(ties)
    except ValueError:
        raise BatchInputError(f"ties: {ties!r} is not one of efron, breslow") from None
    n_strata = int(s.max()) + 1
    st = statistics_from_ticks(ticks_f.astype(np.uint32), ev, a, s, n_strata, ties=tie_method)
    return BatchStatistics(
        events=st.events,
        events_by_arm=st.events_by_arm,
        z=st.z,
        log_hr=st.log_hr,
        se_log_hr=st.se_log_hr,
        converged=st.converged,
        iterations=st.iterations,
        median=st.median * resolution,
        tied=st.tied,
    )
