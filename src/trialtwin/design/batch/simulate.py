"""Simulate R replicate trials at once as (R, n) NumPy arrays and analyse them: the batched design engine.

Per replicate (all replicates of a chunk together):

1. **Enrolment** — the first n arrivals of a Poisson process with piecewise-constant rate over calendar time
   (simtrial ``rpwexp_enroll``; Lachin & Foulkes 1986): cumulative sums of Exp(1) gaps mapped through the
   inverse cumulative rate.
2. **Strata** — independent draws with the design's probabilities.
3. **Stratified permuted blocks** — within each stratum, in order of enrolment, blocks whose size is drawn
   uniformly from ``block_sizes`` and whose arrangement is drawn uniformly among all arrangements with the
   allocation ratio (Zelen 1974; Matts & Lachin 1988); incomplete final blocks are kept, as at a real cut.
   All blocks of all (replicate, stratum) cells are drawn as one flat array.
4. **Outcomes** — time to the first of event and dropout from the total piecewise hazard (inverse cumulative
   hazard of an Exp(1) draw), and which of the two it was with probability λ/(λ + η) in that piece (competing
   exponential risks, piecewise; Lachin & Foulkes 1986).
5. **Cut** — per look, the calendar time of the d-th event (``np.partition``), or a calendar month, or the first
   of both. Subjects enrolled later are not in the analysis; the others are followed to the cut.
   In scan-aware mode (``design.observation == "scans"``) progression is observed at the first scheduled
   assessment on or after it, death without progression at its date, censoring at the last assessment before the
   cut or dropout, and event-driven cuts count observed events (``trialtwin.design.batch.scans``).
6. **Statistics** — ``statistics.statistics_from_ticks``: stratified log-rank Z, stratified Cox HR (Efron or
   Breslow), Kaplan–Meier median per arm.

Reproducibility: chunk k (replicates [k·c, (k+1)·c) for chunk size c) draws from its own generator seeded by the
k-th child of ``SeedSequence.spawn``, so results depend on the seed, the number of replicates and the chunk size,
never on the number of worker processes, the executor (e.g. a Dask cluster) or the order in which chunks run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_all_start_methods, get_context
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from trialtwin.analysis import Ties
from trialtwin.design.batch.scans import reading_shift
from trialtwin.design.batch.scenario import TICKS_PER_MONTH, BatchDesign
from trialtwin.design.batch.statistics import BatchInputError, BatchStatistics, statistics_from_ticks

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
F32Array = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]

#: Replicates per chunk: (chunk × n) work arrays stay within a few MB of cache; Python overhead is ~1 µs per
#: replicate at this size. Results depend on the chunk size (see the module docstring).
DEFAULT_CHUNK_SIZE = 1000
#: Fixed-point bits of the cumulative enrolment intensity (Exp(1) gaps rounded down to 2⁻¹⁶).
_INTENSITY_BITS = 16


# --------------------------------------------------------------------------------------------------------------
# Design tables (computed once per design)


@dataclass(frozen=True, slots=True, eq=False)
class _Tables:
    enrol_starts: FloatArray
    enrol_cum: FloatArray
    enrol_rates: FloatArray
    strata_shift: int  # > 0: stratum = top bits of a 32-bit draw (equal probabilities, 2^k strata)
    strata_lookup: U8Array  # 16-bit table (255: resolve with the thresholds)
    strata_thresholds: npt.NDArray[np.uint64]  # cumulative probabilities × 2³², S − 1 of them
    by_stratum: bool  # hazards or dropout differ by stratum: group = 2·stratum + arm, else arm
    pieces: int
    knot_time: F32Array  # (G, pieces)
    knot_cum: F32Array  # (G, pieces); padded pieces have +inf
    inv_rate: F32Array  # (G, pieces); 1/total hazard (inf for a zero hazard)
    event_share: npt.NDArray[np.uint64]  # (G, pieces): P(event | exit in piece) × 2³² (2³²: always)
    death_share: npt.NDArray[np.uint64]  # (G, pieces): P(death without progression | exit in piece) × 2³²
    has_dropout: bool
    has_death: bool
    all_events: bool  # every exit is an event (no dropout, hazards never end at 0)
    min_block: int
    size_count: int
    size_of: IntArray  # (size choices,)
    pattern_first: IntArray  # first pattern index of each size choice
    pattern_count: IntArray  # arrangements of each size choice
    pattern_table: U8Array  # all arrangements, flat
    pattern_offset: npt.NDArray[np.intp]  # start of each arrangement in the flat table
    pattern_size: npt.NDArray[np.intp]
    draw_size: npt.NDArray[np.intp]  # per draw-table entry (arrangements repeated so that a uniform entry is a
    draw_offset: npt.NDArray[np.intp]  # valid block draw): block size, first and last index in pattern_table
    draw_last: npt.NDArray[np.intp]


@lru_cache(maxsize=32)
def _tables(design: BatchDesign) -> _Tables:
    er = design.enrollment
    e_starts = np.asarray(er.starts, dtype=np.float64)
    e_rates = np.asarray(er.rates, dtype=np.float64)
    e_cum = np.concatenate(([0.0], np.cumsum(np.diff(e_starts) * e_rates[:-1])))

    s = design.n_strata
    probs = np.asarray(design.strata)
    equal = bool(np.all(np.abs(probs - 1.0 / s) < 1e-15))
    shift = 32 - (s - 1).bit_length() if equal and s & (s - 1) == 0 and s > 1 else 0
    cum = np.cumsum(probs)[:-1]
    thresholds = np.minimum(np.rint(cum * 2.0**32), 2.0**32).astype(np.uint64)
    lookup = np.full(65536, 255, dtype=np.uint8)
    if s == 1:
        lookup[:] = 0
    else:
        lo = np.arange(65536, dtype=np.uint64) << np.uint64(16)
        hi = lo + np.uint64(0xFFFF)
        s_lo = np.searchsorted(thresholds, lo, side="right")
        s_hi = np.searchsorted(thresholds, hi, side="right")
        same = s_lo == s_hi
        lookup[same] = s_lo[same].astype(np.uint8)

    by_stratum = (
        len(design.hazards) > 1
        or (design.dropout is not None and len(design.dropout) > 1)
        or (design.death is not None and len(design.death) > 1)
    )
    n_groups = 2 * s if by_stratum else 2
    groups = [(g // 2 if by_stratum else 0, g % 2) for g in range(n_groups)]
    # the event hazard is progression + death without progression (PFS); death's share is kept for scan mode
    knots_by_group: list[list[tuple[float, float, float]]] = []
    death_by_group: list[list[float]] = []
    for st, arm in groups:
        ev, dr, de = design.hazard(st, arm), design.dropout_hazard(st, arm), design.death_hazard(st, arm)
        knots = sorted(set(ev.starts) | set(dr.starts) | set(de.starts))
        knots_by_group.append([(t, ev.rate_at(t) + de.rate_at(t), dr.rate_at(t)) for t in knots])
        death_by_group.append([de.rate_at(t) for t in knots])
    pieces = max(len(k) for k in knots_by_group)
    knot_time = np.zeros((n_groups, pieces), dtype=np.float64)
    knot_cum = np.full((n_groups, pieces), np.inf, dtype=np.float64)
    inv_rate = np.full((n_groups, pieces), np.inf, dtype=np.float64)
    share = np.zeros((n_groups, pieces), dtype=np.float64)
    d_share = np.zeros((n_groups, pieces), dtype=np.float64)
    for g, group_knots in enumerate(knots_by_group):
        h = 0.0
        for k, (t, lam, eta) in enumerate(group_knots):
            if k:
                prev_t, prev_lam, prev_eta = group_knots[k - 1]
                h += (prev_lam + prev_eta) * (t - prev_t)
            total = lam + eta
            knot_time[g, k], knot_cum[g, k] = t, h
            inv_rate[g, k] = 1.0 / total if total > 0 else np.inf
            share[g, k] = lam / total if total > 0 else 0.0
            d_share[g, k] = death_by_group[g][k] / total if total > 0 else 0.0
    event_share = np.rint(share * 2.0**32).astype(np.uint64)
    has_death = design.death is not None and any(rate > 0 for row in design.death for pw in row for rate in pw.rates)
    has_dropout = design.dropout is not None and any(
        rate > 0 for row in design.dropout for pw in row for rate in pw.rates
    )

    patterns = design.patterns
    sizes = design.block_sizes
    size_of = np.asarray(sizes, dtype=np.int64)
    count = np.asarray([sum(1 for p in patterns if len(p) == b) for b in sizes], dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    p_size = np.asarray([len(p) for p in patterns], dtype=np.intp)
    p_offset = np.concatenate(([0], np.cumsum(p_size)[:-1])).astype(np.intp)
    table = np.asarray([a for p in patterns for a in p], dtype=np.uint8)
    common = math.lcm(*(int(c) for c in count))
    if common * len(sizes) <= 2**16:
        draw_table = np.concatenate(
            [np.repeat(np.arange(f, f + c), common // c) for f, c in zip(first, count, strict=True)]
        ).astype(np.intp)
    else:
        draw_table = np.zeros(0, dtype=np.intp)
    return _Tables(
        enrol_starts=e_starts,
        enrol_cum=e_cum,
        enrol_rates=e_rates,
        strata_shift=shift,
        strata_lookup=lookup,
        strata_thresholds=thresholds,
        by_stratum=by_stratum,
        pieces=pieces,
        knot_time=knot_time.astype(np.float32),
        knot_cum=knot_cum.astype(np.float32),
        inv_rate=inv_rate.astype(np.float32),
        event_share=event_share,
        death_share=np.rint(d_share * 2.0**32).astype(np.uint64),
        has_dropout=has_dropout,
        has_death=has_death,
        all_events=not has_dropout and all(k[-1][1] + k[-1][2] > 0 for k in knots_by_group),
        min_block=min(sizes),
        size_count=len(sizes),
        size_of=size_of,
        pattern_first=first,
        pattern_count=count,
        pattern_table=table,
        pattern_offset=p_offset,
        pattern_size=p_size,
        draw_size=p_size[draw_table],
        draw_offset=p_offset[draw_table],
        draw_last=p_offset[draw_table] + p_size[draw_table] - 1,
    )


# --------------------------------------------------------------------------------------------------------------
# Subject-level simulation of one chunk


@dataclass(frozen=True, slots=True, eq=False)
class TrialBatch:
    """Subject-level data of R replicate trials, (R, n) arrays; within a replicate subjects are ordered by
    stratum, then by enrolment.

    ``enrolled``: calendar month of randomization; ``exit``: months from randomization to the first of event and
    dropout (∞: never); ``exit_is_event``: that exit is the event (else dropout); ``event_month``: calendar
    month of the event (∞ when the exit is a dropout); in scan mode (``design.observation == "scans"``)
    ``exit``/``exit_is_event`` are latent, ``event_month`` is the calendar month of the *observed* event (the
    detecting scan, or death), ``event_time`` the same from randomization and ``scan_key`` each subject's key
    of its scan-day offsets (``trialtwin.design.batch.scans``); ``strata_counts``: (R, strata) subjects per stratum;
    ``cell``: r·strata + stratum of every subject (the index of per-(replicate, stratum) tables);
    ``cuts``: (R, looks) calendar month of each analysis; ``reached``: the look's target number of events was
    reached.
    """

    design: BatchDesign
    enrolled: F32Array
    stratum: U8Array
    arm: U8Array
    exit: F32Array
    exit_is_event: BoolArray
    event_month: F32Array
    strata_counts: IntArray
    cell: npt.NDArray[np.intp]
    cuts: FloatArray
    reached: BoolArray
    event_time: F32Array | None = None
    scan_key: npt.NDArray[np.uint32] | None = None

    @property
    def replicates(self) -> int:
        return int(self.enrolled.shape[0])

    def follow_up(self, look: int = 0) -> tuple[npt.NDArray[np.uint32], BoolArray]:
        """(ticks, event) at ``look``: follow-up min(exit, cut − enrolment) in whole ticks of 2⁻¹⁶ month,
        rounded up — at least 1 for an event, 0 for a subject enrolled after the cut (in no risk set: not
        analysed). In scan mode an event is at its observed time and a censored subject at the last scan on or
        before the earlier of the cut and dropout (0, not analysed, when there is none)."""
        cut = self.cuts[:, look].astype(np.float32)[:, None]
        event = self.event_month <= cut
        if self.event_time is not None and self.scan_key is not None and self.design.scans is not None:
            horizon = cut - self.enrolled
            np.minimum(horizon, self.exit, out=horizon)
            censor = self.design.scans.last_on_or_before(horizon, self.scan_key)
            time = np.where(event, self.event_time, censor)
            time *= np.float32(TICKS_PER_MONTH)
            np.ceil(time, out=time)
            ticks_s = time.astype(np.uint32)
            np.maximum(ticks_s, event, out=ticks_s)
            return ticks_s, event
        time = cut - self.enrolled
        np.minimum(time, self.exit, out=time)
        np.maximum(time, _zeros_row(time.shape[1]), out=time)  # (array operand: the scalar loop is slow)
        time *= np.float32(TICKS_PER_MONTH)
        np.ceil(time, out=time)
        ticks = time.astype(np.uint32)
        np.maximum(ticks, event, out=ticks)
        return ticks, event

    def analysis_data(self, replicate: int, look: int = 0) -> pd.DataFrame:
        """One replicate's analysis data at ``look``, as the analysis functions take it: one row per subject
        enrolled before the cut, with ``time`` (months, exactly the ticks the engine used), ``event``, ``arm``
        (0 control, 1 experimental), ``stratum`` (code) and ``enrolled`` (calendar month)."""
        ticks, event = self.follow_up(look)
        keep = ticks[replicate] > 0
        return pd.DataFrame(
            {
                "time": ticks[replicate][keep].astype(np.float64) / TICKS_PER_MONTH,
                "event": event[replicate][keep],
                "arm": self.arm[replicate][keep].astype(np.int64),
                "stratum": self.stratum[replicate][keep].astype(np.int64),
                "enrolled": self.enrolled[replicate][keep].astype(np.float64),
            }
        )


def simulate_trials(design: BatchDesign, replicates: int, *, rng: np.random.Generator) -> TrialBatch:
    """Subject-level arrays of ``replicates`` trials of ``design`` drawn from ``rng`` (one chunk; see
    ``simulate_batch`` for many replicates in bounded memory)."""
    r_count = _check_count(replicates, "replicates")
    tables = _tables(design)
    enrolled, stratum, cell, counts = _enrol_in_stratum_order(rng, design.n, r_count, design.n_strata, tables)
    arm = _allocate(rng, counts, cell, tables, r_count, design.n)
    scan_mode = design.observation == "scans"
    exit_time, exit_is_event, is_death = _draw_exits(rng, stratum, arm, tables, deaths=scan_mode)
    event_time: F32Array | None = None
    scan_key: npt.NDArray[np.uint32] | None = None
    if scan_mode and design.scans is not None:
        scan_key = rng.integers(0, 2**32, size=stratum.shape, dtype=np.uint32, endpoint=False)
        # progression is seen at the first scan on or after it; death without progression at its date
        first = design.scans.first_index(exit_time, scan_key)
        if design.reading is not None:
            bits = rng.integers(0, 2**32, size=arm.shape, dtype=np.uint32, endpoint=False)
            first += reading_shift(design.reading, arm, first, bits)
            np.maximum(first, 0, out=first)
        event_time = design.scans.scan_months(first, scan_key)
        if is_death is not None:
            np.copyto(event_time, exit_time, where=is_death)
        if not tables.all_events:
            np.copyto(event_time, np.float32(np.inf), where=~exit_is_event)
        event_month = enrolled + event_time
    else:
        event_month = enrolled + exit_time
        if not tables.all_events:
            np.copyto(event_month, np.float32(np.inf), where=~exit_is_event)
    cuts, reached = _cuts(design, enrolled, exit_time, event_month)
    return TrialBatch(
        design=design,
        enrolled=enrolled,
        stratum=stratum,
        arm=arm,
        exit=exit_time,
        exit_is_event=exit_is_event,
        event_month=event_month,
        strata_counts=counts.reshape(r_count, design.n_strata),
        cell=cell,
        cuts=cuts,
        reached=reached,
        event_time=event_time,
        scan_key=scan_key,
    )


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise BatchInputError(f"{name}: expected a positive whole number, got {value!r}")
    return int(value)


def _log_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> F32Array:
    """log(1 − U) = −Exp(1) by inversion, U a 24-bit uniform on [0, 1): values in [−16.6, 0] (the Exp(1) tail
    beyond 16.6, probability 6·10⁻⁸, is cut). Twice as fast as NumPy's float32 ziggurat here, and plenty for
    enrolment gaps and event times."""
    u = rng.random(shape, dtype=np.float32)
    np.subtract(np.float32(1.0), u, out=u)
    np.log(u, out=u)
    return u


def _enrol_in_stratum_order(
    rng: np.random.Generator, n: int, r_count: int, n_strata: int, tables: _Tables
) -> tuple[F32Array, U8Array, npt.NDArray[np.intp], IntArray]:
    """Enrolment months and strata of the n arrivals of each replicate, reordered by (stratum, arrival).

    Arrivals: cumulative Exp(1) gaps on the intensity scale in 2⁻¹⁶ fixed point (exact integer cumulative
    sums; NumPy's float cumsum along rows does not vectorize), mapped through the inverse cumulative enrolment
    rate. The fixed-point intensity is also the sort key below the stratum bits, so one sort of 32-bit keys
    orders subjects by (stratum, arrival) and carries their enrolment times — no argsort, no gather. Each gap
    uses the top 24 bits of a 32-bit draw; with 2ᵏ equally likely strata (k ≤ 8) the stratum is its low k bits.
    Returns the enrolment months and strata in that order, each subject's (replicate, stratum) cell and the
    cell counts.
    """
    bits = rng.integers(0, 2**32, size=(r_count, n), dtype=np.uint32)
    if tables.strata_shift and tables.strata_shift >= 24:
        strata = (bits & np.uint32((1 << (32 - tables.strata_shift)) - 1)).astype(np.uint8)
    else:
        strata = _draw_strata(rng, (r_count, n), tables)
    bits >>= np.uint32(8)
    # Exp(1) gap = −log(1 − U), U = k·2⁻²⁴, i.e. 24·ln 2 − log(2²⁴ − k)
    m = np.subtract(np.uint32(2**24), bits, out=bits).astype(np.float32)
    del bits
    np.log(m, out=m)
    m *= np.float32(-(2.0**_INTENSITY_BITS))
    m += np.float32(24.0 * math.log(2.0) * 2.0**_INTENSITY_BITS)
    wide = n * 17 * 2**_INTENSITY_BITS >= 2**31  # 17 > the largest gap (16.6)
    fixed: npt.NDArray[np.signedinteger[Any]] = m.astype(np.int64 if wide else np.int32)
    del m
    intensity = np.cumsum(fixed, axis=1, out=fixed)
    strata_bits = max(n_strata - 1, 0).bit_length()
    room = 32 - strata_bits
    shift = max(int(intensity[:, -1].max()).bit_length() - room, 0)
    if shift:
        intensity >>= shift
    key = intensity.astype(np.uint32) if wide or shift else intensity.view(np.uint32)
    if strata_bits:
        high = strata.astype(np.uint32)
        high <<= np.uint32(room)
        key |= high
        del high
    del strata
    key.sort(axis=1)
    stratum = (key >> np.uint32(room)).astype(np.uint8) if strata_bits else np.zeros(key.shape, np.uint8)
    if strata_bits:
        key &= np.uint32((1 << room) - 1)
    scale = 2.0 ** (shift - _INTENSITY_BITS)
    if tables.enrol_starts.shape[0] == 1:
        enrolled = key.astype(np.float32)
        enrolled *= np.float32(scale / tables.enrol_rates[0])
    else:
        h = key.astype(np.float64)
        h *= scale
        enrolled = _inverse_cumulative(h, tables.enrol_starts, tables.enrol_cum, tables.enrol_rates)
    del key
    cell = stratum.astype(np.intp)
    cell += (np.arange(r_count, dtype=np.intp) * n_strata)[:, None]
    counts = np.bincount(cell.ravel(), minlength=r_count * n_strata)
    return enrolled, stratum, cell, counts


def _inverse_cumulative(h: FloatArray, starts: FloatArray, cum: FloatArray, rates: FloatArray) -> F32Array:
    """Calendar time at which the cumulative enrolment intensity reaches ``h`` (piecewise linear)."""
    out = np.empty(h.shape, dtype=np.float32)
    if starts.shape[0] == 1:
        np.multiply(h, 1.0 / rates[0], out=out, casting="same_kind")
        return out
    piece = np.zeros(h.shape, dtype=np.intp)
    for k in range(1, starts.shape[0]):
        piece += h >= cum[k]
    safe = np.where(rates > 0, rates, 1.0)
    value = h - np.take(cum, piece)
    value *= np.take(1.0 / safe, piece)
    value += np.take(starts, piece)
    out[...] = value
    return out


def _draw_strata(rng: np.random.Generator, shape: tuple[int, int], tables: _Tables) -> U8Array:
    if tables.strata_thresholds.shape[0] == 0:
        return np.zeros(shape, dtype=np.uint8)
    if tables.strata_shift:  # equally likely, a power of two
        return rng.integers(0, 1 << (32 - tables.strata_shift), size=shape, dtype=np.uint8)
    bits = rng.integers(0, 2**32, size=shape, dtype=np.uint32, endpoint=False)
    out = np.take(tables.strata_lookup, bits >> np.uint32(16))
    unresolved = out == 255
    if unresolved.any():
        exact = np.searchsorted(tables.strata_thresholds, bits[unresolved].astype(np.uint64), side="right")
        out[unresolved] = exact.astype(np.uint8)
    return out


def _allocate(
    rng: np.random.Generator, counts: IntArray, cell: npt.NDArray[np.intp], tables: _Tables, r_count: int, n: int
) -> U8Array:
    """Arms by stratified permuted blocks: every (replicate, stratum) cell gets enough blocks for its subjects
    (⌈count / smallest block⌉), all drawn as one flat array; subject k of a cell (in enrolment order) takes
    position k of the cell's block sequence.

    A block is drawn as one entry of a table listing each arrangement of each size lcm/(its number of
    arrangements) times: every size equally likely, every arrangement of a size equally likely (exact).
    The concatenated sequence is built without ``np.repeat``: its table indices are the cumulative sum of 1s
    with a jump at every block start.
    """
    blocks_per_cell = counts + (tables.min_block - 1)
    blocks_per_cell //= tables.min_block
    first_block = np.cumsum(blocks_per_cell)
    total_blocks = int(first_block[-1])
    first_block -= blocks_per_cell
    if tables.draw_size.shape[0]:
        draw = rng.integers(0, tables.draw_size.shape[0], size=total_blocks, dtype=np.uint32)
        size = np.take(tables.draw_size, draw)
        first = np.take(tables.draw_offset, draw)
        last = np.take(tables.draw_last, draw)
    else:  # too many arrangements for a table: size first, then the arrangement (both exact)
        choice = rng.integers(0, tables.size_count, size=total_blocks)
        pattern = tables.pattern_first[choice] + rng.integers(0, tables.pattern_count[choice])
        size = tables.pattern_size[pattern]
        first = tables.pattern_offset[pattern]
        last = first + size - 1
    block_start = np.cumsum(size)
    total = int(block_start[-1])
    block_start -= size
    # table index of every position: +1 inside a block, a jump to the arrangement's first entry at its start
    jump = first
    jump[1:] -= last[:-1]
    step = np.ones(total, dtype=np.intp)
    step[block_start] = jump
    index = np.cumsum(step, out=step)
    cell_start = np.take(block_start, np.minimum(first_block, total_blocks - 1))
    # position j of a replicate's row, in cell c, is subject j − (start of c in the row) of that cell
    per_row = counts.reshape(r_count, -1)
    row_start = np.cumsum(per_row, axis=1)
    row_start -= per_row
    offset = cell_start - row_start.ravel()
    position = np.take(offset, cell)
    position += np.arange(n, dtype=np.intp)
    return np.take(tables.pattern_table, np.take(index, position))


def _draw_exits(
    rng: np.random.Generator, stratum: U8Array, arm: U8Array, tables: _Tables, *, deaths: bool = False
) -> tuple[F32Array, BoolArray, BoolArray | None]:
    """Months from randomization to the first of event and dropout, whether it is the event and (``deaths``,
    when the design has death without progression) whether that event is a death (one 32-bit draw decides the
    cause: death below the death share, progression up to the event share, dropout above)."""
    neg_e = _log_uniform(rng, stratum.shape)  # −Exp(1)
    group: npt.NDArray[Any]
    if tables.by_stratum:
        group = stratum.astype(np.intp)
        group *= 2
        group += arm
    else:
        group = arm
    if tables.pieces == 1:
        piece_index = group
        inv = tables.inv_rate[:, 0]
        if not tables.by_stratum and bool(np.all(np.isfinite(inv))):
            factor = arm.astype(np.float32)
            factor *= -(inv[1] - inv[0])
            factor -= inv[0]
        else:
            np.minimum(neg_e, np.float32(-1e-30), out=neg_e)  # Exp(1) > 0: no 0 × ∞
            factor = np.take(-inv, group)
        exit_time = neg_e
        exit_time *= factor
    else:
        e = np.negative(neg_e, out=neg_e)
        np.maximum(e, np.float32(1e-30), out=e)
        pieces = tables.pieces
        piece = np.zeros(e.shape, dtype=np.intp)
        for k in range(1, pieces):
            piece += e > np.take(tables.knot_cum[:, k], group)
        piece_index = group * pieces + piece
        exit_time = e
        exit_time -= np.take(tables.knot_cum.ravel(), piece_index)
        exit_time *= np.take(tables.inv_rate.ravel(), piece_index)
        exit_time += np.take(tables.knot_time.ravel(), piece_index)
    split_deaths = deaths and tables.has_death
    if not tables.has_dropout and not split_deaths:
        return exit_time, np.isfinite(exit_time), None
    bits = rng.integers(0, 2**32, size=stratum.shape, dtype=np.uint32, endpoint=False)
    share = np.take(tables.event_share.ravel(), piece_index)
    is_event = bits < share
    is_event &= np.isfinite(exit_time)
    is_death = None
    if split_deaths:
        is_death = bits < np.take(tables.death_share.ravel(), piece_index)
        is_death &= is_event
    return exit_time, is_event, is_death


def _cuts(
    design: BatchDesign, enrolled: F32Array, exit_time: F32Array, event_month: F32Array
) -> tuple[FloatArray, BoolArray]:
    """Calendar month of each look: the d-th event month (``np.partition``), a calendar month, or the first of
    both; all follow-up (the last exit) where the target is never reached."""
    r_count = enrolled.shape[0]
    looks = design.looks
    cuts = np.full((r_count, len(looks)), np.inf)
    reached = np.ones((r_count, len(looks)), dtype=np.bool_)
    targets = sorted({c.events for c in looks if c.events is not None})
    if targets:
        # positive float32 values (and +∞) order as their int32 bit patterns: integer selection is faster
        part = np.partition(event_month.view(np.int32), [d - 1 for d in targets], axis=1).view(np.float32)
        at = {d: part[:, d - 1].astype(np.float64) for d in targets}
        del part
        for k, cut in enumerate(looks):
            if cut.events is not None:
                value = at[cut.events]
                reached[:, k] = np.isfinite(value)
                cuts[:, k] = value
        short = np.flatnonzero(~reached.all(axis=1))
        if short.size:
            ends = enrolled[short] + exit_time[short]
            last = np.where(np.isfinite(ends), ends, enrolled[short]).max(axis=1).astype(np.float64)
            seen = event_month[short]  # scan mode: an observed event can come after the latent exit
            np.maximum(last, np.where(np.isfinite(seen), seen, -np.inf).max(axis=1), out=last)
            for k in range(len(looks)):
                miss = ~reached[short, k]
                cuts[short[miss], k] = last[miss]
    for k, cut in enumerate(looks):
        if cut.months is not None:
            month = float(np.float32(cut.months))
            if cut.events is None:
                cuts[:, k] = month
            else:
                earlier = month < cuts[:, k]
                cuts[earlier, k] = month
                reached[earlier, k] = False
    return cuts, reached


# --------------------------------------------------------------------------------------------------------------
# Many replicates: chunks, workers, results


_FIELDS = ("z", "log_hr", "se_log_hr", "median_control", "median_experimental", "analysis_month")
_INT_FIELDS = ("events", "events_control", "events_experimental", "subjects")
_BOOL_FIELDS = ("reached", "converged", "tied")


def analyse_trials(batch: TrialBatch, *, ties: Ties | str = Ties.EFRON) -> dict[str, npt.NDArray[Any]]:
    """Statistics of every look of a ``TrialBatch``: a dict of (R, looks) arrays (see ``BatchResult``)."""
    tie_method = _as_ties(ties)
    r_count, looks = batch.replicates, len(batch.design.looks)
    out: dict[str, npt.NDArray[Any]] = {}
    for name in _FIELDS:
        out[name] = np.empty((r_count, looks), dtype=np.float64)
    for name in _INT_FIELDS:
        out[name] = np.empty((r_count, looks), dtype=np.int64)
    for name in _BOOL_FIELDS:
        out[name] = np.empty((r_count, looks), dtype=np.bool_)
    for k in range(looks):
        ticks, event = batch.follow_up(k)
        st: BatchStatistics = statistics_from_ticks(
            ticks,
            event,
            batch.arm,
            batch.stratum,
            batch.design.n_strata,
            ties=tie_method,
            strata_counts=batch.strata_counts,
            cell=batch.cell,
        )
        out["z"][:, k] = st.z
        out["log_hr"][:, k] = st.log_hr
        out["se_log_hr"][:, k] = st.se_log_hr
        out["median_control"][:, k] = st.median[:, 0] / TICKS_PER_MONTH
        out["median_experimental"][:, k] = st.median[:, 1] / TICKS_PER_MONTH
        out["analysis_month"][:, k] = batch.cuts[:, k]
        out["events"][:, k] = st.events
        out["events_control"][:, k] = st.events_by_arm[:, 0]
        out["events_experimental"][:, k] = st.events_by_arm[:, 1]
        out["subjects"][:, k] = np.count_nonzero(ticks, axis=1)
        out["reached"][:, k] = batch.reached[:, k]
        out["converged"][:, k] = st.converged
        out["tied"][:, k] = st.tied
    return out


def _as_ties(ties: Ties | str) -> Ties:
    try:
        return Ties(ties)
    except ValueError:
        raise BatchInputError(f"ties: {ties!r} is not one of efron, breslow") from None


_ALLOCATOR_SETTLED = False


@lru_cache(maxsize=8)
def _zeros_row(n: int) -> F32Array:
    return np.zeros(n, dtype=np.float32)


def _settle_allocator() -> None:
    """Let glibc keep the chunk's working memory between chunks.

    glibc maps blocks above its mmap threshold (128 KiB at first) straight from the OS and trims the heap when
    its free top exceeds twice that threshold, so every chunk's (R × n) arrays would be page-faulted in afresh
    (≈ 40 % of the run time at 2,000 replicates). Freeing one block just under 32 MiB raises both thresholds
    through glibc's own dynamic rule (mmap threshold 32 MiB, trim threshold 64 MiB) — no allocator settings are
    changed. Elsewhere (other allocators) this is a harmless allocation.
    """
    global _ALLOCATOR_SETTLED
    if not _ALLOCATOR_SETTLED:
        block = np.empty((32 * 2**20 - 2**16) // 8)
        del block
        _ALLOCATOR_SETTLED = True


def _run_chunk(design: BatchDesign, size: int, seed: np.random.SeedSequence, ties: Ties) -> dict[str, npt.NDArray[Any]]:
    _settle_allocator()
    batch = simulate_trials(design, size, rng=np.random.Generator(np.random.PCG64(seed)))
    return analyse_trials(batch, ties=ties)


def _run_chunks(
    design: BatchDesign, jobs: Sequence[tuple[int, int, np.random.SeedSequence]], ties: Ties
) -> list[tuple[int, dict[str, npt.NDArray[Any]]]]:
    return [(index, _run_chunk(design, size, seed, ties)) for index, size, seed in jobs]


def _seed_sequence(rng: np.random.Generator | np.random.SeedSequence | int) -> np.random.SeedSequence:
    if isinstance(rng, np.random.Generator):
        seq = rng.bit_generator.seed_seq
        if not isinstance(seq, np.random.SeedSequence):
            raise BatchInputError("rng: its bit generator has no SeedSequence to spawn chunk streams from")
        return seq
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.SeedSequence(int(rng))
    raise BatchInputError(f"rng: expected a numpy Generator, SeedSequence or integer seed, got {rng!r}")


def simulate_batch(
    design: BatchDesign,
    replicates: int,
    *,
    rng: np.random.Generator | np.random.SeedSequence | int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    ties: Ties | str = Ties.EFRON,
    alpha: float = 0.025,
    conf_level: float = 0.95,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> BatchResult:
    """Simulate and analyse ``replicates`` trials of ``design`` in chunks of ``chunk_size``.

    Chunk k draws from the k-th child of ``rng``'s SeedSequence (``SeedSequence.spawn``), so the result is the
    same for any ``workers`` (processes; chunks are handed out in order and gathered by index). Pass a fresh
    ``np.random.default_rng(seed)`` for a reproducible result: spawning advances the seed sequence, so a
    second call with the same generator gives new replicates. ``progress`` is called with the number of
    replicates done after each chunk (in the calling process). ``executor``: run the chunks there instead
    (any ``concurrent.futures.Executor``, e.g. a Dask cluster's ``Client.get_executor()``; ``workers`` then only
    sets how many tasks the chunks are grouped into) — the result is the same, chunk for chunk.
    """
    total = _check_count(replicates, "replicates")
    size = _check_count(chunk_size, "chunk_size")
    n_workers = _check_count(workers, "workers")
    tie_method = _as_ties(ties)
    if not 0.0 < alpha < 0.5:
        raise BatchInputError(f"alpha: one-sided level must be in (0, 0.5), got {alpha!r}")
    if not 0.0 < conf_level < 1.0:
        raise BatchInputError(f"conf_level: must be in (0, 1), got {conf_level!r}")
    n_chunks = -(-total // size)
    seeds = _seed_sequence(rng).spawn(n_chunks)
    jobs = [(k, min(size, total - k * size), seeds[k]) for k in range(n_chunks)]
    parts: list[dict[str, npt.NDArray[Any]] | None] = [None] * n_chunks
    done = 0
    if executor is None and (n_workers == 1 or n_chunks == 1):
        for index, count, seed in jobs:
            parts[index] = _run_chunk(design, count, seed, tie_method)
            done += count
            if progress is not None:
                progress(done)
    else:
        # a few chunks per task: ≥ 16 tasks per worker so that the last ones balance the workers, few enough
        # to keep the per-task overhead (pickling the design and the results, ~1 ms) negligible
        per_task = max(1, min(8, n_chunks // (16 * n_workers)))
        tasks = [jobs[i : i + per_task] for i in range(0, n_chunks, per_task)]

        def gather(pool: Executor) -> None:
            nonlocal done
            futures = [pool.submit(_run_chunks, design, task, tie_method) for task in tasks]
            for future in futures:
                for index, part in future.result():
                    parts[index] = part
                    done += jobs[index][1]
                if progress is not None:
                    progress(done)

        if executor is not None:
            gather(executor)
        else:
            method = "fork" if "fork" in get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(max_workers=min(n_workers, len(tasks)), mp_context=get_context(method)) as pool:
                gather(pool)
    arrays = {name: np.concatenate([p[name] for p in parts if p is not None]) for name in parts[0] or {}}
    return BatchResult(design=design, alpha=alpha, conf_level=conf_level, ties=tie_method, **arrays)


def default_workers() -> int:
    """Worker processes for this machine: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, eq=False)
