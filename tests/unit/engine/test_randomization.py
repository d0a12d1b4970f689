"""Randomization engine (issue 3, point 2): state built from the protocol, allocation, refusals, JSON round trip.

Design facts come from src/trialtwin/protocol/studies/ever-132-002.yaml (randomization: 1:1 sg/tpc, stratified by
prior_lines 2/3-4, visceral yes/no, prior_cdk46 yes/no; permuted blocks of 2 and 4; ESMO Asia 2023 LBA4 and the
usual IRT practice it cites). Minimisation reference: Pocock & Simon 1975, Biometrics 31:103-115, §3.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from trialtwin.engine.randomization import (
    STATE_SCHEMA,
    AllocationRefused,
    Factor,
    Imbalance,
    Method,
    MinimizationSettings,
    RandomizationError,
    RandomizationState,
    Subject,
    allocate,
    build_state,
    compute_imbalance_scores,
    draw_block,
    initial_state,
)
from trialtwin.protocol import Protocol, TrialtwinError
from trialtwin.protocol.model import Minimization, RandomizationSpec

LEVELS = {"prior_lines": "2", "visceral": "yes", "prior_cdk46": "no"}


def _subject(i: int = 1, **levels: str) -> Subject:
    return Subject(f"S{i:03d}", {**LEVELS, **levels})


def _run(state: RandomizationState, subjects: list[Subject], seed: int) -> tuple[list[Any], RandomizationState]:
    rng = np.random.default_rng(seed)
    out = []
    for s in subjects:
        a, state = allocate(state, s, rng=rng)
        out.append(a)
    return out, state


def _mixed_subjects(n: int, state: RandomizationState, seed: int = 0) -> list[Subject]:
    rng = np.random.default_rng(seed)
    return [
        Subject(f"S{i:04d}", {f.id: f.levels[int(rng.integers(len(f.levels)))] for f in state.factors})
        for i in range(n)
    ]


# ---- state from the protocol --------------------------------------------------------------------------------


def test_initial_state_of_ever_132_002(ever: Protocol) -> None:
    """ever-132-002.yaml randomization: 1:1, three factors of two levels each, blocks {2, 4}."""
    state = initial_state(ever)
    assert state.method is Method.PERMUTED_BLOCK
    assert state.arms == ("sg", "tpc")
    assert state.ratio == (1, 1)
    assert state.block_sizes == (2, 4)
    assert [f.id for f in state.factors] == ["prior_lines", "visceral", "prior_cdk46"]
    assert state.n_strata == 8
    keys = [key for key, _ in state.iter_strata()]
    assert keys[0] == "prior_lines=2|visceral=yes|prior_cdk46=yes"
    assert keys[-1] == "prior_lines=3-4|visceral=no|prior_cdk46=no"
    assert len(set(keys)) == 8
    assert state.allocated == 0
    assert state == RandomizationState.from_protocol(ever)


def test_method_override_and_default_minimization_settings(ever: Protocol) -> None:
    """The YAML has no minimization section: Pocock & Simon's usual p = 0.8, range, equal weights apply."""
    state = initial_state(ever, method="minimization")
    assert state.method is Method.MINIMIZATION
    assert state.minimization == MinimizationSettings(0.8, Imbalance.RANGE, (1.0, 1.0, 1.0))


def test_minimization_section_of_the_protocol_is_used(ever: Protocol) -> None:
    assert ever.randomization is not None
    spec = ever.randomization.model_copy(
        update={
            "method": "minimization",
            "minimization": Minimization(probability=0.9, imbalance="variance", weights={"visceral": 2.0}),
        }
    )
    state = initial_state(ever.model_copy(update={"randomization": spec}))
    assert state.minimization == MinimizationSettings(0.9, Imbalance.VARIANCE, (1.0, 2.0, 1.0))


def test_protocol_without_randomization_is_refused(ever: Protocol) -> None:
    with pytest.raises(RandomizationError, match="declares no randomization"):
        initial_state(ever.model_copy(update={"randomization": None}))


