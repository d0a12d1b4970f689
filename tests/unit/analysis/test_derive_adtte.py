"""ADTTE derivation rules (trialtwin.analysis.derive.adtte): PFS censoring, OS, times, parameters.

Reference values: the PFS censoring conventions of FDA Guidance for Industry "Clinical Trial Endpoints for the
Approval of Cancer Drugs and Biologics" (Dec 2018), "Example tables for PFS analysis" Table A, as stated in
adtte.py, applied by hand to EVER-132-002's tumour-assessment calendar (every 6 weeks ±7 days to week 36, then every
9 weeks): two missed scans plus the window allow a gap of 2×42+7 = 91 days early on and 2×63+7 = 133 days from
week 36.
"""

from __future__ import annotations

from collections.abc import Callable

import _frames_factory as ff
import pandas as pd
import pytest

from trialtwin.analysis.derive import DAYS_PER_MONTH, derive_adsl, derive_adtte, tte_parameters
from trialtwin.analysis.derive.adtte import (
    ALIVE,
    AT_LAST_ADEQUATE,
    AT_LAST_ALIVE,
    AT_RANDOMIZATION,
    DEATH,
    MISSED,
    NEW_THERAPY,
    NO_ASSESSMENT,
    NO_EVENT,
    PROGRESSION,
)
from trialtwin.protocol import Protocol

CUTOFF_DAY = 700


def _row(
    rec: ff.Record, protocol: Protocol, paramcd: str = "PFS", cutoff_day: int = CUTOFF_DAY, **kw: int
) -> pd.Series:
    adtte = derive_adtte(rec.frames(), protocol, cutoff=ff.day(cutoff_day), **kw)
    rows = adtte[(adtte["SUBJID"] == "S1") & (adtte["PARAMCD"] == paramcd)]
    assert len(rows) == 1
    return rows.iloc[0]


