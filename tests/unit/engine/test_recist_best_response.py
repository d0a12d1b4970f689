"""Best overall response with confirmation (RECIST 1.1 §4.4 and §4.6, Eisenhauer 2009 Table 3; facts file
sections 5 and 9: CR/PR confirmed >= 28 days later, SD >= 35 days after randomization)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialtwin.engine.recist import (
    BestResponse,
    RecistRules,
    ResponseCategory,
    TimepointResponse,
    assess_best_response,
)
from trialtwin.protocol import Protocol, ResponseRules

CR = ResponseCategory.CR
PR = ResponseCategory.PR
SD = ResponseCategory.SD
NN = ResponseCategory.NON_CR_NON_PD
PD = ResponseCategory.PD
NE = ResponseCategory.NE

RANDOMIZED = dt.date(2021, 3, 1)


def day(n: int) -> dt.date:
    return RANDOMIZED + dt.timedelta(days=n)


def tp(n: int, overall: ResponseCategory, pct: float | None = None, *, targets: bool = True) -> TimepointResponse:
    """A time point on day ``n`` after randomization with the given overall response."""
    target: ResponseCategory | None = None
    if targets:
        target = overall if overall is not NN else SD
    return TimepointResponse(
        date=day(n),
        sum_mm=None,
        nadir_mm=None,
        pct_from_baseline=pct,
        pct_from_nadir=None,
        target=target,
        non_target=None,
        new_lesions=False,
        overall=overall,
    )


def best(*points: TimepointResponse, rules: RecistRules | None = None) -> BestResponse:
    return assess_best_response(points, randomized=RANDOMIZED, rules=rules or RecistRules())


# Eisenhauer 2009 Table 3 (first time point → subsequent time point → best overall response). "Minimum met"
# rows put the first time point on day 42 (>= 35), "not met" rows on days 21 and 30.
TABLE_3 = [
    pytest.param((tp(42, CR), tp(84, CR)), CR, id="t3_cr_then_cr_is_cr"),
    pytest.param((tp(42, CR), tp(84, PR)), PR, id="t3_cr_then_pr_28d_later_is_pr_footnote_a"),
    pytest.param((tp(42, CR), tp(84, SD)), SD, id="t3_cr_then_sd_minimum_met_is_sd"),
    pytest.param((tp(42, CR), tp(84, PD)), SD, id="t3_cr_then_pd_minimum_met_is_sd"),
    pytest.param((tp(21, CR), tp(30, PD)), PD, id="t3_cr_then_pd_minimum_not_met_is_pd"),
    pytest.param((tp(42, CR), tp(84, NE)), SD, id="t3_cr_then_ne_minimum_met_is_sd"),
    pytest.param((tp(21, CR), tp(30, NE)), NE, id="t3_cr_then_ne_minimum_not_met_is_ne"),
    pytest.param((tp(42, PR), tp(84, CR)), PR, id="t3_pr_then_cr_is_pr"),
    pytest.param((tp(42, PR), tp(84, PR)), PR, id="t3_pr_then_pr_is_pr"),
    pytest.param((tp(42, PR), tp(84, SD)), SD, id="t3_pr_then_sd_is_sd"),
    pytest.param((tp(42, PR), tp(84, PD)), SD, id="t3_pr_then_pd_minimum_met_is_sd"),
    pytest.param((tp(21, PR), tp(30, PD)), PD, id="t3_pr_then_pd_minimum_not_met_is_pd"),
    pytest.param((tp(42, PR), tp(84, NE)), SD, id="t3_pr_then_ne_minimum_met_is_sd"),
    pytest.param((tp(21, PR), tp(30, NE)), NE, id="t3_pr_then_ne_minimum_not_met_is_ne"),
    pytest.param((tp(42, NE), tp(84, NE)), NE, id="t3_ne_then_ne_is_ne"),
]


@pytest.mark.parametrize(("points", "expected"), TABLE_3)
def test_table_3(points: tuple[TimepointResponse, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 Table 3: best overall response when confirmation of CR and PR is required."""
    assert best(*points).response is expected


def test_cr_then_sd_before_sd_minimum_without_recorded_pd_is_ne() -> None:
    """Eisenhauer 2009 Table 3 row CR → SD gives PD when the SD minimum is not met (a true CR followed by
    SD means reappearance). The engine only declares PD when it is recorded (see the module docstring), so
    CR on day 21 and SD on day 30, with nothing after, is NE."""
    assert best(tp(21, CR), tp(30, SD)).response is NE


