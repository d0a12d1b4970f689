"""Stratified permuted-block randomization with block sizes drawn at random.

Within each stratum subjects are allocated along a sequence of blocks. Each block's size b is drawn with
equal probability from the design's block sizes; a block of size b holds exactly b·w_i/W entries of arm i
(w_i the arm's ratio weight, W their sum) in a uniformly random order (Fisher–Yates shuffle). Random block
sizes make the end of a block harder to foresee (ICH E9 §2.3.1; Rosenberger & Lachin 2016, *Randomization
in Clinical Trials*, 2nd ed., §3.8 "random block design"; Matts & Lachin 1988, Control Clin Trials 9:327).

Draw order, per new block: one ``rng.random()`` for the size, then ``rng.random(b - 1)`` for the shuffle.
Only ``Generator.random`` doubles are used (no ``integers``/``permutation``), so a seed gives the same list
as long as NumPy's ``random()`` stream for the bit generator is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialtwin.engine.randomization.state import (
    Assignment,
    Method,
    RandomizationState,
    StratumState,
    Subject,
)


def draw_block(ratio: Sequence[int], block_sizes: Sequence[int], *, rng: np.random.Generator) -> tuple[int, ...]:
    """One block of arm indices: size drawn uniformly from ``block_sizes`` (each a multiple of the ratio
    total W), holding b·w_i/W of arm i, in random order (Fisher–Yates / Durstenfeld shuffle)."""
    size = block_sizes[int(rng.random() * len(block_sizes))]
    copies = size // sum(ratio)
    items = [k for k, w in enumerate(ratio) for _ in range(w * copies)]
    if size > 1:
        uniforms = rng.random(size - 1).tolist()
        for t, i in enumerate(range(size - 1, 0, -1)):
            j = int(uniforms[t] * (i + 1))
            items[i], items[j] = items[j], items[i]
    return tuple(items)


def allocate_permuted_block(
    state: RandomizationState, subject: Subject, *, rng: np.random.Generator
) -> tuple[Assignment, RandomizationState]:
    """Allocate ``subject`` to the next entry of its stratum's current block, opening a new block (random
    size, random order) when the current one is used up. Refuses (``AllocationRefused``) a subject whose
    stratification levels are missing or undeclared."""
    levels, s = state.locate(subject)
    stratum = state.strata[s]
    if stratum.used >= len(stratum.block):
        block = draw_block(state.ratio, state.block_sizes, rng=rng)
        blocks, used = stratum.blocks + 1, 0
    else:
        block, blocks, used = stratum.block, stratum.blocks, stratum.used
    arm = block[used]
    counts = stratum.arm_counts
    new = StratumState((*counts[:arm], counts[arm] + 1, *counts[arm + 1 :]), blocks, block, used + 1)
    assignment = Assignment(
        subject_id=subject.id,
        arm=state.arms[arm],
        stratum=state.stratum_key(s),
        sequence=stratum.allocated + 1,
        method=Method.PERMUTED_BLOCK,
        block=blocks,
        block_size=len(block),
        block_position=used + 1,
    )
    return assignment, state.advance(s, levels, arm, new)
