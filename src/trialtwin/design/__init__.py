"""trialtwin.design: group-sequential designs, sample size and the batched operating-characteristics engine.

See docs/design/group-sequential.md and docs/design/batched-engine.md.
"""

from trialtwin.design.batch import BatchDesign, BatchResult, simulate_batch
from trialtwin.design.boundaries import (
    OBRIEN_FLEMING,
    POCOCK,
    CrossingProbabilities,
    GroupSequentialDesign,
    WangTsiatis,
    boundary_crossing_probabilities,
    equally_spaced,
    gsd_bounds,
    information_fractions_from_events,
    wang_tsiatis_constant,
)
from trialtwin.design.sample_size import (
    drift_for_events,
    event_probability,
    events_for_drift,
    freedman_events,
    group_sequential_events,
    inflation_factor,
    schoenfeld_events,
    subjects_for_events,
)
from trialtwin.design.spending import (
    DesignInputError,
    HwangShihDeCaniSpending,
    OBrienFlemingForm,
    OBrienFlemingSpending,
    PocockSpending,
    PowerSpending,
    SpendingFunction,
    parse_spending,
)

__all__ = [
    "OBRIEN_FLEMING",
    "POCOCK",
    "BatchDesign",
    "BatchResult",
    "CrossingProbabilities",
    "DesignInputError",
    "GroupSequentialDesign",
    "HwangShihDeCaniSpending",
    "OBrienFlemingForm",
    "OBrienFlemingSpending",
    "PocockSpending",
    "PowerSpending",
    "SpendingFunction",
    "WangTsiatis",
    "boundary_crossing_probabilities",
    "drift_for_events",
    "equally_spaced",
    "event_probability",
    "events_for_drift",
    "freedman_events",
    "group_sequential_events",
    "gsd_bounds",
    "inflation_factor",
    "information_fractions_from_events",
    "parse_spending",
    "schoenfeld_events",
    "simulate_batch",
    "subjects_for_events",
    "wang_tsiatis_constant",
]