def test_minimization_weight_on_an_unstratified_factor_is_refused(ever: Protocol) -> None:
    spec = RandomizationSpec(
        method="minimization",
        ratio={"sg": 1, "tpc": 1},
        stratified_by=("visceral",),
        minimization=Minimization(weights={"prior_cdk46": 2.0}),
    )
    with pytest.raises(RandomizationError, match=r"weights names \['prior_cdk46'\]"):
        initial_state(ever.model_copy(update={"randomization": spec}))


def test_default_block_sizes_are_one_and_two_ratio_totals() -> None:
    """No block sizes given: (W, 2W), which for 1:1 is the protocol default {2, 4}; for 2:1 it is {3, 6}."""
    assert build_state({"a": 1, "b": 1}).block_sizes == (2, 4)
    assert build_state({"a": 2, "b": 1}).block_sizes == (3, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": {"a": 1}}, "at least two arms"),
        ({"ratio": {"a": 1, "b": 0}}, "positive integers"),
        ({"ratio": {"a": 1, "b": 1.5}}, "positive integers"),
        ({"ratio": {"a": 2, "b": 1}, "block_sizes": (4,)}, r"block sizes \[4\] are not positive multiples"),
        ({"ratio": {"a": 1, "b": 1}, "method": "urn"}, "method 'urn' is unknown"),
        ({"ratio": {"a": 1, "b": 1}, "factors": [Factor("f", ("x",)), Factor("f", ("y",))]}, "repeated"),
        ({"ratio": {"a": 1, "b": 1}, "factors": {"f": ("x", "x")}}, "distinct level codes"),
        (
            {"ratio": {"a": 1, "b": 1}, "factors": {"f": ("x", "y")}, "minimization": MinimizationSettings(0.0)},
            r"probability 0.0 must be in \(0, 1\]",
        ),
        (
            {
                "ratio": {"a": 1, "b": 1},
                "factors": {"f": ("x", "y")},
                "minimization": MinimizationSettings(0.8, weights=(1.0, 2.0)),
            },
            "one positive number per factor",
        ),
    ],
    ids=[
        "one-arm",
        "zero-weight",
        "fractional-weight",
        "block-not-multiple-of-ratio",
        "unknown-method",
        "repeated-factor",
        "repeated-level",
        "probability-zero",
        "weights-per-factor",
    ],
)
def test_build_state_refuses_bad_designs(kwargs: dict[str, Any], message: str) -> None:
    ratio = kwargs.pop("ratio")
    with pytest.raises(RandomizationError, match=message):
        build_state(ratio, **kwargs)


# ---- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method))
@pytest.mark.parametrize(
    ("levels", "problems", "fragments"),
    [
        (
            {"prior_lines": "2", "visceral": "yes"},
            1,
            ["stratification factor 'prior_cdk46' is missing (declared levels: 'yes', 'no')"],
        ),
        (
            {"prior_lines": "5", "visceral": "yes", "prior_cdk46": "no"},
            1,
            ["level '5' of stratification factor 'prior_lines' is not declared (declared levels: '2', '3-4')"],
        ),
        ({"prior_lines": 2, "visceral": "yes", "prior_cdk46": "no"}, 1, ["level 2 of stratification factor"]),
        (
            {"visceral": "maybe"},
            3,
            [
                "'prior_lines' is missing",
                "level 'maybe' of stratification factor 'visceral' is not declared",
                "'prior_cdk46' is missing",
            ],
        ),
    ],
    ids=["missing-factor", "undeclared-level", "level-of-wrong-type", "every-problem-at-once"],
)
def test_allocation_refuses_missing_or_undeclared_levels(
    ever: Protocol, method: Method, levels: dict[str, Any], problems: int, fragments: list[str]
) -> None:
    state = initial_state(ever, method=method)
    with pytest.raises(AllocationRefused) as info:
        allocate(state, Subject("P-7", levels), rng=np.random.default_rng(0))
    message = str(info.value)
    assert message.startswith("subject 'P-7' cannot be randomized: ")
    for fragment in fragments:
        assert fragment in message
    assert isinstance(info.value, TrialtwinError)
    assert info.value.subject_id == "P-7"
    assert len(info.value.problems) == problems


