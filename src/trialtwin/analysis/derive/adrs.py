"""ADRS: tumour-response analysis dataset (CDISC ADaM BDS; parameters as in the ADaM oncology examples and
pharmaverse admiralonco's ADRS template), RECIST 1.1 (Eisenhauer EA et al., Eur J Cancer 2009;45:228-247).

One row per subject, parameter and assessor (``ASSESSOR`` = ``BICR``/``investigator``, ``RSEVAL`` the SDTM term).
Assessors: those named by the protocol's endpoints plus those present in the responses/best-response frames.

- ``OVR`` (overall response at a time point): one row per responses-frame row on or before the cut-off and after
  randomization; ``AVALC`` = the overall response, ``ADT`` = the scan date.
- ``BOR`` (best overall response): taken from the best_response frame, which the engine decided at the cut-off with
  the protocol's confirmation rules (RECIST 1.1 §4.4, Table 3) — analysis never re-implements RECIST. Every
  randomized subject gets a row per assessor, ``NE`` when the frame has none. ``ADT`` = ``response_date`` (the
  first date of the CR/PR/SD that counts), the progression date for ``PD``, null for ``NE``. A best response
  dated after the cut-off is a :class:`DerivationError` (the frame was decided at another cut-off).
- ``RSP`` (objective response, ORR numerator): ``Y`` when BOR is ``CR`` or ``PR`` (RECIST 1.1 §4.4;
  the protocol's ORR endpoint responses), else ``N``.
- ``CBR`` (clinical benefit): ``Y`` when BOR is ``CR`` or ``PR``, or BOR is ``SD`` (or ``NON-CR/NON-PD`` for
  non-target-only disease) and the stable disease lasted at least ``protocol.response_rules.cbr_sd_min_days``
  (182) days, measured from randomization (RECIST 1.1 §4.4.2: duration of SD from the start of treatment — in
  randomized trials randomization — until the criteria for progression are met) to the first PD time point of that
  assessor on or before the cut-off, or, without progression, to the last adequate (not NE) time point. 181 days
  is ``N``, 182 days ``Y``. The EVER-132-002 CBR definition (CR + PR + SD ≥ 6 months) is an assumption marked in
  the study file.

``AVAL``: responses coded 1 CR, 2 PR, 3 SD, 4 NON-CR/NON-PD, 5 PD, 6 NE (best to worst); flags 1 ``Y``, 0 ``N``.
Rows sorted by ``USUBJID``, ``PARAMN``, assessor, ``ADT``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from trialtwin.analysis.derive._common import (
    RSEVAL,
    DerivationError,
    Subjects,
    adsl_keys,
    choose,
    cutoff_stamp,
    day_count,
    frame,
    take,
    timepoints,
)
from trialtwin.analysis.derive.adsl import derive_adsl
from trialtwin.protocol.model import Protocol

RESPONSE_CODES = {"CR": 1, "PR": 2, "SD": 3, "NON-CR/NON-PD": 4, "PD": 5, "NE": 6}
_ASSESSOR_ORDER = ("BICR", "investigator")
_READER = {"BICR": "BICR", "investigator": "Investigator"}
_PARAMS = {
    "OVR": (1, "Overall Response by {reader}"),
    "BOR": (2, "Best Overall Response by {reader}"),
    "RSP": (3, "Objective Response (CR or PR) by {reader}"),
    "CBR": (4, "Clinical Benefit (CR, PR or SD >= {days} days) by {reader}"),
}

ADRS_COLUMNS = ("PARAMCD", "PARAM", "PARAMN", "ASSESSOR", "RSEVAL", "ADT", "ADY", "AVALC", "AVAL")


def response_assessors(frames: Mapping[str, pd.DataFrame], protocol: Protocol) -> tuple[str, ...]:
    """Assessors with ADRS rows: named by an endpoint of ``protocol`` or present in the response frames."""
    named = {ep.assessor for ep in protocol.endpoints if ep.assessor is not None}
    named |= set(frame(frames, "responses")["assessor"]) | set(frame(frames, "best_response")["assessor"])
    return tuple(a for a in _ASSESSOR_ORDER if a in named)


def derive_adrs(
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    adsl: pd.DataFrame | None = None,
    cutoff: dt.date,
) -> pd.DataFrame:
    """ADRS (OVR, BOR, RSP, CBR per assessor) from validated frames at the cut-off (rules: module docstring)."""
    stamp = cutoff_stamp(cutoff)
    if adsl is None:
        adsl = derive_adsl(frames, protocol, cutoff=cutoff)
    adsl = adsl.reset_index(drop=True)
    keys = adsl_keys(adsl)
    population = Subjects(adsl["SUBJID"])
    randdt = adsl["RANDDT"]
    everyone = np.arange(population.n)
    min_days = protocol.response_rules.cbr_sd_min_days
    parts: list[_Rows] = []
    best_all = frame(frames, "best_response")
    for rank, assessor in enumerate(response_assessors(frames, protocol)):
        resp = timepoints(frames, population, randdt, assessor, stamp)
        parts.append(_Rows.of("OVR", rank, population.codes(resp["subject_id"]), resp["date"], resp["overall"]))

        best = best_all[best_all["assessor"] == assessor]
        # (subject_id, assessor) is the frame's key: at most one row per subject here, found by position
        row = population.first_row(best["subject_id"], pd.Series(np.zeros(len(best), dtype="datetime64[ns]")))
        response_date = take(best["response_date"], row)
        progression_date = take(best["progression_date"], row)
        dated = pd.concat([response_date, take(best["confirmation_date"], row), progression_date], axis=1)
        late = (dated > stamp).any(axis=1).to_numpy()
        if late.any():
            who = adsl["SUBJID"].iloc[int(np.flatnonzero(late)[0])]
            raise DerivationError(
                f"frame 'best_response': subject {who!r} ({assessor}) has a best response dated after the cut-off "
                f"{stamp.date().isoformat()}; derive the best response at the same cut-off"
            )
        bor = take(best["response"], row).fillna("NE").astype(object)
        bor_date = response_date.where(bor != "PD", progression_date).where(bor != "NE")
        parts.append(_Rows.of("BOR", rank, everyone, bor_date, bor))

        responder = bor.isin(["CR", "PR"]).to_numpy()
        parts.append(_Rows.of("RSP", rank, everyone, None, pd.Series(choose(responder, "Y", "N"))))
        progressed = resp[resp["overall"] == "PD"]
        first_pd = population.first(progressed["subject_id"], progressed["date"]).fillna(progression_date)
        adequate = resp[resp["overall"] != "NE"]
        last_adequate = population.last(adequate["subject_id"], adequate["date"])
        sd_end = first_pd.fillna(last_adequate)
        sd_days = day_count(sd_end, randdt).to_numpy()
        stable = bor.isin(["SD", "NON-CR/NON-PD"]).to_numpy() & (sd_days >= min_days)
        parts.append(_Rows.of("CBR", rank, everyone, None, pd.Series(choose(responder | stable, "Y", "N"))))

    assessors = response_assessors(frames, protocol)
    subject = np.concatenate([p.subject for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    paramn = np.concatenate([p.paramn for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    who = np.concatenate([p.assessor for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    adt = np.concatenate([p.adt for p in parts]) if parts else np.zeros(0, dtype="datetime64[ns]")
    avalc = np.concatenate([p.avalc for p in parts]) if parts else np.zeros(0, dtype=object)
    order = np.lexsort((adt.view(np.int64), who, paramn, subject))
    out: pd.DataFrame = adsl[keys].iloc[subject[order]].reset_index(drop=True)
    codes = np.asarray(list(_PARAMS), dtype=object)  # PARAMN - 1 → PARAMCD
    labels = np.asarray(
        [text.format(reader=_READER[a], days=min_days) for _, text in _PARAMS.values() for a in assessors], dtype=object
    )  # (PARAMN - 1) × assessors + assessor → PARAM
    param_index, who = paramn[order] - 1, who[order]
    out["PARAMCD"] = codes[param_index]
    out["PARAM"] = labels[param_index * len(assessors) + who]
    out["PARAMN"] = paramn[order]
    out["ASSESSOR"] = np.asarray(assessors, dtype=object)[who] if len(assessors) else np.zeros(0, dtype=object)
    out["RSEVAL"] = np.asarray([RSEVAL[a] for a in assessors], dtype=object)[who] if len(assessors) else None
    out["ADT"] = adt[order]
    out["ADY"] = day_count(out["ADT"], out["RANDDT"]) + 1.0
    out["AVALC"] = avalc[order]
    flags = np.isin(out["PARAMCD"].to_numpy(), ["RSP", "CBR"])
    out["AVAL"] = np.where(flags, (out["AVALC"] == "Y").astype(float), out["AVALC"].map(RESPONSE_CODES))
    return out[[*keys, *ADRS_COLUMNS]]


@dataclass(frozen=True, slots=True)
class _Rows:
    """Rows of one parameter and assessor as arrays (subject position, code, assessor order, date, value)."""

    subject: npt.NDArray[np.intp]
    paramn: npt.NDArray[np.int64]
    assessor: npt.NDArray[np.intp]
    adt: npt.NDArray[np.datetime64]
    avalc: npt.NDArray[np.object_]

    @classmethod
    def of(
        cls, paramcd: str, assessor: int, subject: npt.NDArray[np.intp], dates: pd.Series | None, values: pd.Series
    ) -> _Rows:
        n = len(subject)
        adt = (
            np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
            if dates is None
            else dates.to_numpy(dtype="datetime64[ns]")
        )
        return cls(
            subject=np.asarray(subject, dtype=np.intp),
            paramn=np.full(n, _PARAMS[paramcd][0], dtype=np.int64),
            assessor=np.full(n, assessor, dtype=np.intp),
            adt=adt,
            avalc=values.to_numpy(dtype=object),
        )
