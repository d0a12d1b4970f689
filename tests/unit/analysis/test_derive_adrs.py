"""ADRS derivation rules (trialtwin.analysis.derive.adrs): OVR, BOR, RSP and CBR per assessor.

Reference values: RECIST 1.1 (Eisenhauer 2009 §4.4: ORR = CR + PR; duration of SD from randomization until
progression) and EVER-132-002's ``response_rules.cbr_sd_min_days`` = 182 (CR + PR + SD ≥ 6 months, an assumption
marked in the study file), applied by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import _frames_factory as ff
import pandas as pd
import pytest

from trialtwin.analysis.derive import DerivationError, derive_adrs
from trialtwin.protocol import Protocol

CUTOFF = ff.day(700)


def _adrs(rec: ff.Record, protocol: Protocol) -> pd.DataFrame:
    return derive_adrs(rec.frames(), protocol, cutoff=CUTOFF)


def _value(adrs: pd.DataFrame, paramcd: str, assessor: str = "BICR", sid: str = "S1") -> str:
    rows = adrs[(adrs["SUBJID"] == sid) & (adrs["PARAMCD"] == paramcd) & (adrs["ASSESSOR"] == assessor)]
    assert len(rows) == 1
    return str(rows["AVALC"].iloc[0])


def test_ovr_one_row_per_time_point_and_assessor(ever: Protocol) -> None:
    """OVR: every time point on or before the cut-off, per assessor, in date order; AVAL codes CR=1 … NE=6."""
    rec = ff.Record().subject("S1").scans("S1", {84: "PR", 42: "SD", 126: "NE", 701: "PD"})
    rec.scans("S1", {42: "SD", 84: "PD"}, assessor="investigator")
    adrs = _adrs(rec, ever)
    ovr = adrs[adrs["PARAMCD"] == "OVR"]
    assert list(zip(ovr["ASSESSOR"], ovr["ADT"], ovr["AVALC"], ovr["AVAL"], strict=True)) == [
        ("BICR", ff.stamp(42), "SD", 3),
        ("BICR", ff.stamp(84), "PR", 2),
        ("BICR", ff.stamp(126), "NE", 6),
        ("investigator", ff.stamp(42), "SD", 3),
        ("investigator", ff.stamp(84), "PD", 5),
    ]
    assert set(ovr["RSEVAL"]) == {"INDEPENDENT ASSESSOR", "INVESTIGATOR"}
    assert ovr["ADY"].tolist() == [43, 85, 127, 43, 85]
    assert ovr["PARAM"].iloc[0] == "Overall Response by BICR"


def test_bor_from_the_best_response_frame_with_its_date(ever: Protocol) -> None:
    """BOR is the engine's decision (confirmation applied there); ADT = response date, progression date for PD."""
    rec = ff.Record().subject("S1").subject("S2").scans("S1", {42: "PR", 84: "PR"})
    rec.best("S1", "PR", response_day=42).best("S2", "PD", progression_day=42)
    adrs = _adrs(rec, ever)
    bor = adrs[(adrs["PARAMCD"] == "BOR") & (adrs["ASSESSOR"] == "BICR")].set_index("SUBJID")
    assert (bor.loc["S1", "AVALC"], bor.loc["S1", "ADT"], bor.loc["S1", "AVAL"]) == ("PR", ff.stamp(42), 2)
    assert (bor.loc["S2", "AVALC"], bor.loc["S2", "ADT"]) == ("PD", ff.stamp(42))


def test_every_randomized_subject_gets_bor_rsp_cbr_for_each_assessor(ever: Protocol) -> None:
    """No best-response row (no post-baseline assessment): BOR NE, RSP N, CBR N, for BICR and investigator."""
    adrs = _adrs(ff.Record().subject("S1"), ever)
    summary = adrs[["PARAMCD", "ASSESSOR", "AVALC"]].apply(tuple, axis=1).tolist()
    assert summary == [
        ("BOR", "BICR", "NE"),
        ("BOR", "investigator", "NE"),
        ("RSP", "BICR", "N"),
        ("RSP", "investigator", "N"),
        ("CBR", "BICR", "N"),
        ("CBR", "investigator", "N"),
    ]
    assert adrs.loc[adrs["PARAMCD"] == "BOR", "ADT"].isna().all()


RSP_RULES = [("CR", "Y"), ("PR", "Y"), ("SD", "N"), ("NON-CR/NON-PD", "N"), ("PD", "N"), ("NE", "N")]


@pytest.mark.parametrize(("bor", "expected"), RSP_RULES, ids=[f"BOR {b} -> RSP {e}" for b, e in RSP_RULES])
def test_objective_response_is_cr_or_pr(ever: Protocol, bor: str, expected: str) -> None:
    rec = ff.Record().subject("S1").scans("S1", {42: "SD"}).best("S1", bor, response_day=42)
    assert _value(_adrs(rec, ever), "RSP") == expected


