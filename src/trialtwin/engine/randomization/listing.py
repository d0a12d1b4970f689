"""Pre-generated randomization lists (what an IRT vendor loads before first patient in), with a SHA-256.

``generate_list`` draws, for each stratum, the first ``n`` entries of its permuted-block sequence with the
same block mechanism as :func:`allocate` (block size at random from the design's sizes, b·w_i/W of arm i,
random order). Each stratum has its own child generator, spawned from ``rng`` in stratum order
(``Generator.spawn``, NumPy SeedSequence), so a stratum's list does not depend on the others and a longer
list extends a shorter one drawn with the same seed. The last block of a stratum may be cut at ``n``.

The digest is the SHA-256 of a canonical serialisation: the list's ``to_dict()`` data as JSON with sorted
keys, no whitespace, ASCII only, UTF-8 encoded (RFC 8785 in spirit; the data holds only strings and
integers, so number formatting cannot differ).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialtwin.engine.randomization.permuted_block import allocate_permuted_block
from trialtwin.engine.randomization.state import (
    Method,
    RandomizationError,
    RandomizationState,
    Subject,
    initial_state,
)
from trialtwin.protocol.model import Protocol

#: Tag of the serialised list (part of the hashed data).
LIST_SCHEMA = "trialtwin.randomization-list/1"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One line of a stratum's list: 1-based sequence number, arm id, block number, size and position."""

    sequence: int
    arm: str
    block: int
    block_size: int
    block_position: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "arm": self.arm,
            "block": self.block,
            "block_size": self.block_size,
            "block_position": self.block_position,
        }


@dataclass(frozen=True, slots=True)
class StratumList:
    """The list of one stratum: its key, its levels (factor id, level code) and its entries."""

    stratum: str
    levels: tuple[tuple[str, str], ...]
    entries: tuple[ListEntry, ...]

    def arm_counts(self, arms: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(sum(e.arm == a for e in self.entries) for a in arms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stratum": self.stratum,
            "levels": dict(self.levels),
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True, slots=True)
class RandomizationList:
    """Per-stratum lists of a study, in stratum order (see :class:`RandomizationState` for the order)."""

    study: str
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    block_sizes: tuple[int, ...]
    n_per_stratum: int
    strata: tuple[StratumList, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data; exactly what the SHA-256 covers."""
        return {
            "schema": LIST_SCHEMA,
            "study": self.study,
            "method": Method.PERMUTED_BLOCK.value,
            "ratio": dict(zip(self.arms, self.ratio, strict=True)),
            "block_sizes": list(self.block_sizes),
            "n_per_stratum": self.n_per_stratum,
            "strata": [s.to_dict() for s in self.strata],
        }

    def canonical_json(self) -> str:
        """The canonical serialisation: sorted keys, no whitespace, ASCII."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`canonical_json` (UTF-8)."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def generate_list(
    design: Protocol | RandomizationState, n_per_stratum: int, *, rng: np.random.Generator
) -> RandomizationList:
    """Pre-generate ``n_per_stratum`` permuted-block entries for every stratum of ``design`` (a protocol or
    an empty state). Minimisation is dynamic (it depends on who arrives) and has no list: refused with a
    :class:`RandomizationError`, as is ``n_per_stratum`` < 1."""
    state = initial_state(design) if isinstance(design, Protocol) else design
    if state.method is not Method.PERMUTED_BLOCK:
        raise RandomizationError(
            f"{state.study or 'design'}: {state.method.value} allocates from the subjects who arrive; "
            "no list can be pre-generated (use permuted_block)"
        )
    if state.allocated:
        raise RandomizationError("generate_list needs an empty state (nothing allocated yet)")
    if isinstance(n_per_stratum, bool) or not isinstance(n_per_stratum, int) or n_per_stratum < 1:
        raise RandomizationError(
            f"the number of entries per stratum must be a positive integer (got {n_per_stratum!r})"
        )
    children = rng.spawn(state.n_strata)
    strata = []
    for s, (key, levels) in enumerate(state.iter_strata()):
        subject = Subject(id="", levels=levels)
        entries = []
        current = state
        for _ in range(n_per_stratum):
            a, current = allocate_permuted_block(current, subject, rng=children[s])
            assert a.block is not None and a.block_size is not None and a.block_position is not None
            entries.append(ListEntry(a.sequence, a.arm, a.block, a.block_size, a.block_position))
        strata.append(StratumList(key, tuple(levels.items()), tuple(entries)))
    return RandomizationList(state.study, state.arms, state.ratio, state.block_sizes, n_per_stratum, tuple(strata))
