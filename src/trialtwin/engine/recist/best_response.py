"""Best overall response with confirmation (RECIST 1.1 §4.4 and §4.6, Eisenhauer 2009 Table 3).

Time-point responses are read from the first follow-up up to and including the first PD (RECIST 1.1
§4.4.1: "best response recorded from the start of the study treatment until disease progression").

With confirmation (``confirmation_required``), Eisenhauer 2009 Table 3 (first → subsequent time point):

=====  ==========  ==========================================================
first  subsequent  best overall response
=====  ==========  ==========================================================
CR     CR          CR
CR     PR          PR (footnote a, see below), otherwise SD / PD
CR     SD          SD if the SD minimum duration is met, otherwise PD (*)
CR     PD          SD if the SD minimum duration is met, otherwise PD
CR     NE          SD if the SD minimum duration is met, otherwise NE
PR     CR          PR
PR     PR          PR
PR     SD          SD (if the SD minimum duration is met, otherwise NE)
PR     PD          SD if the SD minimum duration is met, otherwise PD
PR     NE          SD if the SD minimum duration is met, otherwise NE
NE     NE          NE
=====  ==========  ==========================================================

How the engine applies it:

- A CR is confirmed by a later CR at least ``confirmation_min_days`` (28) after it; a PR (or a CR that is not
  confirmed as CR) by a later PR or CR at least that long after it (RECIST 1.1 §4.6: "no less than 4 weeks
  after the criteria for response are first met"). Between the two only responses of the same kind or better
  may occur, and at most ``max_ne_between`` (default 1) NE time points: RECIST 1.1 §4.4.1 calls PR-NE-PR
  "reasonable to consider ... a confirmed response".
- CR then PR: Table 3 footnote a says a true CR followed by any disease is PD, but that often the "CR" was a
  PR all along and "the original CR should be changed to PR and the best response is PR". The engine cannot
  tell the two apart from the time points, so it takes the second reading: the CR counts as a PR, confirmed by
  the PR when that is at least ``confirmation_min_days`` later. An assessor who judges the disease to have
  reappeared records PD at that time point, which the engine then honours.
- An unconfirmed CR/PR, an SD, or a NON-CR/NON-PD (patients with non-target disease only, Table 2) counts as
  stable disease when that time point is at least ``sd_min_days`` after randomization (RECIST 1.1 §4.6:
  SD "at least once after study entry at a minimum interval ... defined in the study protocol"). It is
  reported as SD, or NON-CR/NON-PD for a patient without target lesions.
- Otherwise PD when a PD time point exists, else NE. (*) Table 3 row CR → SD gives PD when the minimum is not
  met, because after a true CR an SD means reappearance; the engine gives PD only when PD was recorded, NE
  otherwise, consistent with the CR → PR reading above.

Without confirmation the best time point counts (CR > PR > stable > PD > NE), stable again only from
``sd_min_days``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from trialtwin.engine.recist.timepoint import ResponseCategory, TimepointResponse
from trialtwin.protocol.model import ResponseRules

_CR = ResponseCategory.CR
_PR = ResponseCategory.PR
_SD = ResponseCategory.SD
_NN = ResponseCategory.NON_CR_NON_PD
_PD = ResponseCategory.PD
_NE = ResponseCategory.NE
_CR_ONLY = frozenset({_CR})
_CR_OR_PR = frozenset({_CR, _PR})
_STABLE_OR_BETTER = frozenset({_CR, _PR, _SD, _NN})


@dataclass(frozen=True, slots=True)
class RecistRules:
    """Best-overall-response conventions; defaults are the usual RECIST 1.1 conventions for a randomized
    trial reporting ORR (facts file section 9: confirmation >= 28 days, SD >= 35 days from randomization).

    ``max_ne_between``: NE time points allowed between a response and its confirmation (RECIST 1.1 §4.4.1
    example PR-NE-PR); not part of the protocol model, so it keeps its default there.
    """

    confirmation_required: bool = True
    confirmation_min_days: int = 28
    sd_min_days: int = 35
    max_ne_between: int = 1

    @classmethod
    def from_protocol(cls, rules: ResponseRules) -> RecistRules:
        """The rules of a protocol's ``response_rules`` section."""
        return cls(
            confirmation_required=rules.confirmation_required,
            confirmation_min_days=rules.confirmation_min_days,
            sd_min_days=rules.sd_min_days,
        )


