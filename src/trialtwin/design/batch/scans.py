"""Scan-aware observation: progression is seen only at the protocol's scheduled tumour assessments.

RECIST 1.1 §4.3 dates progression at the assessment that documents it, and trials assess tumours on a calendar
counted from randomization with visit windows (EVER-132-002: every 6 weeks to week 36, then every 9 weeks, ±7
days; its protocol's ``tumour_assessment``). The batched engine draws a latent progression time; in scan-aware
mode the PFS event is the first scheduled assessment on or after it (a death before that assessment counts at
the death date), and a subject without an observed event is censored at the last assessment on or before the
earlier of dropout and the analysis cut (FDA Guidance "Clinical Trial Endpoints for the Approval of Cancer Drugs
and Biologics", 2018, appendix Table A: "Progression documented", "Death between adequate assessment visits",
"No progression").

Every actual scan day is its nominal day (7 × week) plus an offset in whole days within the window: a normal
offset with SD ``jitter_sd`` × window, rounded and clipped to the window — the twin's model
(``trialtwin.sim.trial._scans``). Offsets are independent per (subject, scan). They are not stored: the offset of
scan j of a subject is a hash of the subject's 32-bit key and j (MurmurHash3's 32-bit finalizer, Appleby 2011),
so every look of a replicate sees the same scans, and only the one or two scans near a time are ever computed.
Because consecutive windows do not overlap (checked), the first scan on or after a time t is the first nominal
scan whose window can reach t, or the next one; the last scan on or before t likewise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from trialtwin.design.batch.statistics import BatchInputError
from trialtwin.protocol.model import TumourAssessmentSchedule

F32Array = npt.NDArray[np.float32]
U32Array = npt.NDArray[np.uint32]

#: Days per month (Julian year / 12), as the twin (trialtwin.sim.population) and ADaM AVAL (30.4375).
DAYS_PER_MONTH = 365.25 / 12
_GOLDEN = np.uint32(0x9E3779B9)


@dataclass(frozen=True, slots=True)
class ScanSchedule:
    """Tumour assessments counted from randomization: ``phases`` are ``(every_weeks, until_week, window_days)``
    (``until_week`` None for the last, open-ended phase), as ``protocol.tumour_assessment.phases``. ``jitter_sd``:
    SD of the day offset within the window as a fraction of the window (0.4 = window / 2.5, the twin's).
    ``horizon_years``: how far the calendar is expanded (scans beyond it are never reached)."""

    phases: tuple[tuple[int, int | None, int], ...]
    jitter_sd: float = 0.4
    horizon_years: float = 30.0

    def __post_init__(self) -> None:
        phases = tuple(tuple(p) for p in self.phases)
        if not phases:
            raise BatchInputError("scans.phases: give at least one (every_weeks, until_week, window_days)")
        clean: list[tuple[int, int | None, int]] = []
        for i, phase in enumerate(phases):
            if len(phase) != 3:
                raise BatchInputError(f"scans.phases[{i}]: expected (every_weeks, until_week, window_days)")
            every, until, window = phase
            if not isinstance(every, int) or every < 1:
                raise BatchInputError(f"scans.phases[{i}]: every_weeks must be a whole number ≥ 1, got {every!r}")
            if until is not None and (not isinstance(until, int) or until < every):
                raise BatchInputError(f"scans.phases[{i}]: until_week must be a whole number ≥ every_weeks")
            if (until is None) != (i == len(phases) - 1):
                raise BatchInputError(f"scans.phases[{i}]: only the last phase is open-ended (until_week None)")
            if not isinstance(window, int) or window < 0:
                raise BatchInputError(f"scans.phases[{i}]: window_days must be a whole number ≥ 0, got {window!r}")
            clean.append((every, until, window))
        object.__setattr__(self, "phases", tuple(clean))
        if not (math.isfinite(self.jitter_sd) and self.jitter_sd > 0):
            raise BatchInputError(f"scans.jitter_sd: must be a positive fraction of the window, got {self.jitter_sd!r}")
        if not (math.isfinite(self.horizon_years) and 1 <= self.horizon_years <= 60):
            raise BatchInputError(f"scans.horizon_years: must be in [1, 60], got {self.horizon_years!r}")
        days, windows = self.calendar()
        lo, hi = days - windows, days + windows
        if np.any(lo[1:] <= hi[:-1]) or lo[0] <= 0:
            raise BatchInputError("scans: consecutive scan windows overlap (or the first reaches randomization)")

    @classmethod
    def from_protocol(cls, schedule: TumourAssessmentSchedule, *, jitter_sd: float = 0.4) -> ScanSchedule:
        """The on-study scans of a protocol's ``tumour_assessment`` (the baseline scan decides nothing here)."""
        return cls(tuple((p.every_weeks, p.until_week, p.window_days) for p in schedule.phases), jitter_sd=jitter_sd)

    def calendar(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Nominal day (from randomization) and ± window of every scan up to the horizon."""
        max_week = int(self.horizon_years * 365.25 / 7)
        days: list[int] = []
        windows: list[int] = []
        week = 0
        for every, until, window in self.phases:
            end = until if until is not None else max_week
            while week + every <= min(end, max_week):
                week += every
                days.append(7 * week)
                windows.append(window)
        return np.asarray(days, dtype=np.int64), np.asarray(windows, dtype=np.int64)

    def nominal_months(self) -> tuple[float, ...]:
        """Nominal scan times in months (e.g. for a Kaplan–Meier plot's ticks)."""
        return tuple(float(d) / DAYS_PER_MONTH for d in self.calendar()[0])

    @property
    def label(self) -> str:
        parts = [
            f"every {e} weeks" + (f" to week {u}" if u is not None else "") + f" (±{w} d)" for e, u, w in self.phases
        ]
        return ", then ".join(parts)

    # ---- vectorized look-ups ------------------------------------------------------------------------------

    def first_index(self, months: F32Array, key: U32Array) -> npt.NDArray[np.int32]:
        """Index (0-based) of each subject's first actual scan on or after ``months`` (≥ the number of scans
        beyond the horizon or for ∞)."""
        t = _tables(self)
        days = months * np.float32(DAYS_PER_MONTH)
        whole = np.ceil(days)
        np.minimum(whole, np.float32(t.limit), out=whole)
        k: npt.NDArray[np.int32] = np.take(t.count_hi_below, whole.astype(np.intp))  # windows ending before it
        k += _actual_day(t, k, key) < days
        return k

    def scan_months(self, k: npt.NDArray[np.int32], key: U32Array) -> F32Array:
        """Months from randomization of each subject's scan ``k`` (∞ for k beyond the horizon)."""
        t = _tables(self)
        out = _actual_day(t, np.maximum(k, 0), key).astype(np.float32)
        out /= np.float32(DAYS_PER_MONTH)
        np.copyto(out, np.float32(np.inf), where=k >= t.count)
        return out

    def first_on_or_after(self, months: F32Array, key: U32Array) -> F32Array:
        """Months from randomization of each subject's first actual scan on or after ``months`` (∞ beyond the
        horizon or for ∞)."""
        return self.scan_months(self.first_index(months, key), key)

    def last_on_or_before(self, months: F32Array, key: U32Array) -> F32Array:
        """Months from randomization of each subject's last actual scan on or before ``months`` (0 when there is
        none: censored at randomization)."""
        t = _tables(self)
        days = months * np.float32(DAYS_PER_MONTH)
        whole = np.floor(days)
        np.clip(whole, np.float32(-1), np.float32(t.limit), out=whole)
        whole += 1  # index 0 is "before day 0"
        k = np.take(t.count_lo_at_most, whole.astype(np.intp)) - 1  # last scan whose window starts by the time
        actual = _actual_day(t, np.maximum(k, 0), key)
        early = (actual > days) & (k >= 0)
        k -= early
        actual = np.where(early, _actual_day(t, np.maximum(k, 0), key), actual)
        out = actual.astype(np.float32)
        out /= np.float32(DAYS_PER_MONTH)
        np.copyto(out, np.float32(0.0), where=k < 0)
        return out


#: Shift meaning "never documented" in a ``Reading``.
NEVER = 99
#: Bits of the uniform draw that picks a reading shift (probabilities resolved to 2⁻¹²).
_READING_BITS = 12


@dataclass(frozen=True, slots=True)
class Reading:
    """How a reader documents progression relative to the first scan on or after the latent progression time:
    ``rows[i][j]`` is the probability that the documenting scan is ``shifts[j]`` scans from it when that first
    scan is scan ``i`` (0-based; the last row holds for all later scans). ``NEVER`` (99) as a shift: never
    documented. Reading variability arises because readers measure lesions with error against the RECIST 1.1
    §4.3.1 thresholds (20 % and 5 mm over the nadir), so regrowth can be called a scan early or late."""

    shifts: tuple[int, ...]
    rows: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        shifts = tuple(int(x) for x in self.shifts)
        rows = tuple(tuple(float(p) for p in row) for row in self.rows)
        if not shifts or not rows or any(len(r) != len(shifts) for r in rows):
            raise BatchInputError("reading: every row needs one probability per shift")
        if any(p < 0 or not math.isfinite(p) for r in rows for p in r) or any(abs(sum(r) - 1) > 1e-6 for r in rows):
            raise BatchInputError("reading: each row must be probabilities summing to 1")
        object.__setattr__(self, "shifts", shifts)
        object.__setattr__(self, "rows", rows)

    @classmethod
    def early_late(cls, early: float, late: float) -> Reading:
        """One scan early with probability ``early``, one late with ``late``, whatever the scan."""
        return cls((-1, 0, 1), ((early, 1.0 - early - late, late),))

    def table(self) -> npt.NDArray[np.int16]:
        """(rows, 2¹²) shift for each row and each 12-bit uniform (inversion at the bucket's mid-point)."""
        u = (np.arange(2**_READING_BITS) + 0.5) / 2**_READING_BITS
        out = np.empty((len(self.rows), u.shape[0]), dtype=np.int16)
        for i, row in enumerate(self.rows):
            cum = np.cumsum(row)
            out[i] = np.asarray(self.shifts, dtype=np.int16)[np.minimum(np.searchsorted(cum, u), len(row) - 1)]
        return out


def reading_shift(
    readings: tuple[Reading, Reading], arm: npt.NDArray[np.uint8], k: npt.NDArray[np.int32], bits: U32Array
) -> npt.NDArray[np.int16]:
    """Each subject's shift of the documenting scan: row ``min(k, rows − 1)`` of its arm's ``Reading``."""
    tables = [r.table() for r in readings]
    n_rows = max(t.shape[0] for t in tables)
    full = np.stack([np.concatenate([t, np.repeat(t[-1:], n_rows - t.shape[0], axis=0)]) for t in tables])
    row = np.minimum(k, n_rows - 1).astype(np.intp)
    index = arm.astype(np.intp) * n_rows
    index += row
    index <<= _READING_BITS
    index += bits >> np.uint32(32 - _READING_BITS)
    shift: npt.NDArray[np.int16] = np.take(full.ravel(), index)
    return shift


@dataclass(frozen=True, slots=True, eq=False)
class _ScanTables:
    count: int
    limit: int  # last day of the look-up tables
    nominal: npt.NDArray[np.int32]  # (count + 2,) nominal day (padded)
    window_index: npt.NDArray[np.intp]  # (count + 2,) row of the jitter table
    jitter: npt.NDArray[np.int8]  # (distinct windows, 65536) day offset for each 16-bit uniform
    count_hi_below: npt.NDArray[np.int32]  # [d]: scans with nominal + window < d
    count_lo_at_most: npt.NDArray[np.int32]  # [d + 1]: scans with nominal − window ≤ d


@lru_cache(maxsize=16)
def _tables(schedule: ScanSchedule) -> _ScanTables:
    days, windows = schedule.calendar()
    count = int(days.shape[0])
    limit = int(days[-1] + windows[-1] + 1)
    distinct = sorted({int(w) for w in windows})
    # 16-bit uniform u → offset: round(N(0, sd)) clipped to ±w, by inversion at the bin's mid-point
    u = (np.arange(65536, dtype=np.float64) + 0.5) / 65536.0
    z = special.ndtri(u)
    rows = [np.clip(np.rint(z * schedule.jitter_sd * w), -w, w).astype(np.int8) for w in distinct]
    window_index = np.asarray([distinct.index(int(w)) for w in windows], dtype=np.intp)
    nominal = np.concatenate((days, [days[-1], days[-1]])).astype(np.int32)
    window_index = np.concatenate((window_index, [window_index[-1]] * 2))
    grid = np.arange(limit + 1, dtype=np.int64)
    hi_below = np.searchsorted(days + windows, grid, side="left").astype(np.int32)
    lo_at_most = np.searchsorted(days - windows, np.arange(-1, limit + 1), side="right").astype(np.int32)
    return _ScanTables(
        count=count,
        limit=limit,
        nominal=nominal,
        window_index=window_index,
        jitter=np.stack(rows),
        count_hi_below=hi_below,
        count_lo_at_most=lo_at_most,
    )


def _actual_day(t: _ScanTables, k: npt.NDArray[Any], key: U32Array) -> npt.NDArray[np.int32]:
    """Actual day of scan ``k`` of each subject: nominal + the offset hashed from (key, k)."""
    k = np.minimum(k, t.count + 1)
    x = k.astype(np.uint32)
    x += np.uint32(1)
    x *= _GOLDEN
    x ^= key
    # MurmurHash3 fmix32
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    x >>= np.uint32(16)
    flat = np.take(t.window_index, k) * 65536
    flat += x
    offset = np.take(t.jitter.ravel(), flat)
    day = np.take(t.nominal, k)
    day += offset
    return day
