"""ADAE: adverse-event analysis dataset (CDISC ADaM Occurrence Data Structure, ADaM OCCDS v1.1 / ADAE v1.0),
one row per adverse event of a safety-population subject (ADSL ``SAFFL`` = ``Y``), CTCAE v5.0 grades.

Rules, with sources:

- **Cut-off.** Events with onset after the cut-off are unknown; a resolution after it is unknown (``AENDT`` null:
  ongoing at the cut-off).
- **Terms.** ``AETERM`` = ``AEDECOD`` = the CTCAE v5.0 term of the frame (CTCAE v5.0 terms are MedDRA v20.1 lowest
  level terms, so the term is its own dictionary-derived term; no MedDRA coding is done here).
- **Grade.** ``AETOXGR`` = the CTCAE grade, numeric 1-5 here (SDTM keeps it as text; ADaM ATOXGRN is the numeric
  twin — one numeric column keeps the safety tables simple).
- **Dates.** ``ASTDT``/``AENDT`` = onset/resolution; ``ASTDY``/``AENDY`` = study days relative to ``TRTSDT``
  (day 1 = first dose, no day 0; ADaM IG §3.3.3, SDTM IG §4.4.4).
- **Serious.** ``AESER`` = ``Y``/``N``.
- **Treatment-emergent** (``TRTEMFL`` = ``Y``, else null; ICH E9 glossary "treatment emergent", the usual SAP
  window as in FDA's safety tables guidance): onset on or after the first dose (``ASTDT >= TRTSDT``) and on or
  before the last dose plus ``teae_window_days`` (``ASTDT <= TRTEDT + 30`` by default), both ends inclusive.
- **Worst grade** (``WORSTFL`` = ``Y``, else null; like ADaM OCCDS ``AOCCPFL`` for the maximum grade): among the
  treatment-emergent events of a subject with the same ``AEDECOD``, the one with the highest ``AETOXGR``; ties go
  to the earliest onset, then the lowest ``AESEQ``. Exactly one row per subject and term with a TEAE.
- **Sequence.** ``AESEQ`` = 1, 2, ... per subject in order of onset, then term.

Rows sorted by ``USUBJID``, ``AESEQ``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialtwin.analysis.derive._common import DerivationError, Subjects, adsl_keys, choose, cutoff_stamp, frame
from trialtwin.analysis.derive.adsl import derive_adsl
from trialtwin.protocol.model import Protocol

#: Days after the last dose during which a new adverse event is still treatment-emergent (SAP convention).
TEAE_WINDOW_DAYS = 30

ADAE_COLUMNS = (
    "AESEQ",
    "AETERM",
    "AEDECOD",
    "AETOXGR",
    "AESER",
    "ASTDT",
    "AENDT",
    "ASTDY",
    "AENDY",
    "TRTEMFL",
    "WORSTFL",
)


def derive_adae(
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    adsl: pd.DataFrame | None = None,
    teae_window_days: int = TEAE_WINDOW_DAYS,
    cutoff: dt.date,
) -> pd.DataFrame:
    """ADAE from validated frames at the cut-off, safety population only (rules: module docstring)."""
    if teae_window_days < 0:
        raise DerivationError(f"teae_window_days: must be 0 or more, got {teae_window_days}")
    stamp = cutoff_stamp(cutoff)
    if adsl is None:
        adsl = derive_adsl(frames, protocol, cutoff=cutoff)
    adsl = adsl.reset_index(drop=True)
    keys = adsl_keys(adsl)
    population = Subjects(adsl["SUBJID"])
    safety = (adsl["SAFFL"] == "Y").to_numpy()
    events = frame(frames, "adverse_events")
    codes = population.codes(events["subject_id"])
    start = events["start_date"].to_numpy(dtype="datetime64[ns]")
    keep = (codes >= 0) & safety[np.where(codes >= 0, codes, 0)] & (start <= stamp.to_datetime64())
    rows = np.flatnonzero(keep)
    term_codes, _ = pd.factorize(events["term"].to_numpy(dtype=object)[rows], sort=True)
    order = rows[np.lexsort((term_codes, start[rows].view(np.int64), codes[rows]))]
    subject = codes[order]
    ae = events.iloc[order]

    out = adsl[keys].iloc[subject].reset_index(drop=True)
    first_of_subject = np.r_[True, subject[1:] != subject[:-1]] if len(subject) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first_of_subject)
    out["AESEQ"] = np.arange(len(subject)) - np.repeat(starts, np.diff(np.r_[starts, len(subject)])) + 1
    out["AETERM"] = ae["term"].to_numpy(dtype=object)
    out["AEDECOD"] = out["AETERM"]
    out["AETOXGR"] = ae["grade"].to_numpy(dtype=np.int64)
    out["AESER"] = choose(ae["serious"].to_numpy(dtype=bool), "Y", "N")
    out["ASTDT"] = ae["start_date"].to_numpy(dtype="datetime64[ns]")
    out["AENDT"] = ae["end_date"].where(ae["end_date"] <= stamp).to_numpy(dtype="datetime64[ns]")
    out["ASTDY"] = _study_day(out["ASTDT"], out["TRTSDT"])
    out["AENDY"] = _study_day(out["AENDT"], out["TRTSDT"])
    window = pd.Timedelta(days=teae_window_days)
    emergent = ((out["ASTDT"] >= out["TRTSDT"]) & (out["ASTDT"] <= out["TRTEDT"] + window)).to_numpy()
    out["TRTEMFL"] = choose(emergent, "Y", None)
    out["WORSTFL"] = choose(_worst(subject, out["AEDECOD"], out["AETOXGR"], emergent), "Y", None)
    return out[[*keys, *ADAE_COLUMNS]]


def _worst(
    subject: npt.NDArray[np.intp], term: pd.Series, grade: pd.Series, emergent: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """The worst-grade row per subject and term among emergent rows (rows already in AESEQ order, so the first
    row of a (subject, term, -grade) sort is the earliest onset, then the lowest AESEQ)."""
    term_codes, _ = pd.factorize(term.to_numpy(dtype=object))
    rows = np.flatnonzero(emergent)
    order = rows[np.lexsort((rows, -grade.to_numpy(dtype=np.int64)[rows], term_codes[rows], subject[rows]))]
    out = np.zeros(len(subject), dtype=bool)
    if len(order):
        s, t = subject[order], term_codes[order]
        out[order[np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])]]] = True
    return out


def _study_day(date: pd.Series, reference: pd.Series) -> pd.Series:
    """ADaM study day: ``date - reference + 1`` on or after the reference, ``date - reference`` before it."""
    days = (date - reference).dt.days
    return days.where(days < 0, days + 1).astype(float)
