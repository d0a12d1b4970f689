"""ADSL derivation rules (trialtwin.analysis.derive.adsl), one test or table row per rule clause.

Reference values are the rules themselves (module docstring of adsl.py, CDISC ADaM IG v1.3 §3.2, SDTM IG DM for
ACTARM), applied by hand to small hand-made records.
"""

from __future__ import annotations

from collections.abc import Callable

import _frames_factory as ff
import pandas as pd
import pytest

from trialtwin.analysis.derive import DerivationError, derive_adsl, derive_all, strata_variables
from trialtwin.protocol import Protocol

CUTOFF = ff.day(400)


def _one(rec: ff.Record, protocol: Protocol, sid: str = "S1", cutoff: object = CUTOFF) -> pd.Series:
    adsl = derive_adsl(rec.frames(), protocol, cutoff=cutoff)
    return adsl.set_index("SUBJID").loc[sid]


# ---- actual treatment ---------------------------------------------------------------------------------------

ACTARM_RULES: list[tuple[str, Callable[[ff.Record], None], str, str]] = [
    (
        "as randomized: the arm's own drug given",
        lambda r: r.subject("S1", arm="sg").doses("S1", [0, 7]),
        "sg",
        "Sacituzumab Govitecan-hziy",
    ),
    (
        "as randomized: a physician's-choice drug of the arm",
        lambda r: r.subject("S1", arm="tpc").dose("S1", 0),
        "tpc",
        "Treatment of Physician's Choice (TPC)",
    ),
    (
        "the other arm's drug given: treated as that arm",
        lambda r: r.subject("S1", arm="sg").dose("S1", 0, drug="eribulin"),
        "tpc",
        "Treatment of Physician's Choice (TPC)",
    ),
    (
        "drug matched case-insensitively by regimen id",
        lambda r: r.subject("S1", arm="sg").dose("S1", 0, drug="SG"),
        "sg",
        "Sacituzumab Govitecan-hziy",
    ),
    (
        "a drug no arm holds: Unplanned Treatment",
        lambda r: r.subject("S1").dose("S1", 0, drug="paclitaxel"),
        "UNPLAN",
        "Unplanned Treatment",
    ),
    (
        "drugs of two arms: Unplanned Treatment",
        lambda r: r.subject("S1").dose("S1", 0).dose("S1", 7, drug="eribulin"),
        "UNPLAN",
        "Unplanned Treatment",
    ),
    ("no dose: Not Treated", lambda r: r.subject("S1"), "NOTTRT", "Not Treated"),
    (
        "held doses only (dose 0): Not Treated",
        lambda r: r.subject("S1").dose("S1", 0, action="hold"),
        "NOTTRT",
        "Not Treated",
    ),
    ("dose after the cut-off ignored: Not Treated", lambda r: r.subject("S1").dose("S1", 401), "NOTTRT", "Not Treated"),
]


@pytest.mark.parametrize(("rule", "build", "code", "label"), ACTARM_RULES, ids=[r[0] for r in ACTARM_RULES])
def test_actarm(ever: Protocol, rule: str, build: Callable[[ff.Record], None], code: str, label: str) -> None:
    rec = ff.Record()
    build(rec)
    row = _one(rec, ever)
    assert (row["ACTARMCD"], row["ACTARM"]) == (code, label), rule
    treated = code != "NOTTRT"
    assert row["SAFFL"] == ("Y" if treated else "N")
    assert row["TRT01A"] == (label if treated else None)


def test_not_treated_has_no_treatment_dates_or_actual_number(ever: Protocol) -> None:
    row = _one(ff.Record().subject("S1"), ever)
    assert pd.isna(row["TRTSDT"]) and pd.isna(row["TRTEDT"]) and pd.isna(row["TRTDURD"])
    assert pd.isna(row["TRT01AN"])
    assert row["EOTSTT"] is None