CONFIRMATION = [
    pytest.param((tp(42, PR), tp(70, PR)), PR, id="pr_confirmed_exactly_28_days_later"),
    pytest.param((tp(42, PR), tp(69, PR)), SD, id="pr_not_confirmed_27_days_later"),
    pytest.param((tp(42, CR), tp(70, CR)), CR, id="cr_confirmed_exactly_28_days_later"),
    pytest.param((tp(42, CR), tp(69, CR)), SD, id="cr_not_confirmed_27_days_later"),
    pytest.param((tp(42, CR), tp(56, PR)), SD, id="cr_then_pr_under_28_days_is_not_pr"),
    pytest.param((tp(42, CR), tp(56, CR), tp(84, PR)), PR, id="cr_cr_pr_confirms_pr_from_the_first_cr"),
    pytest.param((tp(42, PR), tp(56, PR), tp(84, PR)), PR, id="pr_confirmed_past_an_early_repeat"),
    pytest.param((tp(42, PR), tp(84, NE), tp(126, PR)), PR, id="pr_ne_pr_is_confirmed_one_ne_allowed"),
    pytest.param((tp(42, PR), tp(63, NE), tp(84, NE), tp(126, PR)), SD, id="pr_ne_ne_pr_exceeds_ne_allowance"),
    pytest.param((tp(42, PR), tp(84, SD), tp(126, PR)), SD, id="pr_sd_pr_intervening_sd_breaks_confirmation"),
    pytest.param((tp(42, SD), tp(84, PR), tp(126, PR)), PR, id="sd_then_confirmed_pr_is_pr"),
    pytest.param((tp(42, PR), tp(84, CR), tp(126, CR)), CR, id="pr_then_confirmed_cr_is_cr"),
    pytest.param((tp(42, PR), tp(84, PD), tp(126, PR), tp(168, PR)), SD, id="bor_only_up_to_first_pd"),
]


