"""Randomization: stratified permuted blocks and Pocock–Simon minimisation, as pure functions of a state value.

``allocate(state, subject, *, rng) -> (assignment, new_state)``; build the empty state with
``initial_state(protocol)``. Pre-generated lists with a SHA-256: ``generate_list``. Balance and
predictability by simulation: ``simulate_allocation``. See docs/engine/randomization.md.
"""

from trialtwin.engine.randomization.allocation import allocate
from trialtwin.engine.randomization.listing import ListEntry, RandomizationList, StratumList, generate_list
from trialtwin.engine.randomization.minimization import allocate_minimization, compute_imbalance_scores
from trialtwin.engine.randomization.permuted_block import allocate_permuted_block, draw_block
from trialtwin.engine.randomization.simulation import (
    Balance,
    MarginBalance,
    SimulationResult,
    compute_imbalance,
    simulate_allocation,
)
from trialtwin.engine.randomization.state import (
    STATE_SCHEMA,
    AllocationRefused,
    Assignment,
    Factor,
    Imbalance,
    Method,
    MinimizationSettings,
    RandomizationError,
    RandomizationState,
    StratumState,
    Subject,
    build_state,
    initial_state,
)

__all__ = [
    "STATE_SCHEMA",
    "AllocationRefused",
    "Assignment",
    "Balance",
    "Factor",
    "Imbalance",
    "ListEntry",
    "MarginBalance",
    "Method",
    "MinimizationSettings",
    "RandomizationError",
    "RandomizationList",
    "RandomizationState",
    "SimulationResult",
    "StratumList",
    "StratumState",
    "Subject",
    "allocate",
    "allocate_minimization",
    "allocate_permuted_block",
    "build_state",
    "compute_imbalance",
    "compute_imbalance_scores",
    "draw_block",
    "generate_list",
    "initial_state",
    "simulate_allocation",
]
