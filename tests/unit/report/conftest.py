"""Hand-made ADaM-shaped datasets and frames for the report tests: 12 subjects, 6 per arm, values chosen so every
count in a table can be checked by eye (the docstring of each fixture lists them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trialtwin.protocol import Protocol

RAND = pd.Timestamp("2021-01-04")
CUTOFF = dt.date(2022, 6, 30)
ARM_LABEL = {"sg": "Sacituzumab Govitecan-hziy", "tpc": "Treatment of Physician's Choice (TPC)"}
SUBJECTS = [f"S{i:02d}" for i in range(1, 7)] + [f"T{i:02d}" for i in range(1, 7)]
ARMCD = ["sg"] * 6 + ["tpc"] * 6

#: PFS in months and censoring (CNSR 1 = censored) per subject, in SUBJECTS order.
PFS_MONTHS = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0]
PFS_CNSR = [0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0]
OS_MONTHS = [5.0, 9.0, 12.0, 14.0, 15.0, 16.0, 3.0, 6.0, 8.0, 9.0, 10.0, 13.0]
OS_CNSR = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1]
#: Best overall response by BICR.
BOR = ["PR", "PR", "SD", "SD", "PD", "NE", "PR", "SD", "SD", "PD", "PD", "SD"]
BEST_PCT = [-45.0, -35.0, -10.0, 5.0, 30.0, None, -40.0, 0.0, -20.0, 150.0, 25.0, 10.0]
CBR = ["Y", "Y", "Y", "N", "N", "N", "Y", "N", "Y", "N", "N", "N"]
STRAT1 = ["2", "3-4"] * 6
STRAT2 = ["yes", "yes", "no"] * 4
STRAT3 = ["no"] * 12
AGE = [45.0, 52.0, 67.0, 38.0, 70.0, 55.0, 48.0, 66.0, 59.0, 41.0, 62.0, 50.0]
COUNTRY = ["China"] * 4 + ["Taiwan"] * 2 + ["China"] * 3 + ["South Korea"] * 3


def _adsl() -> pd.DataFrame:
    n = len(SUBJECTS)
    days = np.array(OS_MONTHS) * 30.4375
    trtedt = [RAND + pd.Timedelta(days=int(d * 0.6)) for d in days]
    died = [c == 0 for c in OS_CNSR]
    eot = ["DISCONTINUED"] * 10 + ["ONGOING"] * 2
    reason: list[Any] = ["PROGRESSIVE DISEASE"] * 7 + ["ADVERSE EVENT", "DEATH", "PROGRESSIVE DISEASE", None, None]
    return pd.DataFrame(
        {
            "STUDYID": "EVER-132-002",
            "USUBJID": [f"EVER-132-002-{s}" for s in SUBJECTS],
            "SUBJID": SUBJECTS,
            "SITEID": "CN-001",
            "COUNTRY": COUNTRY,
            "AGE": AGE,
            "SEX": ["F"] * 11 + ["M"],
            "WEIGHTBL": [55.0 + i for i in range(n)],
            "ARM": [ARM_LABEL[a] for a in ARMCD],
            "ARMCD": ARMCD,
            "ACTARM": [ARM_LABEL[a] for a in ARMCD],
            "ACTARMCD": ARMCD,
            "RANDDT": RAND,
            "TRTSDT": RAND,
            "TRTEDT": trtedt,
            "TRTDURD": [float((e - RAND).days + 1) for e in trtedt],
            "ITTFL": "Y",
            "SAFFL": "Y",
            "STRATAR": [
                f"prior_lines={a}|visceral={b}|prior_cdk46={c}" for a, b, c in zip(STRAT1, STRAT2, STRAT3, strict=True)
            ],
            "STRAT1": STRAT1,
            "STRAT1V": [{"2": "2 lines", "3-4": "3-4 lines"}[v] for v in STRAT1],
            "STRAT2": STRAT2,
            "STRAT2V": [{"yes": "Visceral metastasis", "no": "No visceral metastasis"}[v] for v in STRAT2],
            "STRAT3": STRAT3,
            "STRAT3V": "No prior CDK4/6 inhibitor",
            "EOTSTT": eot,
            "DCTREAS": reason,
            "EOSSTT": ["DISCONTINUED" if d else "ONGOING" for d in died],
            "DCSREAS": ["DEATH" if d else None for d in died],
            "DTHFL": ["Y" if d else None for d in died],
            "DTHDT": [RAND + pd.Timedelta(days=int(x)) if d else pd.NaT for x, d in zip(days, died, strict=True)],
        }
    )


def _keys(adsl: pd.DataFrame) -> pd.DataFrame:
    return adsl[["USUBJID", "SUBJID", "ARM", "ARMCD", "ACTARMCD", "RANDDT", "STRAT1", "STRAT2", "STRAT3"]]


def _adtte(adsl: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for paramcd, param, n, months, cnsr in (
        ("PFS", "Progression-Free Survival by BICR (months)", 1, PFS_MONTHS, PFS_CNSR),
        ("OS", "Overall Survival (months)", 3, OS_MONTHS, OS_CNSR),
    ):
        part = _keys(adsl).copy()
        part["PARAMCD"], part["PARAM"], part["PARAMN"] = paramcd, param, n
        part["AVAL"] = months
        part["AVALD"] = np.round(np.array(months) * 30.4375)
        part["CNSR"] = cnsr
        event = "DISEASE PROGRESSION" if paramcd == "PFS" else "DEATH"
        censored = "NO EVENT BY DATA CUT-OFF" if paramcd == "PFS" else "ALIVE AT DATA CUT-OFF"
        part["EVNTDESC"] = [censored if c else event for c in cnsr]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _adrs(adsl: pd.DataFrame) -> pd.DataFrame:
    parts = []
    base = _keys(adsl)
    for paramcd, values in (("BOR", BOR), ("RSP", ["Y" if b in ("CR", "PR") else "N" for b in BOR]), ("CBR", CBR)):
        part = base.copy()
        part["PARAMCD"], part["ASSESSOR"], part["AVALC"], part["ADT"] = paramcd, "BICR", values, pd.NaT
        parts.append(part)
    ovr = base.copy()
    ovr["PARAMCD"], ovr["ASSESSOR"] = "OVR", "BICR"
    ovr["AVALC"] = ["PR" if b == "PR" else ("PD" if b == "PD" else "SD") for b in BOR]
    ovr["ADT"] = RAND + pd.Timedelta(days=42)
    parts.append(ovr)
    return pd.concat(parts, ignore_index=True)


def _adae(adsl: pd.DataFrame) -> pd.DataFrame:
    """S01: neutropenia grades 2 then 4 (counts once, worst 4); S02: neutropenia 3; S03: diarrhea 1;
    T01: neutropenia 1 and nausea 3 (serious); T02: diarrhea 2 before the first dose (not treatment-emergent)."""
    rows = [
        ("S01", "Neutrophil count decreased", 2, "N", "Y"),
        ("S01", "Neutrophil count decreased", 4, "N", "Y"),
        ("S02", "Neutrophil count decreased", 3, "N", "Y"),
        ("S03", "Diarrhea", 1, "N", "Y"),
        ("T01", "Neutrophil count decreased", 1, "N", "Y"),
        ("T01", "Nausea", 3, "Y", "Y"),
        ("T02", "Diarrhea", 2, "N", None),
    ]
    frame = pd.DataFrame(rows, columns=["SUBJID", "AEDECOD", "AETOXGR", "AESER", "TRTEMFL"])
    return frame.merge(_keys(adsl), on="SUBJID")


def _frames(adsl: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """screening: 16 screened, 4 failures (I6 twice, E1 once, I6;E1 once); best_response from BOR/BEST_PCT;
    exposure: two full cycles per subject (D1/D8 q21d) at the starting dose."""
    screening = pd.DataFrame(
        {
            "screening_id": [f"SCR{i:02d}" for i in range(16)],
            "subject_id": [*SUBJECTS, None, None, None, None],
            "status": ["eligible"] * 12 + ["not_eligible"] * 4,
            "failed_criteria": [""] * 12 + ["I6", "I6", "E1", "I6;E1"],
            "reasons": [""] * 12
            + ["Bone-only disease: yes", "Bone-only disease: yes", "Known brain metastases: yes", "a: no | b: yes"],
        }
    )
    best = pd.DataFrame({"subject_id": SUBJECTS, "assessor": "BICR", "response": BOR, "best_pct_change": BEST_PCT})
    responses = pd.DataFrame({"subject_id": SUBJECTS, "assessor": "BICR", "overall": BOR})
    exposure_rows = []
    for sid, arm in zip(SUBJECTS, ARMCD, strict=True):
        drug, dose = ("sacituzumab govitecan", 10.0) if arm == "sg" else ("eribulin", 1.4)
        for cycle in (1, 2):
            for day in (1, 8):
                date = RAND + pd.Timedelta(days=21 * (cycle - 1) + day - 1)
                exposure_rows.append((sid, date, cycle, day, drug, "give", 0, dose, dose))
    exposure = pd.DataFrame(
        exposure_rows,
        columns=["subject_id", "date", "cycle", "cycle_day", "drug", "action", "dose_level", "planned_dose", "dose"],
    )
    return {"screening": screening, "best_response": best, "responses": responses, "exposure": exposure}


@pytest.fixture(scope="session")
def small_adam() -> dict[str, pd.DataFrame]:
    """ADSL, ADTTE (PFS, OS), ADRS (BOR, RSP, CBR, OVR by BICR) and ADAE of the 12 hand-made subjects (shared:
    tests must not modify them)."""
    adsl = _adsl()
    return {"ADSL": adsl, "ADTTE": _adtte(adsl), "ADRS": _adrs(adsl), "ADAE": _adae(adsl)}


@pytest.fixture(scope="session")
def small_frames() -> dict[str, pd.DataFrame]:
    """The analysis frames the report reads directly: screening, best_response, responses, exposure."""
    return _frames(_adsl())


@pytest.fixture(scope="session")
def small_arms(ever: Protocol) -> Any:
    from trialtwin.report import arm_styles

    return arm_styles(_adsl(), ever)