def test_extra_subject_keys_are_ignored(ever: Protocol) -> None:
    state = initial_state(ever)
    a, _ = allocate(state, Subject("S1", {**LEVELS, "site": "101"}), rng=np.random.default_rng(0))
    b, _ = allocate(state, Subject("S1", LEVELS), rng=np.random.default_rng(0))
    assert a == b


# ---- permuted blocks --------------------------------------------------------------------------------------------


def test_permuted_block_assignment_fields(ever: Protocol) -> None:
    assignments, state = _run(initial_state(ever), [_subject(i) for i in range(1, 9)], seed=5)
    assert [a.sequence for a in assignments] == list(range(1, 9))
    assert all(a.stratum == "prior_lines=2|visceral=yes|prior_cdk46=no" for a in assignments)
    assert all(a.method is Method.PERMUTED_BLOCK for a in assignments)
    assert assignments[0].block == 1 and assignments[0].block_position == 1
    for prev, cur in itertools.pairwise(assignments):
        assert prev.block is not None and prev.block_size is not None and prev.block_position is not None
        if prev.block_position == prev.block_size:
            assert (cur.block, cur.block_position) == (prev.block + 1, 1)
        else:
            assert (cur.block, cur.block_position, cur.block_size) == (
                prev.block,
                prev.block_position + 1,
                prev.block_size,
            )
    assert state.allocated == 8
    assert sum(state.arm_counts()) == 8
    data = assignments[0].to_dict()
    assert set(data) == {"subject_id", "arm", "stratum", "sequence", "method", "block", "block_size", "block_position"}


def test_strata_are_independent_sequences(ever: Protocol) -> None:
    """Subjects of another stratum do not move a stratum's block position."""
    state = initial_state(ever)
    rng = np.random.default_rng(3)
    a1, state = allocate(state, _subject(1), rng=rng)
    b1, state = allocate(state, _subject(2, visceral="no"), rng=rng)
    a2, state = allocate(state, _subject(3), rng=rng)
    assert (a1.sequence, b1.sequence, a2.sequence) == (1, 1, 2)
    assert b1.stratum != a1.stratum == a2.stratum


def test_allocate_leaves_the_given_state_unchanged(ever: Protocol) -> None:
    """State is a value: allocating twice from one state with equal generators gives equal results."""
    state = initial_state(ever)
    before = state.to_dict()
    first = allocate(state, _subject(), rng=np.random.default_rng(11))
    second = allocate(state, _subject(), rng=np.random.default_rng(11))
    assert first == second
    assert state.to_dict() == before
    assert first[1] != state


def test_draw_block_uses_one_double_for_the_size_and_b_minus_1_for_the_shuffle() -> None:
    """Documented draw order (permuted_block module): random() for the size, random(b - 1) for the shuffle."""
    rng, twin = np.random.default_rng(8), np.random.default_rng(8)
    block = draw_block((1, 1), (2, 4), rng=rng)
    size = (2, 4)[int(twin.random() * 2)]
    twin.random(size - 1)
    assert len(block) == size
    assert rng.random() == twin.random()


@pytest.mark.parametrize(
    ("ratio", "sizes", "expected"),
    [
        ((1, 1), (2,), {0: 1, 1: 1}),
        ((1, 1), (4,), {0: 2, 1: 2}),
        ((2, 1), (6,), {0: 4, 1: 2}),
        ((1, 2, 1), (4,), {0: 1, 1: 2, 2: 1}),
    ],
    ids=["1:1-of-2", "1:1-of-4", "2:1-of-6", "1:2:1-of-4"],
)
def test_draw_block_composition(ratio: tuple[int, ...], sizes: tuple[int, ...], expected: dict[int, int]) -> None:
    """A block of size b holds b·w_i/W of arm i."""
    block = draw_block(ratio, sizes, rng=np.random.default_rng(1))
    assert {k: block.count(k) for k in expected} == expected


