"""ADSL: the subject-level analysis dataset (CDISC ADaM IG v1.3 §3.2), one row per randomized subject.

Every derivation rule, with its source:

- **Population.** Subjects randomized on or before the cut-off (``subjects.randomized_date <= cutoff``); a subject
  randomized later is not yet in the trial. Rows sorted by ``USUBJID``.
- **Identifiers.** ``STUDYID`` = ``protocol.identification.org_study_id``; ``SUBJID`` = ``subjects.subject_id``;
  ``USUBJID`` = ``STUDYID-SUBJID`` (SDTM IG §5 DM: unique across the submission); ``SITEID`` = ``site_id``;
  ``COUNTRY`` = the frame's country name (not recoded to ISO 3166).
- **Demographics.** ``AGE`` (years, at screening), ``AGEU`` = ``YEARS``, ``SEX`` ``F``/``M`` (CDISC CT SEX);
  ``WEIGHTBL``/``HEIGHTBL`` baseline weight (kg) and height (cm); ``ECOGBL`` baseline ECOG performance status.
- **Planned treatment.** ``ARMCD`` = arm id and ``ARM`` = arm label as randomized; ``TRT01P``/``TRT01PN`` = the
  arm label and its 1-based position in ``protocol.arms``; ``REGIMEN`` = the regimen id given to the subject (the
  chosen one for a physician's-choice arm).
- **Actual treatment** (ADaM IG §3.2.3; SDTM IG DM ACTARM rules). Doses given are exposure rows with ``dose > 0``
  on or before the cut-off. ``ACTARMCD``/``ACTARM``: ``NOTTRT``/``Not Treated`` when no dose was given; else the
  randomized arm when every drug given belongs to it; else the first arm (protocol order) that holds every drug
  given; else ``UNPLAN``/``Unplanned Treatment`` (a drug no arm holds, or a mixture no single arm holds). A drug is
  matched to a regimen by regimen id, drug name or label, case-insensitively. A subject with a first-dose date in
  ``subjects`` but no dose rows in ``exposure`` is counted as treated as randomized. ``TRT01A``/``TRT01AN`` =
  ``ACTARM`` and its position, null when not treated.
- **Treatment dates.** ``TRTSDT``/``TRTEDT`` = first/last exposure date with ``dose > 0`` on or before the cut-off
  (falling back to ``subjects.first_dose_date``/``last_dose_date`` when the exposure frame has no dose for the
  subject); ``TRTDURD`` = ``TRTEDT - TRTSDT + 1`` days. ``RANDDT`` = ``randomized_date``.
- **Population flags** (ADaM IG §3.2.4, ``Y``/``N``): ``ITTFL`` = ``Y`` for every randomized subject (intent to
  treat, ICH E9 §5.2.1); ``SAFFL`` = ``Y`` when at least one dose was given (``TRTSDT`` present).
- **Strata as randomized.** ``STRATAR`` = the stratum key (``subjects.stratum``); for factor *n* of
  ``protocol.stratification`` (1-based, protocol order) ``STRATn`` = the level code (from ``strat_<factor id>``
  when the frame carries it, else from the stratum key) and ``STRATnV`` = the level's label. Which factor each
  column holds: :func:`strata_variables`. A code that is not a declared level is a :class:`DerivationError`.
- **End of treatment.** The first ``end_of_treatment`` disposition on or before the cut-off: ``EOTDT`` its date,
  ``DCTREAS`` its reason as a CDISC NCOMPLT term, ``EOTSTT`` = ``COMPLETED`` for reason ``completed`` else
  ``DISCONTINUED``; without one, ``EOTSTT`` = ``ONGOING`` for a treated subject and null otherwise.
- **End of study.** Likewise from ``end_of_study`` (``EOSSTT``, ``EOSDT``, ``DCSREAS``); a death on or before the
  cut-off without an end-of-study record ends the study at the death date (reason ``DEATH``); else ``ONGOING``.
- **Death.** From the deaths frame on or before the cut-off: ``DTHFL`` = ``Y`` (else null), ``DTHDT``, ``DTHCAUS``
  (cause code as a CDISC term, e.g. ``PROGRESSIVE DISEASE``).
- **Last known alive** (``LSTALVDT``): the death date for a subject who died; else the latest date on or before
  the cut-off among randomization, tumour assessments (responses), doses given, laboratory samples, adverse-event
  onsets and resolutions, disposition milestones and survival follow-up contacts (ADaM ADSL LSTALVDT convention,
  as admiral ``derive_vars_extreme_event``). It is the OS censoring date (ADTTE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialtwin.analysis.derive._common import (
    DerivationError,
    Subjects,
    choose,
    cutoff_stamp,
    day_count,
    flag,
    frame,
    ncomplt,
    take,
)
from trialtwin.protocol.model import Protocol

NOT_TREATED = ("NOTTRT", "Not Treated")
UNPLANNED = ("UNPLAN", "Unplanned Treatment")

ADSL_COLUMNS = (
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "COUNTRY",
    "AGE",
    "AGEU",
    "SEX",
    "WEIGHTBL",
    "HEIGHTBL",
    "ECOGBL",
    "ARM",
    "ARMCD",
    "ACTARM",
    "ACTARMCD",
    "TRT01P",
    "TRT01PN",
    "TRT01A",
    "TRT01AN",
    "REGIMEN",
    "RANDDT",
    "TRTSDT",
    "TRTEDT",
    "TRTDURD",
    "ITTFL",
    "SAFFL",
    "STRATAR",
)
_TAIL = (
    "EOTSTT",
    "EOTDT",
    "DCTREAS",
    "EOSSTT",
    "EOSDT",
    "DCSREAS",
    "DTHFL",
    "DTHDT",
    "DTHCAUS",
    "LSTALVDT",
)


@dataclass(frozen=True, slots=True)
class StrataVariable:
    """Which stratification factor the ADSL columns ``code_column`` (level code) and ``label_column`` hold."""

    number: int
    factor_id: str
    name: str
    code_column: str
    label_column: str


def strata_variables(protocol: Protocol) -> tuple[StrataVariable, ...]:
    """The strata columns of ADSL (and of every dataset that copies them), in protocol order: ``STRATn`` holds the
    level code of factor *n*, ``STRATnV`` its label."""
    return tuple(
        StrataVariable(n, f.id, f.name, f"STRAT{n}", f"STRAT{n}V") for n, f in enumerate(protocol.stratification, 1)
    )


def derive_adsl(frames: Mapping[str, pd.DataFrame], protocol: Protocol, *, cutoff: dt.date) -> pd.DataFrame:
    """ADSL from validated analysis frames at the data cut-off (rules and sources: module docstring)."""
    stamp = cutoff_stamp(cutoff)
    subjects = frame(frames, "subjects")
    subj = subjects[subjects["randomized_date"] <= stamp]
    subj = subj.sort_values("subject_id", kind="stable").reset_index(drop=True)
    sid = subj["subject_id"].astype(str)
    studyid = protocol.identification.org_study_id
    arm_ids = [a.id for a in protocol.arms]
    unknown = sorted(set(subj["arm"]) - set(arm_ids))
    if unknown:
        bad = subj.loc[subj["arm"] == unknown[0], "subject_id"].iloc[0]
        raise DerivationError(
            f"frame 'subjects', column 'arm': subject {bad!r} has arm {unknown[0]!r}, not an arm of "
            f"{protocol.id} ({', '.join(arm_ids)})"
        )
    labels = {a.id: a.label for a in protocol.arms}
    position = {a.id: float(n) for n, a in enumerate(protocol.arms, 1)}

    out: dict[str, Any] = {
        "STUDYID": studyid,
        "USUBJID": studyid + "-" + sid,
        "SUBJID": sid,
        "SITEID": subj["site_id"].astype(object),
        "COUNTRY": subj["country"].astype(object),
        "AGE": subj["age"].astype(float),
        "AGEU": "YEARS",
        "SEX": subj["sex"].map({"female": "F", "male": "M"}).astype(object),
        "WEIGHTBL": subj["weight_kg"].astype(float),
        "HEIGHTBL": subj["height_cm"].astype(float),
        "ECOGBL": subj["ecog"].astype(int),
        "ARM": subj["arm"].map(labels).astype(object),
        "ARMCD": subj["arm"].astype(object),
    }

    # ---- treatment given (exposure rows with a dose, on or before the cut-off)
    exposure = frame(frames, "exposure")
    given = exposure.loc[(exposure["dose"] > 0) & (exposure["date"] <= stamp), ["subject_id", "date", "drug"]]
    population = Subjects(sid)
    first = population.first(given["subject_id"], given["date"])
    last = population.last(given["subject_id"], given["date"])
    first_fallback = subj["first_dose_date"].where(subj["first_dose_date"] <= stamp)
    last_fallback = subj["last_dose_date"].where(subj["last_dose_date"] <= stamp)
    no_rows = first.isna()
    trtsdt = first.where(~no_rows, first_fallback).astype("datetime64[ns]")
    trtedt = last.where(~no_rows, last_fallback.fillna(first_fallback)).astype("datetime64[ns]")
    treated = trtsdt.notna()
    actarmcd = _actual_arm(given, population, subj["arm"].astype(str), protocol)
    actarmcd = actarmcd.where(~(treated & no_rows), subj["arm"])
    actarmcd = actarmcd.where(treated, NOT_TREATED[0])
    actarm = actarmcd.map({**labels, NOT_TREATED[0]: NOT_TREATED[1], UNPLANNED[0]: UNPLANNED[1]})
    out["ACTARM"] = actarm.astype(object)
    out["ACTARMCD"] = actarmcd.astype(object)
    out["TRT01P"] = out["ARM"]
    out["TRT01PN"] = subj["arm"].map(position).astype(float)
    out["TRT01A"] = actarm.where(treated, None).astype(object)
    out["TRT01AN"] = actarmcd.map(position).astype(float)
    out["REGIMEN"] = subj["regimen"].astype(object)
    out["RANDDT"] = subj["randomized_date"].astype("datetime64[ns]")
    out["TRTSDT"] = trtsdt
    out["TRTEDT"] = trtedt
    out["TRTDURD"] = day_count(trtedt, trtsdt) + 1.0
    out["ITTFL"] = "Y"
    out["SAFFL"] = flag(treated, no="N")

    # ---- strata as randomized
    out["STRATAR"] = subj["stratum"].astype(object)
    for var, codes in zip(strata_variables(protocol), _strata_codes(subj, protocol), strict=True):
        factor = protocol.factor(var.factor_id)
        level_labels = {lv.code: lv.label for lv in factor.levels}
        bad_codes = ~codes.isin(list(level_labels))
        if bad_codes.any():
            i = int(np.flatnonzero(bad_codes.to_numpy())[0])
            raise DerivationError(
                f"frame 'subjects': subject {sid.iloc[i]!r} has level {codes.iloc[i]!r} for stratification factor "
                f"{factor.id!r}, not one of its levels ({', '.join(level_labels)})"
            )
        out[var.code_column] = codes.astype(object)
        out[var.label_column] = codes.map(level_labels).astype(object)

    # ---- end of treatment, end of study, death
    disposition = frame(frames, "disposition")
    disposition = disposition[disposition["date"] <= stamp]
    eot = _milestone(population, disposition, "end_of_treatment")
    eos = _milestone(population, disposition, "end_of_study")
    deaths = frame(frames, "deaths")
    deaths = deaths[deaths["date"] <= stamp]
    death_row = population.first_row(deaths["subject_id"], deaths["date"])
    dthdt = take(deaths["date"], death_row).astype("datetime64[ns]")
    dthcaus = ncomplt(take(deaths["cause"], death_row))
    died = dthdt.notna()

    has_eot = eot["date"].notna()
    out["EOTSTT"] = choose(
        has_eot, choose(eot["reason"] == "completed", "COMPLETED", "DISCONTINUED"), choose(treated, "ONGOING", None)
    )
    out["EOTDT"] = eot["date"].astype("datetime64[ns]")
    out["DCTREAS"] = ncomplt(eot["reason"])
    has_eos = eos["date"].notna()
    eos_reason = eos["reason"].where(has_eos, pd.Series(choose(died, "death", None), index=sid.index))
    out["EOSSTT"] = choose(has_eos | died, choose(eos_reason == "completed", "COMPLETED", "DISCONTINUED"), "ONGOING")
    out["EOSDT"] = eos["date"].where(has_eos, dthdt).astype("datetime64[ns]")
    out["DCSREAS"] = ncomplt(eos_reason)
    out["DTHFL"] = flag(died)
    out["DTHDT"] = dthdt
    out["DTHCAUS"] = dthcaus.where(died, None)
    out["LSTALVDT"] = _last_alive(frames, stamp, population, out["RANDDT"]).where(~died, dthdt)
    strata_columns = [c for v in strata_variables(protocol) for c in (v.code_column, v.label_column)]
    return pd.DataFrame({c: out[c] for c in (*ADSL_COLUMNS, *strata_columns, *_TAIL)}, index=sid.index)


def _drug_arms(protocol: Protocol) -> dict[str, int]:
    """Drug key (regimen id, drug name or label, case-folded) → bit mask of the arms (protocol order) giving it."""
    out: dict[str, int] = {}
    for regimen in protocol.regimens:
        bits = sum(1 << i for i, arm in enumerate(protocol.arms) if regimen.id in arm.regimens)
        for key in (regimen.id, regimen.drug, regimen.label):
            out[key.casefold()] = out.get(key.casefold(), 0) | bits
    return out


def _actual_arm(given: pd.DataFrame, population: Subjects, randomized: pd.Series, protocol: Protocol) -> pd.Series:
    """ACTARMCD of treated subjects (rule in the module docstring); ``UNPLAN`` for subjects without dose rows.

    Each drug is a bit mask of the arms that give it; a subject's mask is the AND over the drugs given: the arms
    that hold every drug the subject received."""
    arm_ids = [a.id for a in protocol.arms]
    drug_codes, drugs = pd.factorize(given["drug"])
    drug_arms = _drug_arms(protocol)
    drug_bits = np.asarray([drug_arms.get(str(d).casefold(), 0) for d in drugs], dtype=np.int64)
    codes = population.codes(given["subject_id"])
    keep = codes >= 0
    fits = np.full(population.n, (1 << len(arm_ids)) - 1, dtype=np.int64)
    np.bitwise_and.at(fits, codes[keep], drug_bits[drug_codes[keep]])
    chosen = np.full(population.n, UNPLANNED[0], dtype=object)
    for i in reversed(range(len(arm_ids))):  # the first fitting arm in protocol order wins ...
        chosen[(fits >> i) & 1 == 1] = arm_ids[i]
    own_bit = randomized.map({a: i for i, a in enumerate(arm_ids)}).to_numpy(dtype=np.int64)
    own = (fits >> own_bit) & 1 == 1
    chosen[own] = randomized.to_numpy(dtype=object)[own]  # ... unless the randomized arm fits
    return pd.Series(chosen, dtype=object)


def _strata_codes(subj: pd.DataFrame, protocol: Protocol) -> list[pd.Series]:
    """Level code per subject for each stratification factor, from ``strat_<id>`` or the stratum key."""
    parsed: list[dict[str, str]] | None = None
    out = []
    for factor in protocol.stratification:
        column = f"strat_{factor.id}"
        if column in subj.columns:
            out.append(subj[column].astype(object).reset_index(drop=True))
            continue
        if parsed is None:
            parsed = [
                dict(part.split("=", 1) for part in str(key).split("|") if "=" in part) for key in subj["stratum"]
            ]
        out.append(pd.Series([p.get(factor.id) for p in parsed], index=subj.index, dtype=object))
    return out


def _milestone(population: Subjects, disposition: pd.DataFrame, event: str) -> pd.DataFrame:
    """First disposition row of ``event`` per subject (date, reason), aligned with ADSL."""
    rows = disposition[disposition["event"] == event]
    first = population.first_row(rows["subject_id"], rows["date"])
    return pd.DataFrame(
        {"date": take(rows["date"], first).astype("datetime64[ns]"), "reason": take(rows["reason"], first)}
    )


def _last_alive(
    frames: Mapping[str, pd.DataFrame], stamp: pd.Timestamp, population: Subjects, randdt: pd.Series
) -> pd.Series:
    """Latest contact date on or before the cut-off, randomization included (LSTALVDT before the death override)."""
    exposure = frame(frames, "exposure")
    adverse = frame(frames, "adverse_events")
    given = exposure[exposure["dose"] > 0]
    limit = pd.Series(np.full(population.n, stamp.to_datetime64()))
    sources = [
        (frame(frames, "responses"), "date"),
        (given, "date"),
        (frame(frames, "labs"), "date"),
        (adverse, "start_date"),
        (adverse, "end_date"),
        (frame(frames, "disposition"), "date"),
        (frame(frames, "survival_followup"), "date"),
    ]
    latest = [population.last(f["subject_id"], f[column], on_or_before=limit) for f, column in sources]
    stacked = np.vstack([s.to_numpy(dtype="datetime64[ns]").view(np.int64) for s in [*latest, randdt]])
    return pd.Series(stacked.max(axis=0).view("datetime64[ns]"))  # NaT is the smallest int64, so max skips it