class BatchResult:
    """Operating characteristics of a design: per-replicate statistics as (replicates, looks) arrays.

    ``z``: stratified log-rank Z of the experimental arm (negative favours it); ``log_hr``/``se_log_hr``:
    stratified Cox estimate and Wald SE (NaN where it does not exist); ``median_control`` /
    ``median_experimental``: Kaplan–Meier medians in months (NaN if not reached); ``events`` (and per arm);
    ``subjects``: enrolled by the cut; ``analysis_month``: calendar month of the cut; ``reached``: the look's
    target number of events was reached.
    """

    design: BatchDesign
    alpha: float
    conf_level: float
    ties: Ties
    z: FloatArray
    log_hr: FloatArray
    se_log_hr: FloatArray
    median_control: FloatArray
    median_experimental: FloatArray
    analysis_month: FloatArray
    events: IntArray
    events_control: IntArray
    events_experimental: IntArray
    subjects: IntArray
    reached: BoolArray
    converged: BoolArray
    tied: BoolArray

    @property
    def replicates(self) -> int:
        return int(self.z.shape[0])

    @property
    def p(self) -> FloatArray:
        """One-sided log-rank p-value for the experimental arm being better: Φ(Z)."""
        return np.asarray(special.ndtr(self.z), dtype=np.float64)

    @property
    def hr(self) -> FloatArray:
        return np.exp(self.log_hr)

    @property
    def hr_ci(self) -> FloatArray:
        """(replicates, looks, 2) Wald confidence limits of the HR at ``conf_level``."""
        zq = float(special.ndtri(0.5 + self.conf_level / 2.0))
        return np.stack([np.exp(self.log_hr - zq * self.se_log_hr), np.exp(self.log_hr + zq * self.se_log_hr)], axis=-1)

    @property
    def medians(self) -> FloatArray:
        """(replicates, looks, 2) Kaplan–Meier medians: control, experimental."""
        return np.stack([self.median_control, self.median_experimental], axis=-1)

    def rejected(self, bounds: Sequence[float] | None = None) -> BoolArray:
        """(replicates, looks): Z crosses the efficacy bound at that look. ``bounds``: z-values on the
        "positive favours experimental" scale of ``trialtwin.design.gsd_bounds`` (reject when −Z ≥ b); default
        z_{1−α} at every look."""
        b = self._bounds(bounds)
        with np.errstate(invalid="ignore"):
            return np.asarray(-self.z >= b[None, :], dtype=np.bool_)

    def _bounds(self, bounds: Sequence[float] | None) -> FloatArray:
        looks = self.z.shape[1]
        if bounds is None:
            return np.full(looks, float(special.ndtri(1.0 - self.alpha)))
        b = np.asarray(bounds, dtype=np.float64)
        if b.shape != (looks,):
            raise BatchInputError(f"bounds: expected {looks} efficacy bounds (one per look), got {list(b)}")
        return b

    def crossing(self, bounds: Sequence[float] | None = None, futility: Sequence[float] | None = None) -> pd.DataFrame:
        """Group-sequential operating characteristics: per look, the probability of stopping there for
        efficacy (−Z ≥ bound, first crossing) or for futility (−Z < futility bound, non-binding as in
        ``gsd_bounds``: the efficacy bound is checked first), with Monte-Carlo SEs and cumulative power."""
        b = self._bounds(bounds)
        looks = self.z.shape[1]
        f = np.full(looks, -np.inf) if futility is None else np.asarray(futility, dtype=np.float64)
        if f.shape != (looks,):
            raise BatchInputError(f"futility: expected {looks} bounds (one per look), got {list(f)}")
        stat = np.nan_to_num(-self.z, nan=-np.inf)
        active = np.ones(self.replicates, dtype=np.bool_)
        rows = []
        cumulative = 0.0
        for k in range(looks):
            eff = active & (stat[:, k] >= b[k])
            fut = active & ~eff & (stat[:, k] < f[k])
            p_eff = float(eff.mean())
            p_fut = float(fut.mean())
            cumulative += p_eff
            rows.append(
                {
                    "look": k + 1,
                    "events": float(self.events[:, k].mean()),
                    "analysis_month": float(self.analysis_month[:, k].mean()),
                    "efficacy_z": b[k],
                    "futility_z": f[k],
                    "p_efficacy": p_eff,
                    "p_efficacy_mc_se": math.sqrt(p_eff * (1 - p_eff) / self.replicates),
                    "p_futility": p_fut,
                    "p_futility_mc_se": math.sqrt(p_fut * (1 - p_fut) / self.replicates),
                    "power_cumulative": cumulative,
                    "mc_se": math.sqrt(cumulative * (1 - cumulative) / self.replicates),
                }
            )
            active &= ~eff & ~fut
        frame = pd.DataFrame(rows).set_index("look")
        frame.attrs["footnote"] = (
            f"{self.replicates:,} simulated trials; efficacy when −Z ≥ bound (first crossing), futility when −Z is "
            "below the futility bound; Monte-Carlo SE √(p(1 − p)/R)."
        )
        return frame

    @property
    def summary(self) -> pd.DataFrame:
        """One row per look: mean events and calendar month, power (Z < −z_{1−α}, i.e. one-sided p < α) with its
        Monte-Carlo SE √(p(1 − p)/R), the HR distribution and the mean KM medians."""
        rej = self.rejected()
        rows = []
        for k, cut in enumerate(self.design.looks):
            power = float(rej[:, k].mean())
            hr = self.hr[:, k]
            rows.append(
                {
                    "look": k + 1,
                    "cut": cut.label,
                    "events": float(self.events[:, k].mean()),
                    "subjects": float(self.subjects[:, k].mean()),
                    "analysis_month": float(self.analysis_month[:, k].mean()),
                    "reached": float(self.reached[:, k].mean()),
                    "power": power,
                    "power_mc_se": math.sqrt(power * (1.0 - power) / self.replicates),
                    "mean_z": float(np.nanmean(self.z[:, k])),
                    "median_hr": float(np.nanmedian(hr)),
                    "p_hr_below_1": float(np.mean(hr < 1.0)),
                    "median_control": float(np.nanmean(self.median_control[:, k])),
                    "median_experimental": float(np.nanmean(self.median_experimental[:, k])),
                }
            )
        frame = pd.DataFrame(rows).set_index("look")
        frame.attrs["footnote"] = (
            f"{self.replicates:,} simulated trials of {self.design.name}; power = P(log-rank Z < −z_(1−α)), "
            f"one-sided α = {self.alpha:g}; stratified log-rank and Cox ({self.ties.value} ties); "
            "KM medians in months (mean over trials reaching them)."
        )
        return frame