# (rule, build, expected CBR)
CBR_RULES: list[tuple[str, Callable[[ff.Record], object], str]] = [
    (
        "PR: clinical benefit whatever its duration",
        lambda r: r.scans("S1", {42: "PR", 84: "PR"}).best("S1", "PR", response_day=42),
        "Y",
    ),
    ("CR: clinical benefit", lambda r: r.scans("S1", {42: "CR", 84: "CR"}).best("S1", "CR", response_day=42), "Y"),
    (
        "SD lasting 181 days to the last assessment: no benefit",
        lambda r: r.scans("S1", {42: "SD", 181: "SD"}).best("S1", "SD", response_day=42),
        "N",
    ),
    (
        "SD lasting 182 days to the last assessment: benefit",
        lambda r: r.scans("S1", {42: "SD", 182: "SD"}).best("S1", "SD", response_day=42),
        "Y",
    ),
    (
        "SD until progression at day 181: no benefit",
        lambda r: r.scans("S1", {42: "SD", 126: "SD", 181: "PD"}).best(
            "S1", "SD", response_day=42, progression_day=181
        ),
        "N",
    ),
    (
        "SD until progression at day 182: benefit (SD lasts until progression criteria are met)",
        lambda r: r.scans("S1", {42: "SD", 126: "SD", 182: "PD"}).best(
            "S1", "SD", response_day=42, progression_day=182
        ),
        "Y",
    ),
    (
        "SD whose last adequate assessment is before 182 days: NE scans later do not extend it",
        lambda r: r.scans("S1", {42: "SD", 126: "SD", 190: "NE"}).best("S1", "SD", response_day=42),
        "N",
    ),
    (
        "SD with the 182-day scan after the cut-off: no benefit yet",
        lambda r: (
            r.subject("S1", rand_day=520)
            .scans("S1", {42: "SD", 126: "SD", 182: "SD"})
            .best("S1", "SD", response_day=42)
        ),
        "N",
    ),
    (
        "NON-CR/NON-PD lasting 182 days: benefit like SD",
        lambda r: r.scans("S1", {42: "NON-CR/NON-PD", 189: "NON-CR/NON-PD"}).best(
            "S1", "NON-CR/NON-PD", response_day=42
        ),
        "Y",
    ),
    ("PD: no benefit", lambda r: r.scans("S1", {42: "PD"}).best("S1", "PD", progression_day=42), "N"),
    ("NE: no benefit", lambda r: r.scans("S1", {42: "NE"}).best("S1", "NE"), "N"),
]


@pytest.mark.parametrize(("rule", "build", "expected"), CBR_RULES, ids=[r[0] for r in CBR_RULES])
def test_clinical_benefit(ever: Protocol, rule: str, build: Callable[[ff.Record], object], expected: str) -> None:
    rec = ff.Record().subject("S1", rand_day=0)
    build(rec)
    assert _value(_adrs(rec, ever), "CBR") == expected, rule


def test_cbr_threshold_comes_from_the_protocol(ever: Protocol) -> None:
    """cbr_sd_min_days is read from protocol.response_rules (here lowered to 120 days)."""
    rules = ever.response_rules.model_copy(update={"cbr_sd_min_days": 120})
    shorter = ever.model_copy(update={"response_rules": rules})
    rec = ff.Record().subject("S1").scans("S1", {42: "SD", 126: "SD"}).best("S1", "SD", response_day=42)
    assert (_value(_adrs(rec, ever), "CBR"), _value(_adrs(rec, shorter), "CBR")) == ("N", "Y")
    adrs = _adrs(rec, shorter)
    assert adrs.loc[adrs["PARAMCD"] == "CBR", "PARAM"].iloc[0] == "Clinical Benefit (CR, PR or SD >= 120 days) by BICR"


def test_best_response_after_the_cutoff_is_rejected(ever: Protocol) -> None:
    rec = ff.Record().subject("S1").scans("S1", {42: "SD"}).best("S1", "PR", response_day=710)
    with pytest.raises(DerivationError, match=r"subject 'S1' \(BICR\) has a best response dated after the cut-off"):
        _adrs(rec, ever)


def test_assessors_follow_protocol_and_frames(tropics: Protocol) -> None:
    """TROPiCS-02 names only BICR; with no investigator reads in the frames there are no investigator rows."""
    adrs = _adrs(ff.Record().subject("S1", strata=ff.first_levels(tropics)), tropics)
    assert set(adrs["ASSESSOR"]) == {"BICR"}


def test_rows_carry_arm_and_strata_and_are_sorted(ever: Protocol) -> None:
    rec = ff.Record().subject("S2", arm="tpc").subject("S1").scans("S1", {42: "SD"}).best("S1", "SD", response_day=42)
    adrs = _adrs(rec, ever)
    assert adrs["SUBJID"].tolist() == sorted(adrs["SUBJID"])
    first = adrs.groupby("SUBJID")["PARAMN"].apply(lambda s: s.is_monotonic_increasing)
    assert first.all()
    assert set(adrs.loc[adrs["SUBJID"] == "S2", "ARMCD"]) == {"tpc"}
    assert {"ARM", "STRAT1", "STRAT2V", "STRATAR", "ITTFL"} <= set(adrs.columns)
    assert all(c.isupper() and len(c) <= 8 for c in adrs.columns)