# ---- minimisation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "ratio", "weights", "imbalance", "expected"),
    [
        ([(0, 0)], (1, 1), (1.0,), Imbalance.RANGE, (1.0, 1.0)),
        ([(3, 1)], (1, 1), (1.0,), Imbalance.RANGE, (3.0, 1.0)),
        ([(3, 1), (0, 2)], (1, 1), (1.0, 1.0), Imbalance.RANGE, (4.0, 4.0)),
        ([(3, 1), (0, 2)], (1, 1), (1.0, 2.0), Imbalance.RANGE, (5.0, 7.0)),
        ([(3, 1)], (1, 1), (1.0,), Imbalance.VARIANCE, (2.25, 0.25)),
        ([(2, 1)], (2, 1), (1.0,), Imbalance.RANGE, (0.5, 1.0)),
        ([(1, 1, 0)], (1, 1, 1), (1.0,), Imbalance.RANGE, (2.0, 2.0, 0.0)),
    ],
    ids=["empty", "one-factor", "two-factors-tie", "factor-weights", "variance", "ratio-2-1", "three-arms"],
)
def test_imbalance_scores(
    rows: list[tuple[int, ...]],
    ratio: tuple[int, ...],
    weights: tuple[float, ...],
    imbalance: Imbalance,
    expected: tuple[float, ...],
) -> None:
    """G_k = Σ_f v_f·D(counts at the subject's level with one more on arm k, divided by the ratio)
    (Pocock & Simon 1975, §3: range and variance imbalance functions, weighted sum over factors)."""
    assert compute_imbalance_scores(rows, ratio, weights, imbalance) == pytest.approx(expected)


def test_minimization_first_subject_ties_and_p1_follows_preference(ever: Protocol) -> None:
    state = initial_state(ever, method=Method.MINIMIZATION)
    state = build_state(
        {"sg": 1, "tpc": 1},
        state.factors,
        method=Method.MINIMIZATION,
        minimization=MinimizationSettings(1.0, Imbalance.RANGE, (1.0, 1.0, 1.0)),
    )
    rng = np.random.default_rng(0)
    first, state = allocate(state, _subject(1), rng=rng)
    assert first.preferred is None and first.scores == (3.0, 3.0)
    second, state = allocate(state, _subject(2), rng=rng)
    assert second.preferred != first.arm and second.arm == second.preferred
    assert state.margins[0][0] == (1, 1)
    assert set(second.to_dict()) == {"subject_id", "arm", "stratum", "sequence", "method", "scores", "preferred"}


def test_minimization_draws_exactly_two_doubles_per_subject(ever: Protocol) -> None:
    """Documented draw order (minimization module): (u0, u1) = rng.random(2) for every subject."""
    state = initial_state(ever, method="minimization")
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    for i in range(5):
        _, state = allocate(state, _subject(i), rng=rng)
    twin.random(10)
    assert rng.random() == twin.random()


@pytest.mark.slow
def test_minimization_takes_the_preferred_arm_with_probability_p(ever: Protocol) -> None:
    """Biased coin of Pocock & Simon (1975) §3: P(preferred arm) = p = 0.8. 2000 subjects; the binomial SD of the
    share is <= 0.01, so 0.75-0.85 is a > 5 SD window (fixed seed: deterministic)."""
    state = initial_state(ever, method="minimization")
    assignments, _ = _run(state, _mixed_subjects(2000, state), seed=21)
    decided = [a for a in assignments if a.preferred is not None]
    share = sum(a.arm == a.preferred for a in decided) / len(decided)
    assert len(decided) > 1000
    assert 0.75 <= share <= 0.85