# (rule, build, censored?, ADT day, EVNTDESC, CNSDTDSC)
PFS_RULES: list[tuple[str, Callable[[ff.Record], object], int, int, str, str | None]] = [
    ("no post-baseline assessment: censored at randomization", lambda r: None, 1, 0, NO_ASSESSMENT, AT_RANDOMIZATION),
    (
        "only NE assessments: censored at randomization",
        lambda r: r.scans("S1", {42: "NE", 84: "NE"}),
        1,
        0,
        NO_ASSESSMENT,
        AT_RANDOMIZATION,
    ),
    (
        "no event: censored at the last adequate assessment",
        lambda r: r.scans("S1", {42: "SD", 84: "PR"}),
        1,
        84,
        NO_EVENT,
        AT_LAST_ADEQUATE,
    ),
    (
        "no event: NE assessments ignored for the censoring date",
        lambda r: r.scans("S1", {42: "SD", 84: "SD", 126: "NE", 168: "NE"}),
        1,
        84,
        NO_EVENT,
        AT_LAST_ADEQUATE,
    ),
    (
        "progression: event at the first PD time point",
        lambda r: r.scans("S1", {42: "SD", 84: "PD", 126: "PD"}),
        0,
        84,
        PROGRESSION,
        None,
    ),
    (
        "progression after an NE scan within two intervals: event",
        lambda r: r.scans("S1", {42: "SD", 84: "NE", 126: "PD"}),
        0,
        126,
        PROGRESSION,
        None,
    ),
    (
        "death without progression: event at death",
        lambda r: r.scans("S1", {42: "SD"}).death("S1", 70),
        0,
        70,
        DEATH,
        None,
    ),
    (
        "progression before death: event at progression",
        lambda r: r.scans("S1", {42: "SD", 84: "PD"}).death("S1", 100),
        0,
        84,
        PROGRESSION,
        None,
    ),
    (
        "death before progression: event at death",
        lambda r: r.scans("S1", {42: "SD", 84: "PD"}).death("S1", 80),
        0,
        80,
        DEATH,
        None,
    ),
    (
        "death before any assessment, within two intervals (91 days): event",
        lambda r: r.death("S1", 91),
        0,
        91,
        DEATH,
        None,
    ),
    (
        "death without assessment after two intervals: censored at randomization",
        lambda r: r.death("S1", 92),
        1,
        0,
        NO_ASSESSMENT,
        AT_RANDOMIZATION,
    ),
    (
        "progression after two missed scans (gap 98 > 91 days): censored at the last adequate assessment",
        lambda r: r.scans("S1", {42: "SD", 140: "PD"}),
        1,
        42,
        MISSED,
        AT_LAST_ADEQUATE,
    ),
    (
        "progression at the edge of two intervals + window (gap 91 days): event",
        lambda r: r.scans("S1", {42: "SD", 133: "PD"}),
        0,
        133,
        PROGRESSION,
        None,
    ),
    (
        "death after two missed scans: censored at the last adequate assessment",
        lambda r: r.scans("S1", {42: "SD"}).death("S1", 134),
        1,
        42,
        MISSED,
        AT_LAST_ADEQUATE,
    ),
    (
        "from week 36 the interval is 9 weeks: gap of 133 days is an event",
        lambda r: r.scans("S1", {252: "SD", 385: "PD"}),
        0,
        385,
        PROGRESSION,
        None,
    ),
    (
        "from week 36 the interval is 9 weeks: gap of 134 days is censored",
        lambda r: r.scans("S1", {252: "SD", 386: "PD"}),
        1,
        252,
        MISSED,
        AT_LAST_ADEQUATE,
    ),
    (
        "new anticancer therapy before progression: censored at the last adequate assessment before it",
        lambda r: r.scans("S1", {42: "SD", 84: "SD", 126: "PD"}).disposition("S1", "new_anticancer_therapy", 100, "x"),
        1,
        84,
        NEW_THERAPY,
        AT_LAST_ADEQUATE,
    ),
    (
        "new anticancer therapy on the day of an assessment: censored at that assessment",
        lambda r: r.scans("S1", {42: "SD", 84: "SD"}).disposition("S1", "new_anticancer_therapy", 84, "x"),
        1,
        84,
        NEW_THERAPY,
        AT_LAST_ADEQUATE,
    ),
    (
        "new anticancer therapy before death without progression: censored",
        lambda r: r.scans("S1", {42: "SD"}).disposition("S1", "new_anticancer_therapy", 60, "x").death("S1", 90),
        1,
        42,
        NEW_THERAPY,
        AT_LAST_ADEQUATE,
    ),
    (
        "new anticancer therapy before any adequate assessment: censored at randomization",
        lambda r: r.scans("S1", {42: "NE", 84: "PD"}).disposition("S1", "new_anticancer_therapy", 50, "x"),
        1,
        0,
        NEW_THERAPY,
        AT_RANDOMIZATION,
    ),
    (
        "new anticancer therapy after progression: the progression counts",
        lambda r: r.scans("S1", {42: "SD", 84: "PD"}).disposition("S1", "new_anticancer_therapy", 90, "x"),
        0,
        84,
        PROGRESSION,
        None,
    ),
    (
        "progression after the cut-off ignored: censored at the last adequate assessment",
        lambda r: r.scans("S1", {42: "SD", 84: "SD", 701: "PD"}).death("S1", 720),
        1,
        84,
        NO_EVENT,
        AT_LAST_ADEQUATE,
    ),
    (
        "progression on the cut-off date counts",
        lambda r: r.scans("S1", {630: "SD", 700: "PD"}),
        0,
        700,
        PROGRESSION,
        None,
    ),
    (
        "new anticancer therapy after the cut-off ignored",
        lambda r: r.scans("S1", {42: "SD", 84: "PD"}).disposition("S1", "new_anticancer_therapy", 701, "x"),
        0,
        84,
        PROGRESSION,
        None,
    ),
    (
        "investigator reads do not count for PFS by BICR",
        lambda r: r.scans("S1", {42: "SD"}).scan("S1", 84, "PD", assessor="investigator"),
        1,
        42,
        NO_EVENT,
        AT_LAST_ADEQUATE,
    ),
]


@pytest.mark.parametrize(
    ("rule", "build", "cnsr", "adt_day", "evntdesc", "cnsdtdsc"), PFS_RULES, ids=[r[0] for r in PFS_RULES]
)
def test_pfs_censoring_rules(
    ever: Protocol,
    rule: str,
    build: Callable[[ff.Record], object],
    cnsr: int,
    adt_day: int,
    evntdesc: str,
    cnsdtdsc: str | None,
) -> None:
    rec = ff.Record().subject("S1").dose("S1", 0)
    build(rec)
    row = _row(rec, ever)
    assert (row["CNSR"], row["ADT"], row["EVNTDESC"], row["CNSDTDSC"]) == (
        cnsr,
        ff.stamp(adt_day),
        evntdesc,
        cnsdtdsc,
    ), rule
    assert row["AVALD"] == adt_day + 1


def test_pfs_by_investigator_uses_investigator_reads(ever: Protocol) -> None:
    rec = ff.Record().subject("S1").scans("S1", {42: "SD", 84: "SD"})
    rec.scans("S1", {42: "SD", 84: "PD"}, assessor="investigator")
    assert (_row(rec, ever, "PFS")["CNSR"], _row(rec, ever, "PFSINV")["CNSR"]) == (1, 0)
    assert _row(rec, ever, "PFSINV")["ADT"] == ff.stamp(84)