def test_treatment_dates_are_first_and_last_dose_given(ever: Protocol) -> None:
    """TRTSDT/TRTEDT: first/last exposure date with dose > 0 on or before the cut-off; a trailing hold and a dose
    after the cut-off do not count; TRTDURD = TRTEDT - TRTSDT + 1."""
    rec = ff.Record().subject("S1").doses("S1", [2, 9, 23]).dose("S1", 30, action="hold").dose("S1", 420)
    row = _one(rec, ever)
    assert row["TRTSDT"] == ff.stamp(2)
    assert row["TRTEDT"] == ff.stamp(23)
    assert row["TRTDURD"] == 22.0
    assert row["TRT01AN"] == 1.0 and row["TRT01PN"] == 1.0


def test_treatment_dates_fall_back_to_the_subjects_frame(ever: Protocol) -> None:
    """A first-dose date in `subjects` without dose rows in `exposure`: treated, as randomized."""
    frames = ff.Record().subject("S1", arm="tpc").frames()
    frames["subjects"].loc[0, "first_dose_date"] = ff.stamp(3)
    row = derive_adsl(frames, ever, cutoff=CUTOFF).iloc[0]
    assert (row["TRTSDT"], row["TRTEDT"], row["SAFFL"], row["ACTARMCD"]) == (ff.stamp(3), ff.stamp(3), "Y", "tpc")


def test_duplicate_subject_is_named(ever: Protocol) -> None:
    frames = ff.Record().subject("S1").frames()
    frames["subjects"] = pd.concat([frames["subjects"]] * 2, ignore_index=True)
    with pytest.raises(DerivationError, match="subject 'S1' appears more than once"):
        derive_adsl(frames, ever, cutoff=CUTOFF)


def test_identifiers_demographics_and_itt(ever: Protocol) -> None:
    rec = ff.Record().subject("S1", sex="male", age=61.0, site="KR-003").dose("S1", 0)
    row = _one(rec, ever)
    assert row["STUDYID"] == "EVER-132-002"
    assert row["USUBJID"] == "EVER-132-002-S1"
    assert (row["SITEID"], row["COUNTRY"], row["SEX"], row["AGE"], row["AGEU"]) == (
        "KR-003",
        "China",
        "M",
        61.0,
        "YEARS",
    )
    assert (row["ARMCD"], row["ARM"], row["TRT01P"]) == (
        "sg",
        "Sacituzumab Govitecan-hziy",
        "Sacituzumab Govitecan-hziy",
    )
    assert row["REGIMEN"] == "sg"
    assert row["ITTFL"] == "Y"
    assert row["RANDDT"] == ff.stamp(0)


def test_one_row_per_randomized_subject_sorted_and_later_randomizations_excluded(ever: Protocol) -> None:
    """Population: randomized on or before the cut-off; rows sorted by USUBJID whatever the input order."""
    rec = ff.Record().subject("S3").subject("S1").subject("S2", rand_day=400).subject("S4", rand_day=401)
    adsl = derive_adsl(rec.frames(), ever, cutoff=CUTOFF)
    assert adsl["SUBJID"].tolist() == ["S1", "S2", "S3"]
    assert (adsl["ITTFL"] == "Y").all()


def test_strata_as_randomized_codes_labels_and_key(ever: Protocol) -> None:
    """STRATn = level code of factor n (protocol order), STRATnV = its label, STRATAR = the stratum key."""
    levels = {"prior_lines": "3-4", "visceral": "no", "prior_cdk46": "yes"}
    row = _one(ff.Record().subject("S1", strata=levels), ever)
    assert [row[f"STRAT{n}"] for n in (1, 2, 3)] == ["3-4", "no", "yes"]
    assert [row[f"STRAT{n}V"] for n in (1, 2, 3)] == ["3-4 lines", "No visceral metastasis", "Prior CDK4/6 inhibitor"]
    assert row["STRATAR"] == "prior_lines=3-4|visceral=no|prior_cdk46=yes"
    variables = strata_variables(ever)
    assert [(v.code_column, v.label_column, v.factor_id) for v in variables] == [
        ("STRAT1", "STRAT1V", "prior_lines"),
        ("STRAT2", "STRAT2V", "visceral"),
        ("STRAT3", "STRAT3V", "prior_cdk46"),
    ]


