"""Shared input checks and the one sort every survival statistic needs.

Every survival statistic here works on right-censored data ``(time, event)`` split into *segments* (arms for
Kaplan–Meier, strata for the log-rank test and the Cox model). The data are sorted once by (segment, time);
rows with the same segment and time form a *block* (a distinct time in that segment). The number at risk at a
block is then a difference of positions — no cumulative sums, no floating-point error — because every row at or
after the block's first row (within the segment) has a time at or after the block's time.

Sorting: ``argsort(time)`` followed by a stable radix sort of the small integer segment codes (NumPy uses radix
sort for stable sorts of ≤16-bit integers), which is about twice as fast as ``np.lexsort`` on 10⁶ rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialtwin.protocol.errors import TrialtwinError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class AnalysisInputError(TrialtwinError, ValueError):
    """Bad input to a statistic: the message names the argument (and row/value) at fault."""


def check_conf_level(conf_level: float) -> float:
    """Confidence level strictly between 0 and 1."""
    level = float(conf_level)
    if not 0.0 < level < 1.0:
        raise AnalysisInputError(f"conf_level: must be strictly between 0 and 1, got {conf_level!r}")
    return level


def _one_d(values: Any, name: str) -> npt.NDArray[Any]:
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.Index) else values)
    if arr.ndim != 1:
        raise AnalysisInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def _first_bad(mask: BoolArray) -> int:
    return int(np.flatnonzero(mask)[0])


def as_time(values: Any, name: str = "time") -> FloatArray:
    """Follow-up times: 1-D, numeric, finite, non-negative (float64 copy)."""
    arr = _one_d(values, name)
    if arr.size == 0:
        raise AnalysisInputError(f"{name}: no observations")
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise AnalysisInputError(f"{name}: values must be numeric (got dtype {arr.dtype})") from None
    out = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        i = _first_bad(bad)
        raise AnalysisInputError(f"{name}: {int(bad.sum())} missing or infinite value(s), first at row {i}")
    neg = out < 0
    if neg.any():
        i = _first_bad(neg)
        raise AnalysisInputError(f"{name}: {int(neg.sum())} negative value(s), first at row {i}: {out[i].item()!r}")
    return out


def as_binary(values: Any, n: int, name: str) -> BoolArray:
    """A 0/1 (or boolean) indicator of length ``n``."""
    arr = _one_d(values, name)
    if arr.shape[0] != n:
        raise AnalysisInputError(f"{name}: length {arr.shape[0]} differs from the data length {n}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if arr.dtype.kind not in "iuf":
        raise AnalysisInputError(f"{name}: values must be 0/1 or boolean (got dtype {arr.dtype})")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i = _first_bad(np.asarray(bad))
        raise AnalysisInputError(f"{name}: values must be 0 or 1, row {i} has {arr[i].item()!r}")
    return np.asarray(arr == 1)


def as_event(values: Any, n: int, name: str = "event") -> BoolArray:
    """Event indicator (1 = event, 0 = censored) of length ``n``."""
    return as_binary(values, n, name)


@dataclass(frozen=True, slots=True, eq=False)
class Factor:
    """A categorical variable coded 0..k-1 in sorted order of its levels."""

    codes: npt.NDArray[np.int16] | npt.NDArray[np.int32]
    levels: tuple[Any, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(level) for level in self.levels)

    @property
    def size(self) -> int:
        return len(self.levels)


def _small_codes(codes: npt.NDArray[Any], k: int) -> npt.NDArray[np.int16] | npt.NDArray[np.int32]:
    # int16 codes let NumPy use a radix sort for the stable segment sort.
    if k <= np.iinfo(np.int16).max:
        return codes.astype(np.int16, copy=False)
    return codes.astype(np.int32, copy=False)


def as_factor(values: Any, n: int, name: str) -> Factor:
    """Code a grouping variable of length ``n`` by its sorted distinct levels (missing values rejected)."""
    arr = _one_d(values, name)
    if arr.shape[0] != n:
        raise AnalysisInputError(f"{name}: length {arr.shape[0]} differs from the data length {n}")
    if arr.dtype.kind in "iub" and arr.size:
        # integer/boolean codes (arm 0/1, stratum numbers): a bincount instead of a hash table
        ints = arr.astype(np.int64, copy=False)
        low, high = int(ints.min()), int(ints.max())
        if high - low < 1_000_000:
            counts = np.bincount(ints - low)
            present = np.flatnonzero(counts)
            lookup = np.cumsum(counts > 0) - 1
            values = (present + low).astype(arr.dtype) if arr.dtype.kind != "b" else present.astype(bool)
            return Factor(codes=_small_codes(lookup[ints - low], present.size), levels=tuple(values.tolist()))
    try:
        codes, uniques = pd.factorize(arr, sort=True, use_na_sentinel=True)
    except TypeError:
        raise AnalysisInputError(f"{name}: levels cannot be sorted (mixed types?)") from None
    if (codes < 0).any():
        i = _first_bad(codes < 0)
        raise AnalysisInputError(f"{name}: missing value at row {i}")
    levels = tuple(np.asarray(uniques).tolist())
    return Factor(codes=_small_codes(codes, len(levels)), levels=levels)


def as_strata(strata: Any, n: int, name: str = "strata") -> Factor:
    """Strata: ``None`` (one stratum), a 1-D array, a DataFrame or an ``(n, k)`` array (levels crossed)."""
    if strata is None:
        return Factor(codes=np.zeros(n, dtype=np.int16), levels=("all",))
    if isinstance(strata, pd.DataFrame):
        columns: Sequence[Any] = [strata[c].to_numpy() for c in strata.columns]
        names = [str(c) for c in strata.columns]
    else:
        arr = np.asarray(strata)
        if arr.ndim == 1:
            return as_factor(arr, n, name)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise AnalysisInputError(
                f"{name}: expected a 1-D array, a DataFrame or an array of shape ({n}, k), got {arr.shape}"
            )
        columns = [arr[:, j] for j in range(arr.shape[1])]
        names = [f"{name}[{j}]" for j in range(arr.shape[1])]
    if len(columns) == 0:
        return as_strata(None, n, name)
    factors = [as_factor(col, n, col_name) for col, col_name in zip(columns, names, strict=True)]
    if len(factors) == 1:
        return factors[0]
    combined = np.zeros(n, dtype=np.int64)
    for f in factors:
        combined = combined * f.size + f.codes
    codes, uniques = np.unique(combined, return_inverse=True)
    levels: list[str] = []
    for key in codes.tolist():
        parts: list[str] = []
        for f in reversed(factors):
            key, j = divmod(key, f.size)
            parts.append(f.labels[j])
        levels.append("/".join(reversed(parts)))
    return Factor(codes=_small_codes(uniques.reshape(-1), len(levels)), levels=tuple(levels))


@dataclass(frozen=True, slots=True, eq=False)
class SortedSurvival:
    """Rows sorted by (segment, time) with their blocks of equal (segment, time).

    ``seg_bounds[s]:seg_bounds[s + 1]`` are the sorted rows of segment ``s``; block ``b`` covers rows
    ``block_start[b]:block_start[b + 1]``; ``block_at_risk[b]`` counts the rows of its segment with time ≥ its time.
    """

    order: IntArray
    time: FloatArray
    event: BoolArray
    seg: npt.NDArray[np.int16] | npt.NDArray[np.int32]
    seg_bounds: IntArray
    block_start: IntArray
    block_seg: IntArray
    block_time: FloatArray
    block_size: IntArray
    block_events: IntArray
    block_at_risk: IntArray
    block_of_row: IntArray
    seg_block_bounds: IntArray

    @property
    def n_blocks(self) -> int:
        return int(self.block_start.shape[0])


def _argsort_time(time: FloatArray) -> npt.NDArray[np.intp]:
    # Times in whole days (the usual ADTTE AVAL) up to 65535 sort by a stable radix sort on uint16, ~6x faster.
    if time.size and float(time.max()) <= np.iinfo(np.uint16).max:
        small = time.astype(np.uint16)
        if np.array_equal(small, time):
            return np.argsort(small, kind="stable")
    return np.argsort(time, kind="quicksort")


def sort_survival(
    time: FloatArray, event: BoolArray, seg_codes: npt.NDArray[np.int16] | npt.NDArray[np.int32], n_seg: int
) -> SortedSurvival:
    """Sort once by (segment, time) and find the blocks of equal (segment, time)."""
    order = _argsort_time(time)
    if n_seg > 1:
        order = order[np.argsort(seg_codes[order], kind="stable")]
    order = order.astype(np.int64, copy=False)
    t = time[order]
    e = event[order]
    s = seg_codes[order]
    n = t.shape[0]
    seg_bounds = np.searchsorted(s, np.arange(n_seg + 1), side="left").astype(np.int64)
    new_block = np.empty(n, dtype=np.bool_)
    new_block[0] = True
    np.not_equal(t[1:], t[:-1], out=new_block[1:])
    new_block[1:] |= s[1:] != s[:-1]
    block_start = np.flatnonzero(new_block).astype(np.int64)
    block_seg = s[block_start].astype(np.int64)
    block_size = np.diff(np.append(block_start, n)).astype(np.int64)
    block_events = np.add.reduceat(e.astype(np.int64), block_start) if n else np.zeros(0, np.int64)
    block_at_risk = seg_bounds[block_seg + 1] - block_start
    block_of_row = np.cumsum(new_block, dtype=np.int64) - 1
    seg_block_bounds = np.searchsorted(block_seg, np.arange(n_seg + 1), side="left").astype(np.int64)
    return SortedSurvival(
        order=order,
        time=t,
        event=e,
        seg=s,
        seg_bounds=seg_bounds,
        block_start=block_start,
        block_seg=block_seg,
        block_time=t[block_start],
        block_size=block_size,
        block_events=block_events,
        block_at_risk=block_at_risk,
        block_of_row=block_of_row,
        seg_block_bounds=seg_block_bounds,
    )


def format_p(p: float) -> str:
    """A p-value for a footnote or table (``<0.0001`` below 10⁻⁴)."""
    if not np.isfinite(p):
        return "NA"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"
