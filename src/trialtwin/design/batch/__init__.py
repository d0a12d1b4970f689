"""The batched operating-characteristics engine: many replicate trials at once as NumPy arrays.

See docs/design/batched-engine.md. ``simulate_batch(design, replicates, rng=...)`` returns a ``BatchResult``
whose ``summary`` gives power with its Monte-Carlo error; ``BatchDesign.from_protocol`` builds the design of a
protocol; ``simulate_trials`` gives the subject-level arrays of one chunk (parity tests, inspection).
``observation="scans"`` with a ``ScanSchedule`` (and optionally a ``Reading``) observes progression only at
scheduled tumour assessments (``trialtwin.design.batch.scans``).
"""

from trialtwin.design.batch.scans import Reading, ScanSchedule
from trialtwin.design.batch.scenario import TICKS_PER_MONTH, BatchDesign, Cut, PiecewiseRate, block_patterns
from trialtwin.design.batch.simulate import (
    DEFAULT_CHUNK_SIZE,
    BatchResult,
    TrialBatch,
    analyse_trials,
    default_workers,
    simulate_batch,
    simulate_trials,
)
from trialtwin.design.batch.statistics import (
    BatchInputError,
    BatchStatistics,
    batch_statistics,
    statistics_from_ticks,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "TICKS_PER_MONTH",
    "BatchDesign",
    "BatchInputError",
    "BatchResult",
    "BatchStatistics",
    "Cut",
    "PiecewiseRate",
    "Reading",
    "ScanSchedule",
    "TrialBatch",
    "analyse_trials",
    "batch_statistics",
    "block_patterns",
    "default_workers",
    "simulate_batch",
    "simulate_trials",
    "statistics_from_ticks",
]
