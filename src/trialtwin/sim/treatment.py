"""Treatment of one virtual patient: dosing days, labs, the engine's dose decisions, toxicities.

Neutrophils follow a nadir–recovery model: each administered dose lowers the ANC to
``pre-dose ANC × exp(−depth × dose fraction)`` about a week later, and by the next dosing day it has recovered a
fraction of the way back to baseline. ``depth`` is per patient (log-normal around the drug's median, deeper for
UGT1A1*28 homozygous patients on sacituzumab govitecan, Trodelvy PI §8.7). Grade ≥ 3 diarrhoea and nausea occur
per cycle with drug-specific probabilities. The engine decides every dose (give / hold / reduce / discontinue)
from the pre-dose labs and the toxicity history, and grades labs with the CTCAE v5.0 tables.

A day-1 hold delays the cycle by a week (re-checked weekly, up to three times); a held day-8/day-15 dose is
omitted, as the labels say.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialtwin.engine.dose_modification import (
    GIVEN_ACTIONS,
    DoseAction,
    DoseDecision,
    Labs,
    ToxicityEvent,
    evaluate_dose,
)
from trialtwin.engine.dosing import compute_dose
from trialtwin.engine.toxicity import grade_lab
from trialtwin.engine.toxicity_history import AdverseEpisode, DoseRecord, ToxicityHistory, attribute_onset
from trialtwin.protocol.model import Regimen
from trialtwin.sim.population import Candidate
from trialtwin.sim.scenario import Scenario

ANC_LLN = 1.8  # 10^9/L, lower limit of normal used for CTCAE grading (assumption, typical laboratory)
MAX_DELAY_WEEKS = 3
NADIR_DAY = 7  # days after a dose when the ANC nadir is sampled


@dataclass
class TreatmentCourse:
    """Rows of the exposure, labs and adverse-event frames, and why/when treatment stopped."""

    exposure: list[dict[str, Any]] = field(default_factory=list)
    labs: list[dict[str, Any]] = field(default_factory=list)
    adverse_events: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    last_day: int = 0


def simulate_treatment(
    regimen: Regimen,
    cand: Candidate,
    scenario: Scenario,
    rand_date: dt.date,
    stop_day: float,
    *,
    rng: np.random.Generator,
) -> TreatmentCourse:
    """Dose one patient from cycle 1 day 1 (= randomization date) until ``stop_day`` (days) or an engine
    decision to discontinue."""
    course = TreatmentCourse()
    neut = scenario.neutrophils
    tox = scenario.other_toxicity
    baseline = float(cand.facts.get("anc", 4.0))
    platelets = float(cand.facts.get("platelets", 230.0))
    bilirubin = float(cand.facts.get("total_bilirubin", 0.5))
    anc = baseline
    depth = float(neut.depth_median[regimen.drug] * neut.depth_gsd ** rng.standard_normal())
    if cand.ugt1a1_homozygous and regimen.drug == "sacituzumab govitecan":
        depth *= neut.ugt1a1_multiplier
    known = _KnownHistory(course)
    level = 0
    cycle = 1
    cycle_start = 0  # study day index (0 = C1D1)
    while cycle_start < stop_day:
        delays = 0
        for cycle_day in regimen.dosing_days:
            day = cycle_start + cycle_day - 1
            if day >= stop_day:
                course.last_day = int(stop_day)
                return course
            # Day-1 holds delay the whole cycle; later holds omit the dose.
            while True:
                labs = Labs(anc=round(anc, 2), platelets=platelets, bilirubin=bilirubin)
                date = rand_date + dt.timedelta(days=day)
                history = known.on(date)
                decision = evaluate_dose(regimen, cycle, cycle_day, labs, history, level, delay_days=7 * delays)
                course.labs.append(_lab_row(date, "anc", anc))
                if decision.action is DoseAction.HOLD and cycle_day == regimen.dosing_days[0]:
                    course.exposure.append(_exposure_row(regimen, date, cycle, cycle_day, decision, cand))
                    delays += 1
                    anc = _recover(anc, baseline, neut.recovery_fraction)
                    if delays > MAX_DELAY_WEEKS:
                        course.stop_reason = "adverse_event"
                        course.last_day = day
                        return course
                    cycle_start += 7
                    day += 7
                    if day >= stop_day:
                        course.last_day = int(stop_day)
                        return course
                    continue
                break
            if decision.action is DoseAction.DISCONTINUE:
                course.exposure.append(_exposure_row(regimen, date, cycle, cycle_day, decision, cand))
                course.stop_reason = "adverse_event"
                course.last_day = day
                return course
            if not decision.given:  # a later-day hold or omission: the dose is skipped (labels)
                course.exposure.append(_exposure_row(regimen, date, cycle, cycle_day, decision, cand))
                anc = _recover(anc, baseline, neut.recovery_fraction)
                continue
            assert decision.level is not None
            level = decision.level
            fraction = decision.dose / regimen.dose.amount
            course.exposure.append(_exposure_row(regimen, date, cycle, cycle_day, decision, cand))
            course.last_day = day
            if len(regimen.dosing_days) > 7 and cycle_day != regimen.dosing_days[0]:
                continue  # continuous oral dosing: one nadir per cycle, counted on day 1
            nadir = anc * math.exp(-depth * fraction)
            nadir_date = date + dt.timedelta(days=NADIR_DAY)
            course.labs.append(_lab_row(nadir_date, "anc", nadir))
            grade = course.labs[-1]["grade"]
            if grade >= 1:
                course.adverse_events.append(
                    _ae_row("Neutrophil count decreased", grade, nadir_date, nadir_date + dt.timedelta(days=7))
                )
            febrile = grade == 4 and bool(rng.random() < neut.p_fever_given_g4)
            if febrile:
                course.adverse_events.append(
                    _ae_row("Febrile neutropenia", 3, nadir_date, nadir_date + dt.timedelta(days=5), serious=True)
                )
            anc = _recover(nadir, baseline, neut.recovery_fraction)
            if cycle_day == regimen.dosing_days[0]:
                for term, table in (("Diarrhea", tox.diarrhoea_g3), ("Nausea", tox.nausea_g3)):
                    if rng.random() < table[regimen.drug]:
                        onset = date + dt.timedelta(days=int(rng.integers(2, 10)))
                        controlled = not bool(rng.random() < tox.p_uncontrolled)
                        course.adverse_events.append(
                            _ae_row(term, 3, onset, onset + dt.timedelta(days=4), controlled=controlled)
                        )
        cycle += 1
        cycle_start += regimen.cycle_length_days
    course.last_day = int(min(stop_day, cycle_start))
    return course


class _KnownHistory:
    """The toxicity history as the site knows it on an evaluation day, which is what the service's dosing visit
    reads: the engine's rule (:class:`trialtwin.engine.toxicity_history.ToxicityHistory`) over the course's
    adverse events, each attributed to the last dose given before its onset
    (:func:`~trialtwin.engine.toxicity_history.attribute_onset`).

    The course's exposure rows are appended in date order, so an event's attribution is fixed once its onset has
    passed; it is added to the history then, once. (Its adverse events are not in onset order: a diarrhoea drawn
    after a cycle's nadir may start before it.)
    """

    def __init__(self, course: TreatmentCourse) -> None:
        self.course = course
        self.history = ToxicityHistory()
        self.pending: list[int] = []  # indices of the course's events whose onset is still to come
        self.seen = 0  # events of the course looked at so far
        self.doses: list[DoseRecord] = []  # the course's exposure rows so far (append-only, as the course's)

    def on(self, date: dt.date) -> tuple[ToxicityEvent, ...]:
        events = self.course.adverse_events
        self.pending.extend(range(self.seen, len(events)))
        self.seen = len(events)
        due = [i for i in self.pending if events[i]["start_date"] <= date]
        if due:
            self.doses.extend(
                DoseRecord(row["date"], int(row["cycle"]), int(row["cycle_day"]), row["action"] in GIVEN_ACTIONS)
                for row in self.course.exposure[len(self.doses) :]
            )
            for i in due:
                ae = events[i]
                dose = attribute_onset(self.doses, ae["start_date"])
                self.history.add(
                    AdverseEpisode(
                        term=ae["term"],
                        grade=ae["grade"],
                        onset=ae["start_date"],
                        resolution=ae["end_date"],
                        cycle=dose[0] if dose is not None else None,
                        day=dose[1] if dose is not None else None,
                        controlled=bool(ae["controlled"]),
                    )
                )
            self.pending = [i for i in self.pending if events[i]["start_date"] > date]
        return self.history.on(date)


def _recover(anc: float, baseline: float, fraction: float) -> float:
    return anc + fraction * (baseline - anc)


def _lab_row(date: dt.date, test: str, value: float) -> dict[str, Any]:
    """A row of frame ``labs``, graded on the value as recorded (2 decimals), as the service grades it."""
    recorded = round(value, 2)
    grade = grade_lab("neutrophil count decreased", recorded, "10^9/L", lln=ANC_LLN)
    return {"date": date, "test": test, "value": recorded, "unit": "10^9/L", "grade": grade}


def _ae_row(
    term: str, grade: int, start: dt.date, end: dt.date, *, serious: bool = False, controlled: bool | None = None
) -> dict[str, Any]:
    """A row of frame ``adverse_events``; ``controlled`` (by supportive care) only where the dose rules read it."""
    return {
        "term": term,
        "grade": grade,
        "start_date": start,
        "end_date": end,
        "serious": serious,
        "controlled": controlled,
    }


def _exposure_row(
    regimen: Regimen, date: dt.date, cycle: int, cycle_day: int, decision: DoseDecision, cand: Candidate
) -> dict[str, Any]:
    mg = 0.0
    if decision.given and decision.level is not None:
        amount = compute_dose(regimen, cand.weight_kg, cand.height_cm, level=decision.level, percent=decision.percent)
        mg = amount.per_day_mg
    return {
        "date": date,
        "cycle": cycle,
        "cycle_day": cycle_day,
        "drug": regimen.drug,
        "action": decision.action.value,
        "dose_level": decision.level if decision.level is not None else decision.previous_level,
        "planned_dose": regimen.dose.amount,
        "dose": decision.dose,
        "unit": regimen.dose.unit.value,
        "dose_mg": round(mg, 1),
        "reason": decision.reason if decision.action is not DoseAction.GIVE or decision.percent < 100 else "",
    }
