"""What every ADaM derivation shares: the error type, the cut-off, CDISC terms, ADSL keys copied downstream.

Conventions (CDISC ADaM Implementation Guide v1.3, §3): variable names upper case and at most 8 characters (SAS
transport v5, so the datasets can be written as XPT without renaming); dates are ``datetime64[ns]`` at midnight
(numeric dates in ADaM); subject-level population flags are ``Y``/``N``; other flags are ``Y`` or null.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialtwin.protocol.errors import TrialtwinError

#: Days per month for AVAL in months: 365.25 / 12 (the usual SAP convention, e.g. R survival examples, admiral).
DAYS_PER_MONTH = 30.4375

#: CDISC SDTM RSEVAL terms for the two readers of the analysis frames.
RSEVAL = {"BICR": "INDEPENDENT ASSESSOR", "investigator": "INVESTIGATOR"}

#: Frame reason codes → CDISC Controlled Terminology "Completion/Reason for Non-Completion" (NCOMPLT) submission
#: values; a code not listed becomes its words in upper case ("study_terminated" → "STUDY TERMINATED").
_NCOMPLT = {
    "progression": "PROGRESSIVE DISEASE",
    "progressive_disease": "PROGRESSIVE DISEASE",
    "adverse_event": "ADVERSE EVENT",
    "unacceptable_toxicity": "ADVERSE EVENT",
    "withdrawal": "WITHDRAWAL BY SUBJECT",
    "withdrawal_of_consent": "WITHDRAWAL BY SUBJECT",
    "death": "DEATH",
    "investigator_decision": "PHYSICIAN DECISION",
    "physician_decision": "PHYSICIAN DECISION",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "completed": "COMPLETED",
}

#: Columns copied from ADSL into the BDS/OCCDS datasets for analysis (plus the STRATn/STRATnV strata columns).
ADSL_KEYS = (
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "ARM",
    "ARMCD",
    "ACTARM",
    "ACTARMCD",
    "TRT01P",
    "TRT01A",
    "RANDDT",
    "TRTSDT",
    "TRTEDT",
    "ITTFL",
    "SAFFL",
    "STRATAR",
)

_STRATA_COLUMN = re.compile(r"^STRAT\d+V?$")


class DerivationError(TrialtwinError, ValueError):
    """The frames cannot be derived into ADaM datasets; the message names the frame, column, subject and value."""


def cutoff_stamp(cutoff: dt.date) -> pd.Timestamp:
    """The data cut-off as a midnight timestamp; anything dated after it is unknown to the derivation."""
    if not isinstance(cutoff, dt.date):
        raise DerivationError(f"cutoff: expected a date, got {cutoff!r}")
    return pd.Timestamp(cutoff).normalize()


def frame(frames: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A frame by name; a missing one is a :class:`DerivationError` naming it."""
    try:
        return frames[name]
    except KeyError:
        raise DerivationError(f"frames: no {name!r} frame (validate the record with validate_frames)") from None


def ncomplt(codes: pd.Series) -> pd.Series:
    """Reason codes of the frames as CDISC NCOMPLT terms (null stays null)."""
    out = codes.map(lambda c: None if c is None or c != c else _NCOMPLT.get(c, str(c).replace("_", " ").upper()))
    return out.astype("object")


def adsl_keys(adsl: pd.DataFrame) -> list[str]:
    """The ADSL columns copied into ADTTE, ADRS and ADAE: identifiers, arms, key dates, flags and strata."""
    return list(ADSL_KEYS) + [c for c in adsl.columns if _STRATA_COLUMN.match(c)]


_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
_NEVER = np.iinfo(np.int64).max


def _i8(dates: pd.Series) -> npt.NDArray[np.int64]:
    return dates.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _dates(values: npt.NDArray[np.int64]) -> pd.Series:
    return pd.Series(values.view("datetime64[ns]"))


