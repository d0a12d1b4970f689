"""Protocol → concrete calendar: dosing days and tumour assessments with their windows.

Pure: the start date (randomization / cycle 1 day 1) is a parameter; nothing reads a clock.

Conventions (documented in docs/protocol.md):
- Study day 1 is ``start``; cycle ``c`` starts on study day ``(c − 1)·L + 1`` for a cycle of ``L`` days, and a
  regimen's dosing day ``d`` of that cycle is study day ``(c − 1)·L + d`` (so D1+D8 q21d gives days 1, 8, 22, 29, …).
- Scans are counted from randomization in weeks (RECIST 1.1 §3.1: assessments at regular intervals from the start of
  treatment): the week-``w`` scan is due on ``start + 7w`` days, ± the phase's window. The baseline scan falls in the
  ``baseline_window_days`` before ``start``.
- ``weeks=N`` covers study days 1 … 7N for doses and scans up to and including week N.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Arm, Protocol, Regimen


class ScheduleError(TrialtwinError):
    """The calendar cannot be built (e.g. a physician's-choice arm without a chosen regimen)."""


@dataclass(frozen=True, slots=True)
class DoseEvent:
    """One planned administration day of a regimen."""

    date: dt.date
    study_day: int
    cycle: int
    cycle_day: int
    regimen: str
    drug: str
    amount: float
    unit: str
    times_per_day: int


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """One planned tumour assessment with its allowed window (inclusive)."""

    date: dt.date
    study_day: int
    week: int
    window_start: dt.date
    window_end: dt.date
    baseline: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    arm: str
    regimen: str
    start: dt.date
    weeks: int
    doses: tuple[DoseEvent, ...]
    scans: tuple[ScanEvent, ...]


def choose_regimen(protocol: Protocol, arm: Arm, regimen: str | None = None) -> Regimen:
    """The regimen a patient of ``arm`` receives: the arm's only regimen, or the chosen one for a
    physician's-choice arm (``regimen`` by id or drug name)."""
    options = protocol.arm_regimens(arm)
    if not options:
        raise ScheduleError(f"arm {arm.label!r} of {protocol.id} has no computable regimen")
    if regimen is None:
        if len(options) == 1 or arm.regimen_choice == "all":
            return options[0]
        names = ", ".join(r.id for r in options)
        raise ScheduleError(f"arm {arm.label!r} is treatment of physician's choice: choose a regimen ({names})")
    for option in options:
        if regimen.casefold() in (option.id.casefold(), option.drug.casefold()):
            return option
    names = ", ".join(r.id for r in options)
    raise ScheduleError(f"regimen {regimen!r} is not given in arm {arm.label!r} (choose from: {names})")


def expand_dosing(regimen: Regimen, start: dt.date, *, last_day: int) -> tuple[DoseEvent, ...]:
    """Dosing days of ``regimen`` from ``start`` up to study day ``last_day`` (inclusive)."""
    events = []
    cycle = 1
    while (cycle - 1) * regimen.cycle_length_days + 1 <= last_day:
        offset = (cycle - 1) * regimen.cycle_length_days
        for day in regimen.dosing_days:
            study_day = offset + day
            if study_day > last_day:
                break
            events.append(
                DoseEvent(
                    date=start + dt.timedelta(days=study_day - 1),
                    study_day=study_day,
                    cycle=cycle,
                    cycle_day=day,
                    regimen=regimen.id,
                    drug=regimen.drug,
                    amount=regimen.dose.amount,
                    unit=regimen.dose.unit.value,
                    times_per_day=regimen.dose.times_per_day,
                )
            )
        cycle += 1
    return tuple(events)


def expand_scans(protocol: Protocol, start: dt.date, *, weeks: int) -> tuple[ScanEvent, ...]:
    """Baseline and on-study tumour assessments up to week ``weeks`` (from the protocol's calendar)."""
    calendar = protocol.tumour_assessment
    if calendar is None:
        raise ScheduleError(f"{protocol.id} has no tumour_assessment calendar")
    baseline = ScanEvent(
        date=start,
        study_day=1,
        week=0,
        window_start=start - dt.timedelta(days=calendar.baseline_window_days),
        window_end=start,
        baseline=True,
    )
    scans = [baseline]
    for week in calendar.scan_weeks(weeks):
        due = start + dt.timedelta(weeks=week)
        window = dt.timedelta(days=calendar.window_for_week(week))
        scans.append(
            ScanEvent(
                date=due,
                study_day=7 * week + 1,
                week=week,
                window_start=due - window,
                window_end=due + window,
            )
        )
    return tuple(scans)


def expand_schedule(
    protocol: Protocol, arm: str, start: dt.date, *, weeks: int = 12, regimen: str | None = None
) -> Schedule:
    """The calendar of one patient of ``arm`` (id or label) starting on ``start``, for ``weeks`` weeks."""
    if weeks < 1:
        raise ScheduleError(f"weeks must be at least 1 (got {weeks})")
    try:
        arm_obj = protocol.arm(arm)
    except KeyError as exc:
        raise ScheduleError(str(exc.args[0])) from None
    chosen = choose_regimen(protocol, arm_obj, regimen)
    return Schedule(
        arm=arm_obj.id,
        regimen=chosen.id,
        start=start,
        weeks=weeks,
        doses=expand_dosing(chosen, start, last_day=7 * weeks),
        scans=expand_scans(protocol, start, weeks=weeks),
    )