@dataclass(frozen=True, slots=True)
class BestResponse:
    """Best overall response of a patient.

    ``response_date``: first time point of the best response (CR/PR: the first response, the start of
    duration of response; SD: the first time point that met the SD minimum). ``confirmation_date``: the
    assessment that confirmed a CR/PR (None without confirmation). ``progression_date``: first PD time point.
    ``best_pct_change``: most negative percent change of the target sum from baseline over the time points
    up to and including the first PD with a complete sum (waterfall plot value); None without one.
    """

    response: ResponseCategory
    response_date: dt.date | None
    confirmation_date: dt.date | None
    progression_date: dt.date | None
    best_pct_change: float | None


def _confirmation(
    timepoints: Sequence[TimepointResponse],
    start: int,
    allowed: frozenset[ResponseCategory],
    rules: RecistRules,
) -> dt.date | None:
    """Date of the assessment confirming the response at ``start``, or None."""
    first = timepoints[start].date
    ne = 0
    for j in range(start + 1, len(timepoints)):
        tp = timepoints[j]
        if tp.overall is _NE:
            ne += 1
            if ne > rules.max_ne_between:
                return None
            continue
        if tp.overall not in allowed:
            return None
        if (tp.date - first).days >= rules.confirmation_min_days:
            return tp.date
    return None


def _confirmed(
    timepoints: Sequence[TimepointResponse],
    candidates: frozenset[ResponseCategory],
    rules: RecistRules,
) -> tuple[dt.date, dt.date] | None:
    """(response date, confirmation date) of the first confirmed response among ``candidates``."""
    for i, tp in enumerate(timepoints):
        if tp.overall in candidates:
            confirmed_on = _confirmation(timepoints, i, candidates, rules)
            if confirmed_on is not None:
                return tp.date, confirmed_on
    return None


def assess_best_response(
    timepoints: Sequence[TimepointResponse], *, randomized: dt.date, rules: RecistRules = RecistRules()
) -> BestResponse:
    """Best overall response over follow-up time points in date order (RECIST 1.1 §4.4, Table 3).

    See the module docstring for the rules. ``randomized`` is the reference for the SD minimum duration.
    """
    window: Sequence[TimepointResponse] = timepoints
    progression: dt.date | None = None
    for k, tp in enumerate(timepoints):
        if tp.overall is _PD:
            progression = tp.date
            window = timepoints[: k + 1]
            break

    best_pct: float | None = None
    for tp in window:
        pct = tp.pct_from_baseline
        if pct is not None and (best_pct is None or pct < best_pct):
            best_pct = pct

    def result(response: ResponseCategory, on: dt.date | None = None, confirmed: dt.date | None = None) -> BestResponse:
        return BestResponse(response, on, confirmed, progression, best_pct)

    if rules.confirmation_required:
        cr = _confirmed(window, _CR_ONLY, rules)
        if cr is not None:
            return result(_CR, *cr)
        pr = _confirmed(window, _CR_OR_PR, rules)
        if pr is not None:
            return result(_PR, *pr)
    else:
        for wanted in (_CR, _PR):
            for tp in window:
                if tp.overall is wanted:
                    return result(wanted, tp.date)

    for tp in window:
        if tp.overall in _STABLE_OR_BETTER and (tp.date - randomized).days >= rules.sd_min_days:
            stable = _NN if tp.overall is _NN or (tp.overall is _CR and tp.target is None) else _SD
            return result(stable, tp.date)
    if progression is not None:
        return result(_PD, progression)
    return result(_NE)
