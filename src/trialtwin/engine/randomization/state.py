"""Randomization state as a value: what an IRT ledger stores between two allocations.

``RandomizationState`` is a frozen, hashable dataclass built only of tuples, strings and numbers. It holds
the design (arms, integer allocation ratio, stratification factors and their declared level codes, block
sizes, minimisation settings) and the running counts: for every stratum, the subjects allocated to each arm
and the current permuted block. ``to_dict``/``from_dict`` turn it into JSON-compatible data and back, so the
service can keep it in its ledger and the twin in a local variable (DESIGN.md, "Randomization state is a
value").

Strata are the cells of the cross-classification of the stratification factors, numbered in mixed radix
over the factors' declared order (the first factor varies slowest), as in ICH E9 §2.3.1 ("stratification
by important prognostic factors measured before randomization"). A stratum's key reads
``prior_lines=2|visceral=yes|prior_cdk46=no``; an unstratified design has one stratum, ``all``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Minimization, Protocol

#: Tag of the serialised state; ``from_dict`` refuses any other.
STATE_SCHEMA = "trialtwin.randomization-state/1"
#: Key of the only stratum of an unstratified design.
UNSTRATIFIED = "all"


class Method(StrEnum):
    """How a subject's arm is chosen."""

    PERMUTED_BLOCK = "permuted_block"
    MINIMIZATION = "minimization"


class Imbalance(StrEnum):
    """Pocock–Simon imbalance function over one factor level's arm counts (Pocock & Simon 1975, §3)."""

    RANGE = "range"
    VARIANCE = "variance"


class RandomizationError(TrialtwinError):
    """A randomization design or a stored state is unusable (bad ratio, block sizes, malformed state)."""