@pytest.mark.parametrize(("points", "expected"), CONFIRMATION)
def test_confirmation(points: tuple[TimepointResponse, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 §4.6: CR/PR confirmed by a repeat assessment no less than 4 weeks (28 days, facts file
    section 9) after the criteria are first met; §4.4.1: PR-NE-PR may count as confirmed; BOR is taken up to
    the first PD."""
    assert best(*points).response is expected


SD_DURATION = [
    pytest.param((tp(28, SD),), NE, id="sd_before_minimum_is_ne"),
    pytest.param((tp(34, SD),), NE, id="sd_one_day_before_minimum_is_ne"),
    pytest.param((tp(35, SD),), SD, id="sd_on_minimum_day_is_sd"),
    pytest.param((tp(28, SD), tp(56, PD)), PD, id="sd_before_minimum_then_pd_is_pd"),
    pytest.param((tp(28, SD), tp(56, NE)), NE, id="sd_before_minimum_then_ne_is_ne"),
    pytest.param((tp(21, PD),), PD, id="first_scan_pd_is_pd"),
    pytest.param((), NE, id="no_follow_up_is_ne"),
    pytest.param((tp(42, PR),), SD, id="unconfirmed_pr_with_sd_duration_is_sd"),
    pytest.param((tp(28, PR),), NE, id="unconfirmed_pr_before_sd_minimum_is_ne"),
]


@pytest.mark.parametrize(("points", "expected"), SD_DURATION)
def test_sd_minimum_duration(points: tuple[TimepointResponse, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 §4.6: SD must be met once at least a protocol-defined interval after study entry
    (35 days from randomization, facts file section 9), otherwise NE (PD when progression follows)."""
    assert best(*points).response is expected


NON_TARGET_ONLY = [
    pytest.param((tp(42, NN, targets=False),), NN, id="non_target_only_stable_is_non_cr_non_pd"),
    pytest.param((tp(28, NN, targets=False),), NE, id="non_target_only_before_minimum_is_ne"),
    pytest.param((tp(42, CR, targets=False), tp(84, CR, targets=False)), CR, id="non_target_only_confirmed_cr"),
    pytest.param((tp(42, CR, targets=False),), NN, id="non_target_only_unconfirmed_cr_is_non_cr_non_pd"),
]


@pytest.mark.parametrize(("points", "expected"), NON_TARGET_ONLY)
def test_non_target_only_patients(points: tuple[TimepointResponse, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 Table 2 and its footnote: non-target-only patients are "non-CR/non-PD", never SD."""
    assert best(*points).response is expected


NO_CONFIRMATION = [
    pytest.param((tp(21, PR),), PR, id="no_confirmation_single_pr_is_pr"),
    pytest.param((tp(21, CR), tp(42, PD)), CR, id="no_confirmation_single_cr_is_cr"),
    pytest.param((tp(42, PR), tp(84, CR)), CR, id="no_confirmation_best_time_point_counts"),
    pytest.param((tp(21, SD),), NE, id="no_confirmation_sd_minimum_still_applies"),
    pytest.param((tp(21, SD), tp(42, PD)), PD, id="no_confirmation_early_sd_then_pd_is_pd"),
]


@pytest.mark.parametrize(("points", "expected"), NO_CONFIRMATION)
def test_without_confirmation(points: tuple[TimepointResponse, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 §4.4.1 / §4.6: in randomized trials confirmation may be waived (facts file section 5,
    R-CONF); the best time point then counts, SD still needs its minimum duration."""
    rules = RecistRules(confirmation_required=False)
    assert best(*points, rules=rules).response is expected


def test_response_and_confirmation_dates() -> None:
    """Duration of response starts at the first documented response (Eisenhauer 2009 §4.6): response_date is
    the first PR, confirmation_date the assessment that confirmed it."""
    result = best(tp(42, SD), tp(84, PR), tp(126, PR), tp(168, PD))
    assert (result.response, result.response_date, result.confirmation_date) == (PR, day(84), day(126))
    assert best(tp(42, SD)).response_date == day(42)
    assert best(tp(28, NE)).response_date is None


def test_progression_date_is_first_pd() -> None:
    """Eisenhauer 2009 §4.4.1: best response is recorded until disease progression; the progression date is
    the first PD time point (later PDs are ignored)."""
    result = best(tp(42, SD), tp(84, PD), tp(126, PD))
    assert result.progression_date == day(84)
    assert best(tp(42, SD)).progression_date is None


def test_best_pct_change_is_most_negative_before_progression() -> None:
    """Waterfall plot value: most negative % change of the target sum from baseline over time points with a
    complete sum, up to and including the first PD (Eisenhauer 2009 §4.4.1 window)."""
    result = best(tp(42, SD, -12.0), tp(84, PR, -41.5), tp(126, NE, None), tp(168, PD, -10.0), tp(210, PR, -60.0))
    assert result.best_pct_change == pytest.approx(-41.5)
    assert best(tp(42, SD, 8.0), tp(84, PD, 30.0)).best_pct_change == pytest.approx(8.0)
    assert best(tp(42, NE, None)).best_pct_change is None


def test_rules_from_protocol(ever: Protocol) -> None:
    """Facts file section 9: EVER-132-002's response_rules (an assumption) are confirmation >= 28 days and
    SD >= 35 days; RecistRules.from_protocol carries them over."""
    rules = RecistRules.from_protocol(ever.response_rules)
    assert rules == RecistRules(confirmation_required=True, confirmation_min_days=28, sd_min_days=35)


def test_custom_protocol_rules_change_the_result() -> None:
    """The confirmation interval and SD minimum come from the protocol (Eisenhauer 2009 §4.6: "defined in the
    study protocol")."""
    rules = RecistRules.from_protocol(ResponseRules(confirmation_min_days=56, sd_min_days=50))
    assert best(tp(42, PR), tp(84, PR), rules=rules).response is SD
    assert best(tp(42, PR), tp(98, PR), rules=rules).response is PR
    assert best(tp(42, SD), rules=rules).response is NE


def test_more_ne_between_allowed_when_configured() -> None:
    """Eisenhauer 2009 §4.4.1 leaves missing assessments to the analysis plan; max_ne_between sets how many
    NE time points may sit between a response and its confirmation."""
    points = (tp(42, PR), tp(63, NE), tp(84, NE), tp(126, PR))
    assert best(*points, rules=RecistRules(max_ne_between=2)).response is PR


_RANK = {CR: 5, PR: 4, SD: 3, NN: 3, PD: 2, NE: 1}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=60), st.sampled_from([CR, PR, SD, PD, NE])),
        max_size=8,
    )
)
def test_confirmation_never_improves_the_best_response(steps: list[tuple[int, ResponseCategory]]) -> None:
    """Eisenhauer 2009 §4.4.1: confirmation can only lower the best response (a confirmed CR/PR is also a
    CR/PR without confirmation); the progression date is the first PD either way."""
    points, n = [], 0
    for gap, overall in steps:
        n += gap
        points.append(tp(n, overall))
    with_conf = best(*points)
    without = best(*points, rules=RecistRules(confirmation_required=False))
    assert _RANK[with_conf.response] <= _RANK[without.response]
    first_pd = next((p.date for p in points if p.overall is PD), None)
    assert with_conf.progression_date == without.progression_date == first_pd
