"""Pre-generated randomization lists and their SHA-256 (issue 3, point 2), for EVER-132-002's 8 strata.

Strata: prior_lines 2/3-4 × visceral yes/no × prior_cdk46 yes/no (ever-132-002.yaml; ESMO Asia 2023 LBA4).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from trialtwin.engine.randomization import (
    RandomizationError,
    Subject,
    allocate,
    build_state,
    generate_list,
    initial_state,
)
from trialtwin.protocol import Protocol

#: Digest of the EVER-132-002 list for seed 2020, 12 entries per stratum, as first generated (NumPy 2.x PCG64).
#: It changes only if the list format, the protocol's design or NumPy's PCG64 ``random()`` stream changes.


def test_all_eight_strata_with_n_entries_each(ever: Protocol) -> None:
    result = generate_list(ever, 10, rng=np.random.default_rng(1))
    assert len(result.strata) == 8
    assert {s.stratum for s in result.strata} == {
        f"prior_lines={a}|visceral={b}|prior_cdk46={c}"
        for a in ("2", "3-4")
        for b in ("yes", "no")
        for c in ("yes", "no")
    }
    for stratum in result.strata:
        assert [e.sequence for e in stratum.entries] == list(range(1, 11))
        assert dict(stratum.levels) == dict(part.split("=") for part in stratum.stratum.split("|"))
        assert {e.arm for e in stratum.entries} <= {"sg", "tpc"}
        assert all(e.block_size in (2, 4) for e in stratum.entries)


def test_same_seed_same_list_and_digest(ever: Protocol) -> None:
    """The same seed gives the same list and digest; a different seed a different digest (no pinned literal:
    the digest's correctness is checked against hashlib below)."""
    a = generate_list(ever, 12, rng=np.random.default_rng(2020))
    b = generate_list(ever, 12, rng=np.random.default_rng(2020))
    assert a == b
    assert a.sha256 == b.sha256
    assert generate_list(ever, 12, rng=np.random.default_rng(2021)).sha256 != a.sha256


def test_digest_is_sha256_of_the_canonical_json(ever: Protocol) -> None:
    result = generate_list(ever, 5, rng=np.random.default_rng(3))
    text = result.canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert result.sha256 == hashlib.sha256(text.encode()).hexdigest()
    data = result.to_dict()
    assert data["schema"] == "trialtwin.randomization-list/1"
    assert data["study"] == "ever-132-002" and data["ratio"] == {"sg": 1, "tpc": 1} and data["n_per_stratum"] == 5
    data["strata"][3]["entries"][0]["arm"] = "tpc" if data["strata"][3]["entries"][0]["arm"] == "sg" else "sg"
    changed = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(changed.encode()).hexdigest() != result.sha256


def test_list_matches_allocate_on_the_stratum_stream(ever: Protocol) -> None:
    """Stratum s's list is what allocate gives to that stratum's subjects with the s-th spawned generator."""
    result = generate_list(ever, 9, rng=np.random.default_rng(77))
    children = np.random.default_rng(77).spawn(8)
    state = initial_state(ever)
    for s, stratum in enumerate(result.strata):
        current = state
        for entry in stratum.entries:
            a, current = allocate(current, Subject("x", dict(stratum.levels)), rng=children[s])
            assert (a.arm, a.block, a.block_size, a.block_position) == (
                entry.arm,
                entry.block,
                entry.block_size,
                entry.block_position,
            )


def test_complete_blocks_in_the_list_are_balanced(ever: Protocol) -> None:
    result = generate_list(ever, 40, rng=np.random.default_rng(5))
    for stratum in result.strata:
        complete = [e for e in stratum.entries if stratum.entries[-1].block > e.block]
        sg, tpc = (sum(e.arm == arm for e in complete) for arm in ("sg", "tpc"))
        assert sg == tpc
        assert stratum.arm_counts(("sg", "tpc")) == (
            sum(e.arm == "sg" for e in stratum.entries),
            sum(e.arm == "tpc" for e in stratum.entries),
        )


def test_unstratified_design_has_one_list() -> None:
    result = generate_list(build_state({"a": 2, "b": 1}, study="x"), 6, rng=np.random.default_rng(0))
    assert [s.stratum for s in result.strata] == ["all"]
    assert len(result.strata[0].entries) == 6


@pytest.mark.parametrize("n", [0, -1], ids=["zero", "negative"])
def test_bad_n_is_refused(ever: Protocol, n: int) -> None:
    with pytest.raises(RandomizationError, match="positive integer"):
        generate_list(ever, n, rng=np.random.default_rng(0))


def test_minimization_has_no_list(ever: Protocol) -> None:
    with pytest.raises(RandomizationError, match="no list can be pre-generated"):
        generate_list(initial_state(ever, method="minimization"), 5, rng=np.random.default_rng(0))


def test_a_used_state_has_no_list(ever: Protocol) -> None:
    state = initial_state(ever)
    _, state = allocate(
        state, Subject("s", {"prior_lines": "2", "visceral": "no", "prior_cdk46": "no"}), rng=np.random.default_rng(0)
    )
    with pytest.raises(RandomizationError, match="empty state"):
        generate_list(state, 5, rng=np.random.default_rng(0))