class AllocationRefused(RandomizationError):
    """A subject cannot be allocated: a stratification factor is missing or has an undeclared level.

    ``subject_id`` names the subject and ``problems`` lists every reason (one line each).
    """

    def __init__(self, subject_id: str, problems: Sequence[str]) -> None:
        self.subject_id = subject_id
        self.problems = tuple(problems)
        super().__init__(f"subject {subject_id!r} cannot be randomized: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Factor:
    """A stratification factor: its id and its declared level codes, in protocol order."""

    id: str
    levels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MinimizationSettings:
    """Pocock–Simon settings: the preferred arm is taken with ``probability``; ``weights`` are per factor,
    in the state's factor order (Pocock & Simon 1975, Biometrics 31:103-115, §3)."""

    probability: float = 0.8
    imbalance: Imbalance = Imbalance.RANGE
    weights: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject to randomize: its id and its stratification levels (factor id → level code).

    Keys that are not stratification factors of the design are ignored (a subject may carry more).
    """

    id: str
    levels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StratumState:
    """Counts of one stratum: subjects per arm (state's arm order), blocks opened so far, the current block
    (arm indices) and how many of its entries are used."""

    arm_counts: tuple[int, ...]
    blocks: int = 0
    block: tuple[int, ...] = ()
    used: int = 0

    @property
    def allocated(self) -> int:
        return sum(self.arm_counts)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The decision for one subject.

    ``sequence`` is the 1-based position in the stratum's list. For permuted blocks, ``block`` is the
    1-based block number in the stratum, ``block_size`` its size and ``block_position`` the 1-based position
    in it. For minimisation, ``scores`` holds the total imbalance G_k if the subject went to each arm (state
    arm order) and ``preferred`` the arm of least imbalance (``None`` when all arms tie).
    """

    subject_id: str
    arm: str
    stratum: str
    sequence: int
    method: Method
    block: int | None = None
    block_size: int | None = None
    block_position: int | None = None
    scores: tuple[float, ...] = ()
    preferred: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data (minimisation fields only for minimisation, block fields only for blocks)."""
        data: dict[str, Any] = {
            "subject_id": self.subject_id,
            "arm": self.arm,
            "stratum": self.stratum,
            "sequence": self.sequence,
            "method": self.method.value,
        }
        if self.method is Method.PERMUTED_BLOCK:
            data.update(block=self.block, block_size=self.block_size, block_position=self.block_position)
        else:
            data.update(scores=list(self.scores), preferred=self.preferred)
        return data


@dataclass(frozen=True, slots=True)
class RandomizationState:
    """Design plus running counts. Build it with :func:`build_state` or :meth:`from_protocol`.

    ``strata[s]`` is the stratum with mixed-radix index ``s``; ``margins[f][level][arm]`` counts subjects per
    arm at each level of factor ``f`` (Pocock–Simon's marginal totals); ``allocated`` counts all subjects.
    ``margins`` and ``allocated`` are derived from ``strata`` and are not serialised.
    """

    study: str
    method: Method
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    factors: tuple[Factor, ...]
    block_sizes: tuple[int, ...]
    minimization: MinimizationSettings
    strata: tuple[StratumState, ...]
    margins: tuple[tuple[tuple[int, ...], ...], ...]
    allocated: int = 0

    # ---- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_protocol(cls, protocol: Protocol, *, method: Method | str | None = None) -> RandomizationState:
        """The empty state of a protocol's ``randomization`` section (method may be overridden)."""
        return initial_state(protocol, method=method)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RandomizationState:
        """A state from :meth:`to_dict` data; :class:`RandomizationError` names the first bad field."""
        return _state_from_dict(data)

    # ---- look-ups -----------------------------------------------------------------------------------------

    @property
    def n_strata(self) -> int:
        return len(self.strata)

    def stratum_levels(self, index: int) -> tuple[str, ...]:
        """Level codes (factor order) of stratum ``index``."""
        codes: list[str] = []
        for factor in reversed(self.factors):
            index, li = divmod(index, len(factor.levels))
            codes.append(factor.levels[li])
        return tuple(reversed(codes))

    def stratum_key(self, index: int) -> str:
        """``factor=level|factor=level`` of stratum ``index`` (``all`` when unstratified)."""
        if not self.factors:
            return UNSTRATIFIED
        return "|".join(f"{f.id}={code}" for f, code in zip(self.factors, self.stratum_levels(index), strict=True))

    def iter_strata(self) -> Iterator[tuple[str, dict[str, str]]]:
        """``(key, {factor: level})`` of every stratum, in index order."""
        for s in range(len(self.strata)):
            levels = self.stratum_levels(s)
            yield self.stratum_key(s), {f.id: code for f, code in zip(self.factors, levels, strict=True)}

    def locate(self, subject: Subject) -> tuple[tuple[int, ...], int]:
        """The subject's level index per factor and its stratum index; :class:`AllocationRefused` if a
        factor is missing or a level is not declared."""
        levels = subject.levels
        indices: list[int] = []
        s = 0
        for factor in self.factors:
            code = levels.get(factor.id)
            if code is None or code not in factor.levels:
                raise AllocationRefused(subject.id, self._problems(subject))
            li = factor.levels.index(code)
            indices.append(li)
            s = s * len(factor.levels) + li
        return tuple(indices), s

    def _problems(self, subject: Subject) -> list[str]:
        problems = []
        for factor in self.factors:
            declared = ", ".join(repr(c) for c in factor.levels)
            code = subject.levels.get(factor.id)
            if code is None:
                problems.append(f"stratification factor {factor.id!r} is missing (declared levels: {declared})")
            elif code not in factor.levels:
                problems.append(
                    f"level {code!r} of stratification factor {factor.id!r} is not declared "
                    f"(declared levels: {declared})"
                )
        return problems

    def arm_counts(self) -> tuple[int, ...]:
        """Subjects per arm over all strata (state arm order)."""
        return tuple(sum(st.arm_counts[k] for st in self.strata) for k in range(len(self.arms)))

    # ---- transition ---------------------------------------------------------------------------------------

    def advance(self, stratum: int, level_indices: tuple[int, ...], arm: int, new: StratumState) -> RandomizationState:
        """The state after one subject of ``stratum`` (levels ``level_indices``) went to ``arm``; ``new`` is
        the stratum's new counts. Used by the allocation methods; touches only what changed."""
        strata = (*self.strata[:stratum], new, *self.strata[stratum + 1 :])
        margins = list(self.margins)
        for f, li in enumerate(level_indices):
            rows = margins[f]
            row = rows[li]
            row = (*row[:arm], row[arm] + 1, *row[arm + 1 :])
            margins[f] = (*rows[:li], row, *rows[li + 1 :])
        return RandomizationState(
            self.study,
            self.method,
            self.arms,
            self.ratio,
            self.factors,
            self.block_sizes,
            self.minimization,
            strata,
            tuple(margins),
            self.allocated + 1,
        )

    # ---- serialisation ------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data that :meth:`from_dict` reads back to an equal state."""
        arms = self.arms
        return {
            "schema": STATE_SCHEMA,
            "study": self.study,
            "method": self.method.value,
            "ratio": dict(zip(arms, self.ratio, strict=True)),
            "factors": [{"id": f.id, "levels": list(f.levels)} for f in self.factors],
            "block_sizes": list(self.block_sizes),
            "minimization": {
                "probability": self.minimization.probability,
                "imbalance": self.minimization.imbalance.value,
                "weights": {f.id: w for f, w in zip(self.factors, self.minimization.weights, strict=True)},
            },
            "strata": [
                {
                    "stratum": self.stratum_key(s),
                    "counts": dict(zip(arms, st.arm_counts, strict=True)),
                    "blocks": st.blocks,
                    "block": [arms[k] for k in st.block],
                    "used": st.used,
                }
                for s, st in enumerate(self.strata)
            ],
        }


# --------------------------------------------------------------------------------------------------------------
# Building states


def build_state(
    ratio: Mapping[str, int],
    factors: Mapping[str, Sequence[str]] | Sequence[Factor] = (),
    *,
    method: Method | str = Method.PERMUTED_BLOCK,
    block_sizes: Sequence[int] = (),
    minimization: MinimizationSettings | None = None,
    study: str = "",
) -> RandomizationState:
    """An empty state for a design given directly (tests, what-if tools).

    ``ratio`` maps arm id → positive integer weight (arm order = mapping order). ``block_sizes`` defaults to
    (W, 2W) with W the ratio total (1:1 → {2, 4}); every size must be a multiple of W so that a block of size
    b holds b·w_i/W of arm i. ``minimization.weights`` defaults to 1 per factor.
    """
    try:
        method = Method(method)
    except ValueError:
        raise RandomizationError(
            f"randomization method {method!r} is unknown (methods: {', '.join(m.value for m in Method)})"
        ) from None
    arms = tuple(ratio)
    weights = tuple(ratio.values())
    if len(arms) < 2:
        raise RandomizationError(f"randomization needs at least two arms in its ratio (got {list(arms)})")
    bad_w = [f"{a}={w!r}" for a, w in ratio.items() if isinstance(w, bool) or not isinstance(w, int) or w < 1]
    if bad_w:
        raise RandomizationError(f"ratio weights must be positive integers (got {', '.join(bad_w)})")
    total = sum(weights)
    sizes = tuple(block_sizes) or (total, 2 * total)
    bad_b = [b for b in sizes if isinstance(b, bool) or not isinstance(b, int) or b < 1 or b % total]
    if bad_b:
        raise RandomizationError(f"block sizes {bad_b} are not positive multiples of the ratio total {total}")
    if isinstance(factors, Mapping):
        factor_list = tuple(Factor(fid, tuple(levels)) for fid, levels in factors.items())
    else:
        factor_list = tuple(factors)
    ids = [f.id for f in factor_list]
    if len(set(ids)) != len(ids):
        raise RandomizationError(f"stratification factors are repeated: {ids}")
    for f in factor_list:
        if not f.levels or len(set(f.levels)) != len(f.levels):
            raise RandomizationError(f"factor {f.id!r} needs distinct level codes (got {list(f.levels)})")
    settings = minimization or MinimizationSettings(weights=(1.0,) * len(factor_list))
    if not settings.weights:
        settings = MinimizationSettings(settings.probability, settings.imbalance, (1.0,) * len(factor_list))
    settings = MinimizationSettings(settings.probability, Imbalance(settings.imbalance), settings.weights)
    if len(settings.weights) != len(factor_list) or any(not (w > 0 and math.isfinite(w)) for w in settings.weights):
        raise RandomizationError(
            f"minimization weights {list(settings.weights)} must be one positive number per factor {ids}"
        )
    if not 0.0 < settings.probability <= 1.0:
        raise RandomizationError(f"minimization probability {settings.probability} must be in (0, 1]")
    n_strata = math.prod(len(f.levels) for f in factor_list)
    empty = StratumState(arm_counts=(0,) * len(arms))
    margins = tuple(tuple((0,) * len(arms) for _ in f.levels) for f in factor_list)
    return RandomizationState(
        study, method, arms, weights, factor_list, sizes, settings, (empty,) * n_strata, margins, 0
    )


def initial_state(protocol: Protocol, *, method: Method | str | None = None) -> RandomizationState:
    """The empty state of ``protocol.randomization`` (ratio, stratified_by, block_sizes, minimization).

    ``method`` overrides the protocol's method (e.g. to compare minimisation with the protocol's permuted
    blocks). Missing block sizes default to (W, 2W); missing minimisation settings to Pocock–Simon's
    usual p = 0.8, range imbalance, equal factor weights.
    """
    spec = protocol.randomization
    if spec is None:
        raise RandomizationError(f"{protocol.id}: the protocol declares no randomization section")
    factors = tuple(Factor(fid, protocol.factor(fid).level_codes()) for fid in spec.stratified_by)
    mini = spec.minimization or Minimization()
    unknown = [fid for fid in mini.weights if fid not in spec.stratified_by]
    if unknown:
        raise RandomizationError(
            f"{protocol.id}: randomization.minimization.weights names {unknown}, which are not in "
            f"randomization.stratified_by {list(spec.stratified_by)}"
        )
    settings = MinimizationSettings(
        probability=mini.probability,
        imbalance=Imbalance(mini.imbalance),
        weights=tuple(float(mini.weights.get(f.id, 1.0)) for f in factors),
    )
    return build_state(
        dict(spec.ratio),
        factors,
        method=method or spec.method,
        block_sizes=spec.block_sizes,
        minimization=settings,
        study=protocol.id,
    )


# --------------------------------------------------------------------------------------------------------------
# Reading a stored state


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data

    def fail(self, where: str, message: str) -> RandomizationError:
        return RandomizationError(f"randomization state: {where}: {message}")

    def get(self, obj: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(obj, Mapping) or key not in obj:
            raise self.fail(where or "(top)", f"missing field {key!r}")
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(f"{where}.{key}".lstrip("."), f"expected {_kind_name(kind)}, got {value!r}")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _state_from_dict(data: Mapping[str, Any]) -> RandomizationState:
    r = _Reader(data)
    if not isinstance(data, Mapping):
        raise r.fail("(top)", f"expected an object, got {type(data).__name__}")
    schema = r.get(data, "schema", "", str)
    if schema != STATE_SCHEMA:
        raise r.fail("schema", f"expected {STATE_SCHEMA!r}, got {schema!r}")
    ratio = r.get(data, "ratio", "", Mapping)
    factors_data = r.get(data, "factors", "", list)
    factors: list[Factor] = []
    for i, fd in enumerate(factors_data):
        fid = r.get(fd, "id", f"factors[{i}]", str)
        levels = r.get(fd, "levels", f"factors[{i}]", list)
        if not all(isinstance(c, str) for c in levels):
            raise r.fail(f"factors[{i}].levels", f"level codes must be strings, got {levels!r}")
        factors.append(Factor(fid, tuple(levels)))
    mini = r.get(data, "minimization", "", Mapping)
    weights = r.get(mini, "weights", "minimization", Mapping)
    if set(weights) != {f.id for f in factors}:
        raise r.fail("minimization.weights", f"expected one weight per factor {[f.id for f in factors]}")
    imbalance = r.get(mini, "imbalance", "minimization", str)
    if imbalance not in {m.value for m in Imbalance}:
        raise r.fail("minimization.imbalance", f"unknown imbalance function {imbalance!r}")
    settings = MinimizationSettings(
        probability=float(r.get(mini, "probability", "minimization", (int, float))),
        imbalance=Imbalance(imbalance),
        weights=tuple(float(r.get(weights, f.id, "minimization.weights", (int, float))) for f in factors),
    )
    sizes = r.get(data, "block_sizes", "", list)
    if not all(isinstance(b, int) and not isinstance(b, bool) for b in sizes):
        raise r.fail("block_sizes", f"expected integers, got {sizes!r}")
    state = build_state(
        dict(ratio),
        factors,
        method=r.get(data, "method", "", str),
        block_sizes=sizes,
        minimization=settings,
        study=r.get(data, "study", "", str),
    )
    strata_data = r.get(data, "strata", "", list)
    if len(strata_data) != state.n_strata:
        raise r.fail("strata", f"expected {state.n_strata} strata, got {len(strata_data)}")
    arm_index = {a: k for k, a in enumerate(state.arms)}
    for s, sd in enumerate(strata_data):
        where = f"strata[{s}]"
        key = r.get(sd, "stratum", where, str)
        if key != state.stratum_key(s):
            raise r.fail(f"{where}.stratum", f"expected {state.stratum_key(s)!r}, got {key!r}")
        counts = r.get(sd, "counts", where, Mapping)
        if set(counts) != set(state.arms) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts.values()
        ):
            raise r.fail(f"{where}.counts", f"expected a count >= 0 for each arm {list(state.arms)}, got {counts!r}")
        block = r.get(sd, "block", where, list)
        unknown = [a for a in block if a not in arm_index]
        if unknown:
            raise r.fail(f"{where}.block", f"unknown arms {unknown!r}")
        blocks = r.get(sd, "blocks", where, int)
        used = r.get(sd, "used", where, int)
        if blocks < 0 or not 0 <= used <= len(block) or (blocks == 0) != (not block):
            raise r.fail(where, f"inconsistent block position (blocks={blocks}, used={used}, block={block!r})")
        if block and len(block) not in state.block_sizes:
            raise r.fail(f"{where}.block", f"size {len(block)} is not among the block sizes {list(state.block_sizes)}")
        new = StratumState(tuple(counts[a] for a in state.arms), blocks, tuple(arm_index[a] for a in block), used)
        state = _with_stratum(state, s, new)
    return state


def _with_stratum(state: RandomizationState, s: int, new: StratumState) -> RandomizationState:
    """``state`` with stratum ``s`` replaced by ``new`` (margins and total recomputed for its counts)."""
    old = state.strata[s]
    delta = [n - o for n, o in zip(new.arm_counts, old.arm_counts, strict=True)]
    margins = [list(map(list, rows)) for rows in state.margins]
    for f, code in enumerate(state.stratum_levels(s)):
        li = state.factors[f].levels.index(code)
        for k, d in enumerate(delta):
            margins[f][li][k] += d
    return RandomizationState(
        state.study,
        state.method,
        state.arms,
        state.ratio,
        state.factors,
        state.block_sizes,
        state.minimization,
        (*state.strata[:s], new, *state.strata[s + 1 :]),
        tuple(tuple(tuple(row) for row in rows) for rows in margins),
        state.allocated + sum(delta),
    )
