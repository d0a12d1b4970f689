"""ADAE derivation rules (trialtwin.analysis.derive.adae): safety population, treatment-emergent window, worst grade.

Reference values: the rules of adae.py (TEAE = onset from the first dose to the last dose + 30 days, both
inclusive; worst grade per subject and term among TEAEs), applied by hand.
"""

from __future__ import annotations

import _frames_factory as ff
import pandas as pd
import pytest

from trialtwin.analysis.derive import TEAE_WINDOW_DAYS, DerivationError, derive_adae
from trialtwin.protocol import Protocol

CUTOFF = ff.day(400)


def _treated() -> ff.Record:
    """S1: doses on days 10 and 31 (first dose day 10, last dose day 31)."""
    return ff.Record().subject("S1").doses("S1", [10, 31])


# (rule, onset day, window, expected TRTEMFL)
TEAE_RULES = [
    ("onset the day before the first dose: not emergent", 9, 30, None),
    ("onset on the first-dose day: emergent", 10, 30, "Y"),
    ("onset between doses: emergent", 20, 30, "Y"),
    ("onset on last dose + 30 days: emergent (inclusive)", 61, 30, "Y"),
    ("onset on last dose + 31 days: not emergent", 62, 30, None),
    ("window 0: onset on the last-dose day is emergent", 31, 0, "Y"),
    ("window 0: onset the day after the last dose is not", 32, 0, None),
]


@pytest.mark.parametrize(("rule", "onset", "window", "expected"), TEAE_RULES, ids=[r[0] for r in TEAE_RULES])
def test_treatment_emergent_window(ever: Protocol, rule: str, onset: int, window: int, expected: str | None) -> None:
    rec = _treated().ae("S1", "Nausea", 1, onset)
    adae = derive_adae(rec.frames(), ever, teae_window_days=window, cutoff=CUTOFF)
    assert adae["TRTEMFL"].tolist() == [expected], rule


def test_default_window_is_30_days() -> None:
    assert TEAE_WINDOW_DAYS == 30


def test_negative_window_is_rejected(ever: Protocol) -> None:
    with pytest.raises(DerivationError, match="teae_window_days: must be 0 or more"):
        derive_adae(_treated().frames(), ever, teae_window_days=-1, cutoff=CUTOFF)


def test_worst_grade_per_subject_and_term_among_teaes(ever: Protocol) -> None:
    """WORSTFL: one row per subject and term; highest grade; ties to the earliest onset; pre-treatment events never
    flagged; each term and each subject separately."""
    rec = _treated().subject("S2").doses("S2", [0])
    rec.ae("S1", "Neutrophil count decreased", 2, 15, 20)
    rec.ae("S1", "Neutrophil count decreased", 4, 36, 40)
    rec.ae("S1", "Neutrophil count decreased", 3, 45)
    rec.ae("S1", "Diarrhea", 2, 12).ae("S1", "Diarrhea", 2, 40)
    rec.ae("S1", "Fatigue", 3, 2)  # before the first dose: not a TEAE, never the worst
    rec.ae("S1", "Fatigue", 1, 50)
    rec.ae("S2", "Neutrophil count decreased", 1, 5)
    adae = derive_adae(rec.frames(), ever, cutoff=CUTOFF)
    flagged = adae.loc[adae["WORSTFL"] == "Y", ["SUBJID", "AEDECOD", "AETOXGR", "ASTDT"]]
    assert sorted(flagged.itertuples(index=False, name=None)) == [
        ("S1", "Diarrhea", 2, ff.stamp(12)),
        ("S1", "Fatigue", 1, ff.stamp(50)),
        ("S1", "Neutrophil count decreased", 4, ff.stamp(36)),
        ("S2", "Neutrophil count decreased", 1, ff.stamp(5)),
    ]
    assert adae["WORSTFL"].isin(["Y", None]).all()


def test_safety_population_only(ever: Protocol) -> None:
    """ADAE holds subjects with SAFFL = Y: an untreated subject's events are left out."""
    rec = _treated().subject("S0").ae("S0", "Nausea", 1, 3).ae("S1", "Nausea", 1, 12)
    adae = derive_adae(rec.frames(), ever, cutoff=CUTOFF)
    assert adae["SUBJID"].tolist() == ["S1"]
    assert (adae["SAFFL"] == "Y").all()


def test_cutoff_drops_later_onsets_and_hides_later_resolutions(ever: Protocol) -> None:
    rec = _treated().ae("S1", "Nausea", 1, 12, 401).ae("S1", "Fatigue", 2, 401).ae("S1", "Rash", 1, 15, 400)
    adae = derive_adae(rec.frames(), ever, cutoff=CUTOFF).set_index("AETERM")
    assert sorted(adae.index) == ["Nausea", "Rash"]
    assert pd.isna(adae.loc["Nausea", "AENDT"])
    assert adae.loc["Rash", "AENDT"] == ff.stamp(400)


def test_event_variables(ever: Protocol) -> None:
    """AETERM = AEDECOD (CTCAE term), numeric AETOXGR, AESER Y/N, study days from the first dose (no day 0),
    AESEQ in order of onset."""
    rec = _treated().ae("S1", "Diarrhea", 3, 40, 45, serious=True).ae("S1", "Anemia", 2, 5)
    adae = derive_adae(rec.frames(), ever, cutoff=CUTOFF)
    assert adae["AESEQ"].tolist() == [1, 2]
    assert adae["AETERM"].tolist() == ["Anemia", "Diarrhea"] == adae["AEDECOD"].tolist()
    assert adae["AETOXGR"].tolist() == [2, 3] and adae["AETOXGR"].dtype == "int64"
    assert adae["AESER"].tolist() == ["N", "Y"]
    assert adae["ASTDY"].tolist() == [-5.0, 31.0]
    assert adae["AENDY"].iloc[1] == 36.0 and pd.isna(adae["AENDY"].iloc[0])
    assert {"TRT01A", "ACTARM", "TRTSDT", "TRTEDT", "STRAT1", "USUBJID"} <= set(adae.columns)
    assert all(c.isupper() and len(c) <= 8 for c in adae.columns)


def test_no_events_gives_an_empty_adae_with_every_column(ever: Protocol) -> None:
    empty = derive_adae(_treated().frames(), ever, cutoff=CUTOFF)
    full = derive_adae(_treated().ae("S1", "Nausea", 1, 12).frames(), ever, cutoff=CUTOFF)
    assert empty.empty
    assert list(empty.columns) == list(full.columns)
