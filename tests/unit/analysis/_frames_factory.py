"""Hand-made analysis frames for the ADaM derivation tests.

A :class:`Record` holds a few subjects of EVER-132-002; every date is given as a day count from the subject's
randomization (day 0 = randomization date), so a test reads like its rule: ``rec.scan("S1", 42, "SD")``.
``frames()`` returns the record through ``validate_frames``, as the derivations expect.

Imported by the test modules as ``import _frames_factory as ff`` (its folder is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from trialtwin.analysis.frames import FRAME_NAMES, empty_frame, validate_frames
from trialtwin.protocol import Protocol

RAND = dt.date(2021, 3, 1)
DRUG = {"sg": "sacituzumab govitecan", "eribulin": "eribulin", "capecitabine": "capecitabine"}
STRATA = {"prior_lines": "2", "visceral": "yes", "prior_cdk46": "no"}


def day(n: int, start: dt.date = RAND) -> dt.date:
    """The date ``n`` days after ``start`` (the randomization date by default)."""
    return start + dt.timedelta(days=n)


def stamp(n: int, start: dt.date = RAND) -> pd.Timestamp:
    """:func:`day` as a pandas Timestamp (how dates come back from the derivations)."""
    return pd.Timestamp(day(n, start))


def first_levels(protocol: Protocol) -> dict[str, str]:
    """A valid stratum of ``protocol``: the first level of every factor."""
    return {f.id: f.levels[0].code for f in protocol.stratification}


class Record:
    """A small trial record built row by row."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_NAMES}
        self.randomized: dict[str, dt.date] = {}
        self.subject_rows: dict[str, dict[str, Any]] = {}

    # ---- subjects -----------------------------------------------------------------------------------------

    def subject(
        self,
        sid: str,
        *,
        arm: str = "sg",
        regimen: str | None = None,
        rand_day: int = 0,
        strata: dict[str, str] | None = None,
        strat_columns: bool = True,
        sex: str = "female",
        age: float = 52.0,
        site: str = "CN-001",
    ) -> Record:
        levels = dict(STRATA if strata is None else strata)
        randomized = day(rand_day)
        self.randomized[sid] = randomized
        row: dict[str, Any] = {
            "subject_id": sid,
            "site_id": site,
            "country": "China",
            "randomized_date": randomized,
            "arm": arm,
            "regimen": regimen or ("sg" if arm == "sg" else "eribulin"),
            "stratum": "|".join(f"{k}={v}" for k, v in levels.items()),
            "age": age,
            "sex": sex,
            "weight_kg": 58.0,
            "height_cm": 158.0,
            "ecog": 1,
        }
        if strat_columns:
            row.update({f"strat_{k}": v for k, v in levels.items()})
        self.subject_rows[sid] = row
        return self

    def _date(self, sid: str, n: int) -> dt.date:
        return day(n, self.randomized[sid])

    # ---- events -------------------------------------------------------------------------------------------

    def dose(self, sid: str, n: int, *, drug: str | None = None, dose: float = 10.0, action: str = "give") -> Record:
        regimen = self.subject_rows[sid]["regimen"]
        self.rows["exposure"].append(
            {
                "subject_id": sid,
                "date": self._date(sid, n),
                "cycle": 1,
                "cycle_day": 1,
                "drug": drug or DRUG.get(regimen, regimen),
                "action": action,
                "dose_level": 0,
                "planned_dose": 10.0,
                "dose": dose if action != "hold" else 0.0,
                "unit": "mg/kg",
                "dose_mg": dose * 58.0 if action != "hold" else 0.0,
                "reason": "",
            }
        )
        return self

    def doses(self, sid: str, days: list[int], **kwargs: Any) -> Record:
        for n in days:
            self.dose(sid, n, **kwargs)
        return self

    def scan(self, sid: str, n: int, overall: str, *, assessor: str = "BICR") -> Record:
        self.rows["responses"].append(
            {
                "subject_id": sid,
                "date": self._date(sid, n),
                "assessor": assessor,
                "target": overall if overall in ("CR", "PR", "SD", "PD", "NE") else "NE",
                "non_target": "NON-CR/NON-PD",
                "new_lesions": False,
                "overall": overall,
                "sum_mm": 50.0,
                "pct_from_baseline": 0.0,
            }
        )
        return self

    def scans(self, sid: str, timeline: dict[int, str], *, assessor: str = "BICR") -> Record:
        for n, overall in timeline.items():
            self.scan(sid, n, overall, assessor=assessor)
        return self

    def best(
        self,
        sid: str,
        response: str,
        *,
        assessor: str = "BICR",
        response_day: int | None = None,
        progression_day: int | None = None,
    ) -> Record:
        self.rows["best_response"].append(
            {
                "subject_id": sid,
                "assessor": assessor,
                "response": response,
                "response_date": None if response_day is None else self._date(sid, response_day),
                "confirmation_date": None,
                "progression_date": None if progression_day is None else self._date(sid, progression_day),
                "best_pct_change": None,
            }
        )
        return self

    def death(self, sid: str, n: int, cause: str = "other") -> Record:
        self.rows["deaths"].append({"subject_id": sid, "date": self._date(sid, n), "cause": cause})
        return self

    def disposition(self, sid: str, event: str, n: int, reason: str) -> Record:
        self.rows["disposition"].append(
            {"subject_id": sid, "event": event, "date": self._date(sid, n), "reason": reason}
        )
        return self

    def ae(
        self, sid: str, term: str, grade: int, start: int, end: int | None = None, *, serious: bool = False
    ) -> Record:
        self.rows["adverse_events"].append(
            {
                "subject_id": sid,
                "term": term,
                "grade": grade,
                "start_date": self._date(sid, start),
                "end_date": None if end is None else self._date(sid, end),
                "serious": serious,
                "controlled": None,
            }
        )
        return self

    def lab(self, sid: str, n: int) -> Record:
        self.rows["labs"].append(
            {"subject_id": sid, "date": self._date(sid, n), "test": "anc", "value": 3.1, "unit": "10^9/L", "grade": 0}
        )
        return self

    # ---- output -------------------------------------------------------------------------------------------

    def frames(self) -> dict[str, pd.DataFrame]:
        """The record as validated analysis frames (first/last dose dates from the doses given)."""
        given: dict[str, list[dt.date]] = {}
        for row in self.rows["exposure"]:
            if row["dose"] > 0:
                given.setdefault(row["subject_id"], []).append(row["date"])
        subjects = []
        for sid, row in self.subject_rows.items():
            dates = given.get(sid, [])
            subjects.append(
                {**row, "first_dose_date": min(dates, default=None), "last_dose_date": max(dates, default=None)}
            )
        tables = {**self.rows, "subjects": subjects}
        frames = {}
        for name in FRAME_NAMES:
            rows = tables[name]
            frames[name] = pd.DataFrame(rows) if rows else empty_frame(name)
        return validate_frames(frames)
