"""One call for a whole record: time-point responses, nadir tracking and best overall response."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trialtwin.engine.recist.best_response import BestResponse, RecistRules, assess_best_response
from trialtwin.engine.recist.lesions import RecistRecord, check_record
from trialtwin.engine.recist.sums import compute_sum_of_diameters
from trialtwin.engine.recist.timepoint import ResponseCategory, TimepointResponse, assess_timepoint


@dataclass(frozen=True, slots=True)
class RecistResult:
    """RECIST 1.1 evaluation of a patient: baseline sum, one response per follow-up, best response."""

    baseline_date: dt.date
    baseline_sum_mm: float | None
    timepoints: tuple[TimepointResponse, ...]
    best: BestResponse

    @property
    def best_overall_response(self) -> ResponseCategory:
        return self.best.response

    @property
    def progression_date(self) -> dt.date | None:
        return self.best.progression_date

    @property
    def best_pct_change(self) -> float | None:
        return self.best.best_pct_change


def assess_recist(record: RecistRecord, *, rules: RecistRules = RecistRules(), check: bool = True) -> RecistResult:
    """Evaluate a record per RECIST 1.1 (Eisenhauer 2009 §4.3-§4.4, Tables 1-3).

    The first assessment is the baseline. Each follow-up is assessed against the baseline sum (PR) and the
    nadir: the smallest complete sum before it, baseline included (PD). An incomplete sum (a target not
    measured) does not update the nadir. ``check`` validates the record first (:func:`check_record`, raising
    :class:`RecistInputError`); the twin, which builds valid records, may pass ``check=False``.
    """
    if check:
        check_record(record)
    baseline = record.assessments[0]
    baseline_sum = compute_sum_of_diameters(baseline.target) if baseline.target else None
    nadir = baseline_sum
    out: list[TimepointResponse] = []
    for assessment in record.assessments[1:]:
        tp = assess_timepoint(assessment, baseline_sum=baseline_sum, nadir_sum=nadir)
        total = tp.sum_mm
        if total is not None and nadir is not None and total < nadir:
            nadir = total
        out.append(tp)
    timepoints = tuple(out)
    best = assess_best_response(timepoints, randomized=record.randomized, rules=rules)
    return RecistResult(baseline.date, baseline_sum, timepoints, best)