# ---- JSON round trip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(Method))
@pytest.mark.parametrize("n", [0, 1, 37])
def test_state_json_round_trip(ever: Protocol, method: Method, n: int) -> None:
    state = initial_state(ever, method=method)
    _, state = _run(state, _mixed_subjects(n, state), seed=9)
    text = json.dumps(state.to_dict())
    back = RandomizationState.from_dict(json.loads(text))
    assert back == state
    assert hash(back) == hash(state)
    assert back.margins == state.margins and back.allocated == n
    assert back.to_dict()["schema"] == STATE_SCHEMA


def test_restored_state_continues_the_same_sequence(ever: Protocol) -> None:
    """The service stores the state between allocations: a restored state allocates exactly as the live one."""
    state = initial_state(ever)
    subjects = _mixed_subjects(60, state, seed=2)
    rng_live, rng_stored = np.random.default_rng(6), np.random.default_rng(6)
    live, stored = state, state
    for s in subjects:
        a, live = allocate(live, s, rng=rng_live)
        b, stored = allocate(stored, s, rng=rng_stored)
        stored = RandomizationState.from_dict(json.loads(json.dumps(stored.to_dict())))
        assert a == b
    assert live == stored


def _stored(ever: Protocol) -> dict[str, Any]:
    """A stored state with one subject in stratum 1 (prior_lines=2|visceral=yes|prior_cdk46=no)."""
    state = initial_state(ever)
    _, state = _run(state, [_subject(1)], seed=1)
    data: dict[str, Any] = json.loads(json.dumps(state.to_dict()))
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="other/1"), "schema: expected 'trialtwin.randomization-state/1'"),
        (lambda d: d.pop("strata"), "missing field 'strata'"),
        (lambda d: d["strata"].pop(), "expected 8 strata, got 7"),
        (lambda d: d["strata"][0].update(stratum="x"), r"strata\[0\].stratum: expected 'prior_lines=2"),
        (lambda d: d["strata"][1]["counts"].update(sg=-1), r"strata\[1\].counts"),
        (lambda d: d["strata"][1].update(block=["sg", "xx"]), r"strata\[1\].block: unknown arms \['xx'\]"),
        (lambda d: d["strata"][1].update(used=9), "inconsistent block position"),
        (lambda d: d["strata"][1].update(block=["sg", "tpc", "sg", "tpc", "sg", "tpc"]), "size 6 is not among"),
        (lambda d: d.update(method="urn"), "method 'urn' is unknown"),
        (lambda d: d["minimization"].update(imbalance="entropy"), "unknown imbalance function"),
        (lambda d: d["minimization"]["weights"].pop("visceral"), "one weight per factor"),
        (lambda d: d.update(block_sizes=[3]), "not positive multiples"),
        (lambda d: d["factors"][0].update(levels=[2, 3]), "level codes must be strings"),
        (lambda d: d.update(study=7), "study: expected str"),
    ],
    ids=[
        "schema",
        "missing-field",
        "strata-count",
        "stratum-key",
        "negative-count",
        "unknown-arm",
        "used-beyond-block",
        "block-size",
        "method",
        "imbalance",
        "weights",
        "block-sizes",
        "level-type",
        "field-type",
    ],
)
def test_from_dict_refuses_malformed_states(ever: Protocol, change: Any, message: str) -> None:
    data = _stored(ever)
    data["strata"][1] = (
        {**data["strata"][0], "stratum": data["strata"][1]["stratum"]} if "used" in message else data["strata"][1]
    )
    change(data)
    with pytest.raises(RandomizationError, match=message):
        RandomizationState.from_dict(data)


def test_from_dict_refuses_a_non_object() -> None:
    with pytest.raises(RandomizationError, match="expected an object"):
        RandomizationState.from_dict([])  # type: ignore[arg-type]
