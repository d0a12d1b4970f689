"""Visit and scan calendars expanded from the protocol (engine.schedule)."""

from __future__ import annotations

import datetime as dt

import pytest

from trialtwin.engine.schedule import ScheduleError, expand_schedule
from trialtwin.protocol import Protocol

START = dt.date(2021, 3, 1)


@pytest.mark.parametrize(
    ("arm", "drug", "weeks", "days"),
    [
        ("Sacituzumab Govitecan-hziy", None, 12, [1, 8, 22, 29, 43, 50, 64, 71]),  # D1+D8 q21d (registry)
        ("tpc", "eribulin", 6, [1, 8, 22, 29]),  # D1+D8 q21d
        ("tpc", "gemcitabine", 8, [1, 8, 15, 29, 36, 43]),  # D1, D8, D15 q28d
        ("tpc", "vinorelbine", 4, [1, 8, 15, 22]),  # weekly
        ("tpc", "capecitabine", 4, [*range(1, 15), *range(22, 29)]),  # D1-14 q21d, twice daily
    ],
)
def test_dosing_days(ever: Protocol, arm: str, drug: str | None, weeks: int, days: list[int]) -> None:
    sched = expand_schedule(ever, arm, START, weeks=weeks, regimen=drug)
    assert [d.study_day for d in sched.doses] == days
    assert all(d.date == START + dt.timedelta(days=d.study_day - 1) for d in sched.doses)


def test_capecitabine_is_twice_daily(ever: Protocol) -> None:
    sched = expand_schedule(ever, "tpc", START, weeks=1, regimen="capecitabine")
    assert {d.times_per_day for d in sched.doses} == {2}


def test_cycle_numbering(ever: Protocol) -> None:
    sched = expand_schedule(ever, "sg", START, weeks=12)
    assert [(d.cycle, d.cycle_day) for d in sched.doses][:4] == [(1, 1), (1, 8), (2, 1), (2, 8)]


def test_scans_every_6_weeks_then_every_9(ever: Protocol) -> None:
    """Facts file section 9 default: every 6 weeks (±7 d) to week 36, then every 9 weeks."""
    sched = expand_schedule(ever, "sg", START, weeks=72)
    assert [s.week for s in sched.scans] == [0, 6, 12, 18, 24, 30, 36, 45, 54, 63, 72]
    week6 = sched.scans[1]
    assert week6.date == dt.date(2021, 4, 12)
    assert (week6.window_start, week6.window_end) == (dt.date(2021, 4, 5), dt.date(2021, 4, 19))


def test_baseline_window(ever: Protocol) -> None:
    baseline = expand_schedule(ever, "sg", START, weeks=6).scans[0]
    assert baseline.baseline and baseline.week == 0
    assert baseline.window_start == START - dt.timedelta(days=28)


def test_twelve_weeks_lists_the_week_12_scan_but_not_day_85(ever: Protocol) -> None:
    sched = expand_schedule(ever, "sg", START, weeks=12)
    assert [s.week for s in sched.scans] == [0, 6, 12]
    assert max(d.study_day for d in sched.doses) == 71


def test_physicians_choice_needs_a_regimen(ever: Protocol) -> None:
    with pytest.raises(ScheduleError, match="physician's choice: choose a regimen"):
        expand_schedule(ever, "tpc", START)


def test_regimen_must_belong_to_the_arm(ever: Protocol) -> None:
    with pytest.raises(ScheduleError, match="not given in arm"):
        expand_schedule(ever, "sg", START, regimen="eribulin")


def test_unknown_arm(ever: Protocol) -> None:
    with pytest.raises(ScheduleError, match="no arm 'placebo'"):
        expand_schedule(ever, "placebo", START)


def test_sibling_trial_runs_from_its_own_file(tropics: Protocol) -> None:
    sched = expand_schedule(tropics, "sg", START, weeks=6)
    assert [d.study_day for d in sched.doses] == [1, 8, 22, 29]
