"""A randomized subject's calendar: planned dosing days and tumour assessments from the randomization date.

The calendar is the engine's (``trialtwin.engine.schedule.expand_schedule``): study day 1 is the date of
randomization, cycle ``c`` day ``d`` is study day ``(c-1)·L + d``, and scans are due every protocol interval with
the protocol's windows (RECIST 1.1 §3.1). For a physician's-choice arm the regimen is the one the subject is
dosed with (the regimen of the first dosing visit) or the one named by ``regimen``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trialtwin.engine.schedule import ScheduleError, expand_schedule
from trialtwin.services.clinical_common import load_randomized, subject_regimen
from trialtwin.services.errors import WorkflowError
from trialtwin.store.db import Database

DEFAULT_WEEKS = 24
MAX_WEEKS = 520


@dataclass(frozen=True, slots=True)
class PlannedDose:
    """One planned administration: date, study day, cycle, day of cycle, regimen, drug and starting dose."""

    date: dt.date
    study_day: int
    cycle: int
    cycle_day: int
    regimen: str
    drug: str
    amount: float
    unit: str


@dataclass(frozen=True, slots=True)
class PlannedScan:
    """One planned tumour assessment with its window (inclusive); ``week`` 0 is the baseline scan."""

    date: dt.date
    week: int
    window_start: dt.date
    window_end: dt.date
    baseline: bool


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """The subject's calendar for ``weeks`` weeks from the randomization date (``start``)."""

    study_id: str
    screening_id: str
    subject_number: str
    arm: str
    regimen: str
    start: dt.date
    weeks: int
    doses: tuple[PlannedDose, ...]
    scans: tuple[PlannedScan, ...]


def get_schedule(
    db: Database, study_id: str, screening_id: str, *, weeks: int = DEFAULT_WEEKS, regimen: str | None = None
) -> ScheduleView:
    """The subject's planned visits and scans (read only). Refused (``WorkflowError``) before randomization
    (nothing clinical exists before it, B8) and, on a physician's-choice arm, before the regimen is known
    (first dosing visit) unless ``regimen`` names one."""
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= MAX_WEEKS:
        raise WorkflowError(f"weeks must be an integer from 1 to {MAX_WEEKS} (got {weeks!r})")
    with db.read_session() as session:
        ctx = load_randomized(session, study_id, screening_id)
        chosen = regimen or subject_regimen(session, ctx)
        try:
            plan = expand_schedule(ctx.protocol, ctx.arm, ctx.start, weeks=weeks, regimen=chosen)
        except ScheduleError as exc:
            raise WorkflowError(f"subject {screening_id}: {exc}") from None
    return ScheduleView(
        study_id,
        screening_id,
        ctx.subject_number,
        plan.arm,
        plan.regimen,
        plan.start,
        plan.weeks,
        tuple(
            PlannedDose(d.date, d.study_day, d.cycle, d.cycle_day, d.regimen, d.drug, d.amount, d.unit)
            for d in plan.doses
        ),
        tuple(PlannedScan(s.date, s.week, s.window_start, s.window_end, s.baseline) for s in plan.scans),
    )