def test_strata_read_from_the_stratum_key_without_strat_columns(ever: Protocol) -> None:
    levels = {"prior_lines": "2", "visceral": "no", "prior_cdk46": "yes"}
    row = _one(ff.Record().subject("S1", strata=levels, strat_columns=False), ever)
    assert [row[f"STRAT{n}"] for n in (1, 2, 3)] == ["2", "no", "yes"]


def test_unknown_stratum_level_is_named(ever: Protocol) -> None:
    rec = ff.Record().subject("S1", strata={"prior_lines": "5+", "visceral": "no", "prior_cdk46": "yes"})
    with pytest.raises(DerivationError, match=r"subject 'S1' has level '5\+' for stratification factor 'prior_lines'"):
        derive_adsl(rec.frames(), ever, cutoff=CUTOFF)


def test_unknown_arm_is_named(ever: Protocol) -> None:
    rec = ff.Record().subject("S1", arm="placebo", regimen="sg")
    with pytest.raises(DerivationError, match=r"subject 'S1' has arm 'placebo'"):
        derive_adsl(rec.frames(), ever, cutoff=CUTOFF)


def test_cutoff_must_be_a_date(ever: Protocol) -> None:
    with pytest.raises(DerivationError, match="cutoff: expected a date"):
        derive_adsl(ff.Record().subject("S1").frames(), ever, cutoff="2021-01-01")  # type: ignore[arg-type]


# ---- end of treatment / study, death ------------------------------------------------------------------------

DISPOSITION_RULES: list[tuple[str, Callable[[ff.Record], None], dict[str, object]]] = [
    (
        "end of treatment for progression: DISCONTINUED, CDISC reason",
        lambda r: r.disposition("S1", "end_of_treatment", 120, "progression"),
        {"EOTSTT": "DISCONTINUED", "EOTDT": ff.stamp(120), "DCTREAS": "PROGRESSIVE DISEASE", "EOSSTT": "ONGOING"},
    ),
    (
        "end of treatment completed: COMPLETED",
        lambda r: r.disposition("S1", "end_of_treatment", 120, "completed"),
        {"EOTSTT": "COMPLETED", "DCTREAS": "COMPLETED"},
    ),
    (
        "no end of treatment while treated: ONGOING",
        lambda r: None,
        {"EOTSTT": "ONGOING", "DCTREAS": None, "EOSSTT": "ONGOING", "DTHFL": None},
    ),
    (
        "end of treatment after the cut-off: ONGOING",
        lambda r: r.disposition("S1", "end_of_treatment", 401, "adverse_event"),
        {"EOTSTT": "ONGOING", "DCTREAS": None},
    ),
    (
        "end of study for withdrawal",
        lambda r: r.disposition("S1", "end_of_study", 200, "withdrawal"),
        {"EOSSTT": "DISCONTINUED", "EOSDT": ff.stamp(200), "DCSREAS": "WITHDRAWAL BY SUBJECT"},
    ),
    (
        "death without an end-of-study record ends the study at the death date",
        lambda r: r.death("S1", 150, "progressive_disease"),
        {
            "EOSSTT": "DISCONTINUED",
            "EOSDT": ff.stamp(150),
            "DCSREAS": "DEATH",
            "DTHFL": "Y",
            "DTHDT": ff.stamp(150),
            "DTHCAUS": "PROGRESSIVE DISEASE",
        },
    ),
    (
        "death after the cut-off ignored",
        lambda r: r.death("S1", 401),
        {"DTHFL": None, "EOSSTT": "ONGOING", "DTHCAUS": None},
    ),
]


