"""The study's randomization list as the IRT will allocate it, and its SHA-256 (trial-system-requirements E5/G3).

The ledger draws slot *p* of stratum *s* with ``numpy.random.default_rng([seed, s, p])``
(:func:`trialtwin.store.ledger.rng_for`), so the arm of every slot is fixed by the secret seed and the
protocol before the first subject arrives. The **list** is the first ``K`` slots of every stratum, drawn by
the engine's ``allocate`` on a fresh state with exactly those generators, i.e. the allocations the service
will make, slot by slot (a test randomizes through ``services.randomize`` and compares).

``K`` (:func:`list_length`) is the protocol's target enrolment (``enrollment.count``): one stratum can never
receive more subjects than the whole study, so every allocation up to the target is on the list whatever
the strata mix. Allocations beyond the target (over-enrolment) use the same generators and extend the list;
they are not covered by the hash recorded at generation.

Canonical form (what the SHA-256 covers): the engine's :class:`~trialtwin.engine.randomization.RandomizationList`
data (study, ratio, block sizes, ``K``, every stratum's levels and entries: sequence, arm, block, block
size, block position) with ``schema`` set to :data:`IRT_LIST_SCHEMA` (the generator differs from the
engine's ``generate_list``, so the tag does too) and ``generator`` naming the slot entropy; JSON with sorted
keys, no whitespace, ASCII, UTF-8 encoded. Neither the seed nor anything derived from it but the arms is in
the document, and the list is shown to no site role (E2/G5): only the statistician's CLI reads it.

Minimisation has no list (it allocates from who arrives): :func:`study_list` returns ``None``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from trialtwin.engine.randomization import (
    ListEntry,
    Method,
    RandomizationList,
    RandomizationState,
    StratumList,
    Subject,
    allocate,
    initial_state,
)
from trialtwin.protocol.model import Protocol
from trialtwin.store.errors import StoreError
from trialtwin.store.ledger import rng_for

#: Tag of the canonical list document (part of the hashed data).
IRT_LIST_SCHEMA = "trialtwin.irt-randomization-list/1"
#: How each slot's generator is seeded (part of the hashed data).
GENERATOR = "numpy.random.default_rng([seed, stratum index, position in stratum])"


@dataclass(frozen=True, slots=True)
class IrtList:
    """The per-stratum list the IRT allocates from, and its canonical form and SHA-256."""

    list: RandomizationList

    def to_dict(self) -> dict[str, Any]:
        """The hashed document (see the module docstring)."""
        return {**self.list.to_dict(), "schema": IRT_LIST_SCHEMA, "generator": GENERATOR}

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def n_per_stratum(self) -> int:
        return self.list.n_per_stratum

    def slot(self, stratum: str, position: int) -> ListEntry:
        """Entry ``position`` (1-based) of stratum ``stratum`` (its key, ``factor=level|...``)."""
        for s in self.list.strata:
            if s.stratum == stratum:
                if not 1 <= position <= len(s.entries):
                    raise StoreError(f"stratum {stratum!r} has no list position {position} (1..{len(s.entries)})")
                return s.entries[position - 1]
        raise StoreError(f"the randomization list has no stratum {stratum!r}")


def list_length(protocol: Protocol) -> int:
    """``K``, the slots listed per stratum: the protocol's target enrolment (see the module docstring)."""
    return protocol.enrollment.count


def slots_of_stratum(state: RandomizationState, seed: int, stratum: int, n: int) -> tuple[ListEntry, ...]:
    """The first ``n`` slots of stratum index ``stratum`` of the empty ``state``, as the ledger draws them."""
    _key, levels = next((k, lv) for i, (k, lv) in enumerate(state.iter_strata()) if i == stratum)
    subject = Subject(id="", levels=levels)
    current = state
    entries: list[ListEntry] = []
    for position in range(1, n + 1):
        a, current = allocate(current, subject, rng=rng_for(seed, stratum, position))
        assert a.block is not None and a.block_size is not None and a.block_position is not None
        entries.append(ListEntry(a.sequence, a.arm, a.block, a.block_size, a.block_position))
    return tuple(entries)


def study_list(protocol: Protocol, seed: int, n_per_stratum: int | None = None) -> IrtList | None:
    """The study's list (``K`` = :func:`list_length` unless ``n_per_stratum``), or ``None`` under minimisation."""
    state = initial_state(protocol)
    if state.method is not Method.PERMUTED_BLOCK:
        return None
    n = list_length(protocol) if n_per_stratum is None else n_per_stratum
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise StoreError(f"the number of list entries per stratum must be a positive integer (got {n!r})")
    strata = tuple(
        StratumList(key, tuple(levels.items()), slots_of_stratum(state, seed, s, n))
        for s, (key, levels) in enumerate(state.iter_strata())
    )
    listing = RandomizationList(state.study, state.arms, state.ratio, state.block_sizes, n, strata)
    return IrtList(listing)
