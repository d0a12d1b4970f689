"""RECIST 1.1 (Eisenhauer EA et al., Eur J Cancer 2009;45:228-247): from lesion measurements to time-point
responses, best overall response with confirmation, progression date and best percent change.

Pure and fast: frozen dataclasses and a StrEnum in the core; pydantic only in :mod:`.schema` (the JSON edge).

>>> import datetime as dt
>>> from trialtwin.engine.recist import Assessment, RecistRecord, TargetLesion, assess_recist
>>> def scan(day, size):
...     return Assessment(dt.date(2021, 1, 1) + dt.timedelta(days=day),
...                       (TargetLesion("T1", "liver", False, size),), (), False)
>>> result = assess_recist(RecistRecord(dt.date(2021, 1, 1), (scan(-7, 40.0), scan(42, 26.0), scan(84, 25.0))))
>>> result.best_overall_response.value, result.best.response_date.isoformat()
('PR', '2021-02-12')
"""

from trialtwin.engine.recist.assess import RecistResult, assess_recist
from trialtwin.engine.recist.best_response import BestResponse, RecistRules, assess_best_response
from trialtwin.engine.recist.lesions import (
    MAX_TARGETS,
    MAX_TARGETS_PER_ORGAN,
    MIN_MEASURABLE_MM,
    MIN_MEASURABLE_NODE_MM,
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistInputError,
    RecistRecord,
    TargetLesion,
    TargetSelection,
    check_record,
    evaluate_target_selection,
    record_problems,
)
from trialtwin.engine.recist.schema import parse_record, record_from_data, record_to_data, result_to_data
from trialtwin.engine.recist.sums import (
    TOO_SMALL_MM,
    all_measured,
    compute_pct_change,
    compute_sum_of_diameters,
    lesion_size_mm,
)
from trialtwin.engine.recist.timepoint import (
    NORMAL_NODE_MM,
    PD_INCREASE,
    PD_MIN_INCREASE_MM,
    PR_DECREASE,
    ResponseCategory,
    TimepointResponse,
    assess_non_target,
    assess_overall,
    assess_target,
    assess_timepoint,
    is_progression,
)

__all__ = [
    "MAX_TARGETS",
    "MAX_TARGETS_PER_ORGAN",
    "MIN_MEASURABLE_MM",
    "MIN_MEASURABLE_NODE_MM",
    "NORMAL_NODE_MM",
    "PD_INCREASE",
    "PD_MIN_INCREASE_MM",
    "PR_DECREASE",
    "TOO_SMALL_MM",
    "Assessment",
    "BestResponse",
    "LesionStatus",
    "NonTargetLesion",
    "RecistInputError",
    "RecistRecord",
    "RecistResult",
    "RecistRules",
    "ResponseCategory",
    "TargetLesion",
    "TargetSelection",
    "TimepointResponse",
    "all_measured",
    "assess_best_response",
    "assess_non_target",
    "assess_overall",
    "assess_recist",
    "assess_target",
    "assess_timepoint",
    "check_record",
    "compute_pct_change",
    "compute_sum_of_diameters",
    "evaluate_target_selection",
    "is_progression",
    "lesion_size_mm",
    "parse_record",
    "record_from_data",
    "record_problems",
    "record_to_data",
    "result_to_data",
]
