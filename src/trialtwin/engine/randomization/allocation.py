"""``allocate``: one randomization step, ``(assignment, new_state)``, by the state's method."""

from __future__ import annotations

import numpy as np

from trialtwin.engine.randomization.minimization import allocate_minimization
from trialtwin.engine.randomization.permuted_block import allocate_permuted_block
from trialtwin.engine.randomization.state import Assignment, Method, RandomizationState, Subject


def allocate(
    state: RandomizationState, subject: Subject, *, rng: np.random.Generator
) -> tuple[Assignment, RandomizationState]:
    """Allocate one subject: its :class:`Assignment` and the state after it. ``state`` is not changed.

    Stratified permuted blocks (``permuted_block``) or Pocock–Simon minimisation (``minimization``), as
    the state says. Only ``rng`` is used for randomness, in the fixed order documented in each method's
    module, so the same state, subject and generator state give the same result. Raises
    ``AllocationRefused`` when a stratification factor is missing or has an undeclared level.
    """
    if state.method is Method.PERMUTED_BLOCK:
        return allocate_permuted_block(state, subject, rng=rng)
    return allocate_minimization(state, subject, rng=rng)