def test_missed_assessments_is_a_parameter(ever: Protocol) -> None:
    """With three missed scans allowed the gap is 3×42+7 = 133 days, so a gap of 98 days is an event."""
    rec = ff.Record().subject("S1").scans("S1", {42: "SD", 140: "PD"})
    assert _row(rec, ever, missed_assessments=2)["CNSR"] == 1
    assert _row(rec, ever, missed_assessments=3)["CNSR"] == 0


def test_no_calendar_no_missed_assessment_rule(ever: Protocol) -> None:
    """Without protocol.tumour_assessment the missed-scan rule cannot be applied: the late event counts."""
    no_calendar = ever.model_copy(update={"tumour_assessment": None})
    rec = ff.Record().subject("S1").scans("S1", {42: "SD", 300: "PD"})
    assert _row(rec, ever)["CNSR"] == 1
    assert _row(rec, no_calendar)["CNSR"] == 0


# ---- OS ---------------------------------------------------------------------------------------------------

OS_RULES: list[tuple[str, Callable[[ff.Record], object], int, int, str, str | None]] = [
    ("death: event at the death date", lambda r: r.scans("S1", {42: "PD"}).death("S1", 300), 0, 300, DEATH, None),
    (
        "alive: censored at the last known alive date",
        lambda r: r.lab("S1", 250).scan("S1", 210, "SD"),
        1,
        250,
        ALIVE,
        AT_LAST_ALIVE,
    ),
    (
        "death after the cut-off: censored at the last known alive date",
        lambda r: r.lab("S1", 650).death("S1", 701),
        1,
        650,
        ALIVE,
        AT_LAST_ALIVE,
    ),
]


@pytest.mark.parametrize(
    ("rule", "build", "cnsr", "adt_day", "evntdesc", "cnsdtdsc"), OS_RULES, ids=[r[0] for r in OS_RULES]
)
def test_os_rules(
    ever: Protocol,
    rule: str,
    build: Callable[[ff.Record], object],
    cnsr: int,
    adt_day: int,
    evntdesc: str,
    cnsdtdsc: str | None,
) -> None:
    rec = ff.Record().subject("S1").dose("S1", 0)
    build(rec)
    row = _row(rec, ever, "OS")
    assert (row["CNSR"], row["ADT"], row["EVNTDESC"], row["CNSDTDSC"]) == (cnsr, ff.stamp(adt_day), evntdesc, cnsdtdsc)


def test_aval_in_months_and_days_from_randomization(ever: Protocol) -> None:
    """AVALD = ADT - STARTDT + 1 (randomization is day 1); AVAL = AVALD / 30.4375 months; STARTDT = RANDDT."""
    rec = ff.Record().subject("S1", rand_day=10).scans("S1", {42: "SD", 84: "PD"})
    row = _row(rec, ever)
    assert row["STARTDT"] == row["RANDDT"] == ff.stamp(10)
    assert row["AVALD"] == 85.0
    assert row["AVAL"] == pytest.approx(85.0 / 30.4375)
    assert DAYS_PER_MONTH == 30.4375


def test_parameters_follow_the_protocol_endpoints(ever: Protocol, tropics: Protocol) -> None:
    """EVER-132-002 has PFS by BICR, PFS by investigator and OS; TROPiCS-02's file has no investigator PFS."""
    assert [p.paramcd for p in tte_parameters(ever)] == ["PFS", "PFSINV", "OS"]
    assert [p.endpoint for p in tte_parameters(ever)] == ["PFS-BICR", "PFS-INV", "OS"]
    assert [p.paramcd for p in tte_parameters(tropics)] == ["PFS", "OS"]


def test_one_row_per_subject_and_parameter_sorted_with_adsl_columns(ever: Protocol) -> None:
    rec = ff.Record().subject("S2", arm="tpc").subject("S1").dose("S1", 0)
    frames = rec.frames()
    adtte = derive_adtte(frames, ever, cutoff=ff.day(CUTOFF_DAY))
    assert list(zip(adtte["SUBJID"], adtte["PARAMCD"], strict=True)) == [
        ("S1", "PFS"),
        ("S1", "PFSINV"),
        ("S1", "OS"),
        ("S2", "PFS"),
        ("S2", "PFSINV"),
        ("S2", "OS"),
    ]
    assert adtte["ARMCD"].tolist() == ["sg"] * 3 + ["tpc"] * 3
    assert {"STRAT1", "STRAT1V", "STRATAR", "ARM", "USUBJID", "ITTFL"} <= set(adtte.columns)
    assert all(c.isupper() and len(c) <= 8 for c in adtte.columns)
    adsl = derive_adsl(frames, ever, cutoff=ff.day(CUTOFF_DAY))
    pd.testing.assert_frame_equal(adtte, derive_adtte(frames, ever, adsl=adsl, cutoff=ff.day(CUTOFF_DAY)))
