"""trialtwin.analysis: statistics to regulatory standard (see docs/analysis/statistics.md).

Every statistic is a function named by its noun that returns a frozen result with a ``summary`` DataFrame and a
``footnote`` naming its methods (ties, CI transform, variance). Vectorized NumPy; validated against R survival,
lifelines and statsmodels (tests/validation/).
"""

from trialtwin.analysis._survival_data import AnalysisInputError
from trialtwin.analysis.cox import CoxPHResult, Ties, cox_ph
from trialtwin.analysis.km import ConfType, KaplanMeierCurve, KaplanMeierResult, kaplan_meier, pointwise_ci
from trialtwin.analysis.logrank import LogRankResult, logrank_test
from trialtwin.analysis.response import (
    CMHResult,
    RateDifferenceResult,
    ResponseRateResult,
    clopper_pearson,
    cmh_test,
    rate_difference,
    response_rate,
    wilson,
)

__all__ = [
    "AnalysisInputError",
    "CMHResult",
    "ConfType",
    "CoxPHResult",
    "KaplanMeierCurve",
    "KaplanMeierResult",
    "LogRankResult",
    "RateDifferenceResult",
    "ResponseRateResult",
    "Ties",
    "clopper_pearson",
    "cmh_test",
    "cox_ph",
    "kaplan_meier",
    "logrank_test",
    "pointwise_ci",
    "rate_difference",
    "response_rate",
    "wilson",
]