@pytest.mark.parametrize(("rule", "build", "expected"), DISPOSITION_RULES, ids=[r[0] for r in DISPOSITION_RULES])
def test_disposition_and_death(
    ever: Protocol, rule: str, build: Callable[[ff.Record], None], expected: dict[str, object]
) -> None:
    rec = ff.Record().subject("S1").dose("S1", 0)
    build(rec)
    row = _one(rec, ever)
    got = {k: (None if pd.isna(row[k]) and not isinstance(row[k], str) else row[k]) for k in expected}
    assert got == expected, rule


# ---- last known alive ---------------------------------------------------------------------------------------

LSTALVDT_RULES: list[tuple[str, Callable[[ff.Record], None], int]] = [
    ("nothing after randomization: the randomization date", lambda r: None, 0),
    ("a tumour assessment", lambda r: r.scan("S1", 84, "SD", assessor="investigator"), 84),
    ("a dose given", lambda r: r.dose("S1", 63), 63),
    ("a held dose is no contact", lambda r: r.dose("S1", 70, action="hold"), 0),
    ("a laboratory sample", lambda r: r.lab("S1", 90), 90),
    ("an adverse-event onset", lambda r: r.ae("S1", "Nausea", 1, 95), 95),
    ("an adverse-event resolution", lambda r: r.ae("S1", "Nausea", 1, 20, 110), 110),
    ("a disposition milestone", lambda r: r.disposition("S1", "end_of_treatment", 130, "progression"), 130),
    ("the latest of several", lambda r: r.lab("S1", 50).scan("S1", 42, "SD").ae("S1", "Fatigue", 2, 30, 61), 61),
    ("dates after the cut-off ignored", lambda r: r.lab("S1", 120).lab("S1", 401), 120),
    ("the death date when the subject died", lambda r: r.lab("S1", 300).death("S1", 200), 200),
]


@pytest.mark.parametrize(("rule", "build", "expected"), LSTALVDT_RULES, ids=[r[0] for r in LSTALVDT_RULES])
def test_last_known_alive(ever: Protocol, rule: str, build: Callable[[ff.Record], None], expected: int) -> None:
    rec = ff.Record().subject("S1")
    build(rec)
    assert _one(rec, ever)["LSTALVDT"] == ff.stamp(expected), rule


# ---- shape -------------------------------------------------------------------------------------------------


def test_variable_names_are_upper_case_and_fit_sas_transport(ever: Protocol) -> None:
    adsl = derive_adsl(ff.Record().subject("S1").dose("S1", 0).frames(), ever, cutoff=CUTOFF)
    assert all(c.isupper() and len(c) <= 8 for c in adsl.columns)
    assert adsl["RANDDT"].dtype == "datetime64[ns]" and adsl["LSTALVDT"].dtype == "datetime64[ns]"


def test_no_subjects_gives_an_empty_adsl_with_every_column(ever: Protocol) -> None:
    empty = derive_adsl(ff.Record().frames(), ever, cutoff=CUTOFF)
    full = derive_adsl(ff.Record().subject("S1").frames(), ever, cutoff=CUTOFF)
    assert empty.empty
    assert list(empty.columns) == list(full.columns)


def test_derive_all_returns_the_four_datasets_built_on_one_adsl(ever: Protocol) -> None:
    rec = (
        ff.Record()
        .subject("S1")
        .dose("S1", 0)
        .scan("S1", 42, "SD")
        .ae("S1", "Nausea", 2, 3)
        .best("S1", "SD", response_day=42)
    )
    frames = rec.frames()
    out = derive_all(frames, ever, cutoff=CUTOFF)
    assert set(out) == {"ADSL", "ADTTE", "ADRS", "ADAE"}
    pd.testing.assert_frame_equal(out["ADSL"], derive_adsl(frames, ever, cutoff=CUTOFF))
    assert set(out["ADTTE"]["PARAMCD"]) == {"PFS", "PFSINV", "OS"}
    assert len(out["ADAE"]) == 1
    again = derive_all(frames, ever, cutoff=CUTOFF)
    for name, dataset in out.items():
        pd.testing.assert_frame_equal(dataset, again[name])