class Subjects:
    """The ADSL subjects by position, for per-subject reductions of event rows in NumPy (no groupby).

    Rows of a frame are mapped to subject positions with :meth:`codes` (-1: not an ADSL subject); the reductions
    return Series aligned with ADSL (RangeIndex), NaT where a subject has no row.
    """

    def __init__(self, subject_ids: pd.Series) -> None:
        self.index = pd.Index(subject_ids.to_numpy())
        self.n = len(self.index)
        if not self.index.is_unique:
            twice = self.index[self.index.duplicated()][0]
            raise DerivationError(f"frame 'subjects': subject {twice!r} appears more than once")

    def codes(self, ids: pd.Series) -> npt.NDArray[np.intp]:
        return np.asarray(self.index.get_indexer(ids.to_numpy()), dtype=np.intp)

    def first(self, ids: pd.Series, dates: pd.Series) -> pd.Series:
        """Earliest date per subject."""
        codes, values = self.codes(ids), _i8(dates)
        keep = (codes >= 0) & (values != _NAT)
        out = np.full(self.n, _NEVER, dtype=np.int64)
        np.minimum.at(out, codes[keep], values[keep])
        out[out == _NEVER] = _NAT
        return _dates(out)

    def last(self, ids: pd.Series, dates: pd.Series, *, on_or_before: pd.Series | None = None) -> pd.Series:
        """Latest date per subject, optionally only dates on or before that subject's ``on_or_before`` (aligned
        with ADSL; NaT there: no date qualifies)."""
        codes, values = self.codes(ids), _i8(dates)
        keep = (codes >= 0) & (values != _NAT)
        if on_or_before is not None:
            bound = _i8(on_or_before)
            keep &= values <= bound[np.where(codes >= 0, codes, 0)]
        out = np.full(self.n, _NAT, dtype=np.int64)
        np.maximum.at(out, codes[keep], values[keep])
        return _dates(out)

    def first_row(self, ids: pd.Series, dates: pd.Series) -> npt.NDArray[np.intp]:
        """Row position (in ``ids``) of each subject's earliest dated row; -1 when it has none. Ties: first row."""
        codes, values = self.codes(ids), _i8(dates)
        rows = np.flatnonzero((codes >= 0) & (values != _NAT))
        order = rows[np.lexsort((values[rows], codes[rows]))]
        out = np.full(self.n, -1, dtype=np.intp)
        found, first = np.unique(codes[order], return_index=True)
        out[found] = order[first]
        return out


def timepoints(
    frames: Mapping[str, pd.DataFrame], population: Subjects, randdt: pd.Series, assessor: str, stamp: pd.Timestamp
) -> pd.DataFrame:
    """``assessor``'s time-point responses of ADSL subjects dated after randomization and on or before the cut-off,
    sorted by subject and date (columns subject_id, date, overall)."""
    responses = frame(frames, "responses")
    codes = population.codes(responses["subject_id"])
    dates = _i8(responses["date"])
    rand = _i8(randdt)[np.where(codes >= 0, codes, 0)]
    keep = (codes >= 0) & (responses["assessor"] == assessor).to_numpy() & (dates > rand) & (dates <= stamp.value)
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((dates[rows], codes[rows]))]
    return responses.iloc[rows][["subject_id", "date", "overall"]].reset_index(drop=True)


def take(values: pd.Series, rows: npt.NDArray[np.intp]) -> pd.Series:
    """``values`` at row positions ``rows`` (-1 → null), with a RangeIndex."""
    array = values.to_numpy()
    picked = array[np.where(rows >= 0, rows, 0)] if len(array) else np.empty(len(rows), dtype=array.dtype)
    out = pd.Series(picked, dtype=values.dtype)
    found = pd.Series(rows >= 0)
    return out.where(found, None) if out.dtype == object else out.where(found)


def day_count(end: pd.Series, start: pd.Series) -> pd.Series:
    """Whole days from ``start`` to ``end`` (float, NaN where either is missing)."""
    delta = (end - start).to_numpy(dtype="timedelta64[ns]")
    out = delta.astype("timedelta64[D]").astype(np.float64)
    out[np.isnat(delta)] = np.nan
    return pd.Series(out, index=end.index)


def choose(mask: object, yes: object, no: object) -> npt.NDArray[np.object_]:
    """Element-wise ``yes if mask else no`` as an object array (scalars, ``None`` or arrays on either side)."""
    picked = np.where(np.asarray(mask, dtype=bool), np.asarray(yes, dtype=object), np.asarray(no, dtype=object))
    return picked.astype(object)


def flag(mask: pd.Series, *, no: str | None = None) -> pd.Series:
    """``"Y"`` where ``mask`` holds, else ``no`` (``None`` for ADaM Y/null flags, ``"N"`` for population flags)."""
    return pd.Series(choose(mask.to_numpy(dtype=bool), "Y", no), index=mask.index, dtype="object")
