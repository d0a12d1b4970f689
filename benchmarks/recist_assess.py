"""Time the RECIST 1.1 engine on a 10-assessment record (baseline + 9 follow-ups, 5 targets, 3 non-targets).

Prints microseconds per evaluation with and without input checks, and for the time-point table alone.
Target from issue 3: < 50 µs per 10-assessment evaluation (the twin calls it for every virtual patient).
"""

from __future__ import annotations

import datetime as dt
import timeit

from trialtwin.engine.recist import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistRecord,
    RecistRules,
    TargetLesion,
    assess_recist,
    check_record,
)

RANDOMIZED = dt.date(2021, 3, 1)
ORGANS = (("liver", False), ("liver", False), ("lung", False), ("lung", False), ("lymph node", True))


def make_record(n_assessments: int = 10) -> RecistRecord:
    """Shrinking then growing targets: PR, confirmed, then PD at the last scan."""
    factors = [1.0, 0.8, 0.65, 0.6, 0.55, 0.55, 0.6, 0.62, 0.65, 0.9][:n_assessments]
    assessments = []
    for k, factor in enumerate(factors):
        date = RANDOMIZED + dt.timedelta(days=-7 if k == 0 else 42 * k)
        targets = tuple(
            TargetLesion(f"T{i}", organ, nodal, round((30.0 - 3 * i) * factor, 1))
            for i, (organ, nodal) in enumerate(ORGANS)
        )
        non_targets = tuple(
            NonTargetLesion(f"N{i}", organ, False, LesionStatus.PRESENT)
            for i, organ in enumerate(("bone", "pleura", "skin"))
        )
        assessments.append(Assessment(date, targets, non_targets, False))
    return RecistRecord(RANDOMIZED, tuple(assessments))


def per_call_us(func: object, number: int) -> float:
    timer = timeit.Timer(func)  # type: ignore[arg-type]
    best = min(timer.repeat(repeat=5, number=number))
    return best / number * 1e6


def main() -> None:
    record = make_record()
    rules = RecistRules()
    n = 5000
    checked = per_call_us(lambda: assess_recist(record, rules=rules), n)
    unchecked = per_call_us(lambda: assess_recist(record, rules=rules, check=False), n)
    check_only = per_call_us(lambda: check_record(record), n)
    result = assess_recist(record, rules=rules)
    print(f"record: {len(record.assessments)} assessments, 5 targets, 3 non-targets")
    print(f"best overall response {result.best_overall_response}, progression {result.progression_date}")
    print(f"assess_recist with check      : {checked:7.1f} µs per record (target < 50 µs)")
    print(f"assess_recist check=False     : {unchecked:7.1f} µs per record")
    print(f"check_record alone            : {check_only:7.1f} µs per record")
    print(f"records per second (checked)  : {1e6 / checked:9.0f}")


if __name__ == "__main__":
    main()
