"""The study's randomization list as the ledger draws it, and its SHA-256 (trial-system-requirements E5/G3).

Reference values are computed here from NumPy directly, following the draw order documented in
``trialtwin.engine.randomization.permuted_block`` (one ``random()`` for the block size, ``random(b - 1)``
for the Fisher–Yates shuffle) with the slot entropy documented in ``trialtwin.store.ledger``."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from trialtwin.protocol import Protocol
from trialtwin.store import StoreError
from trialtwin.store.migrations import upgrade
from trialtwin.store.randomization_list import GENERATOR, IRT_LIST_SCHEMA, list_length, study_list

SEED = 2020


def _first_block_by_hand(seed: int, stratum: int, arms: tuple[str, ...], sizes: tuple[int, ...]) -> list[str]:
    """Slot 1 of ``stratum`` opens its first block: drawn with default_rng([seed, stratum, 1]) as documented."""
    rng = np.random.default_rng([seed, stratum, 1])
    size = sizes[int(rng.random() * len(sizes))]
    items = [k for k in range(len(arms)) for _ in range(size // len(arms))]  # 1:1 ratio
    uniforms = rng.random(size - 1).tolist()
    for t, i in enumerate(range(size - 1, 0, -1)):
        j = int(uniforms[t] * (i + 1))
        items[i], items[j] = items[j], items[i]
    return [arms[k] for k in items]


def test_the_first_block_of_every_stratum_matches_numpy_drawn_by_hand(ever: Protocol) -> None:
    listing = study_list(ever, SEED, 4)
    assert listing is not None
    arms, sizes = listing.list.arms, listing.list.block_sizes
    assert (arms, sizes) == (("sg", "tpc"), (2, 4))
    for s, stratum in enumerate(listing.list.strata):
        block = _first_block_by_hand(SEED, s, arms, sizes)
        entries = stratum.entries[: len(block)]
        assert [e.arm for e in entries] == block
        assert all((e.block, e.block_size) == (1, len(block)) for e in entries)
        assert [e.block_position for e in entries] == list(range(1, len(block) + 1))


def test_blocks_are_balanced_and_a_longer_list_extends_a_shorter_one(ever: Protocol) -> None:
    """Per-slot generators: the first 10 slots do not depend on K; every complete block holds b/2 of each arm."""
    short, long = study_list(ever, SEED, 10), study_list(ever, SEED, 40)
    assert short is not None and long is not None
    for a, b in zip(short.list.strata, long.list.strata, strict=True):
        assert b.entries[:10] == a.entries
        blocks: dict[int, list[str]] = {}
        for e in b.entries:
            blocks.setdefault(e.block, []).append(e.arm)
        for number, members in blocks.items():
            size = next(e.block_size for e in b.entries if e.block == number)
            if len(members) == size:
                assert members.count("sg") == members.count("tpc") == size // 2
    assert short.sha256 != long.sha256


def test_sha256_is_of_the_canonical_json_and_changes_with_the_seed(ever: Protocol) -> None:
    listing = study_list(ever, SEED)
    assert listing is not None
    assert listing.n_per_stratum == list_length(ever) == ever.enrollment.count == 331
    document = json.loads(listing.canonical_json())
    assert (document["schema"], document["generator"], document["study"]) == (IRT_LIST_SCHEMA, GENERATOR, ever.id)
    assert len(document["strata"]) == 8 and all(len(s["entries"]) == 331 for s in document["strata"])
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert text == listing.canonical_json()
    assert listing.sha256 == hashlib.sha256(text.encode()).hexdigest()
    again = study_list(ever, SEED)
    other = study_list(ever, SEED + 1)
    assert again is not None and other is not None
    assert again.sha256 == listing.sha256 != other.sha256
    assert str(SEED) not in text  # the secret seed is not in the document (numbers in it are at most 331)


def test_minimisation_has_no_list_and_bad_sizes_or_slots_are_refused(ever: Protocol) -> None:
    assert ever.randomization is not None
    spec = ever.randomization.model_copy(update={"method": "minimization", "block_sizes": ()})
    assert study_list(ever.model_copy(update={"randomization": spec}), SEED) is None
    for bad in (0, -1, True):
        with pytest.raises(StoreError, match="positive integer"):
            study_list(ever, SEED, bad)
    listing = study_list(ever, SEED, 3)
    assert listing is not None
    with pytest.raises(StoreError, match="no list position 4"):
        listing.slot(listing.list.strata[0].stratum, 4)
    with pytest.raises(StoreError, match="no stratum 'x=y'"):
        listing.slot("x=y", 1)


def test_migration_0004_adds_the_source_column_and_append_only_irt_tables(tmp_path: Path) -> None:
    """E7/E9: the IRT tables refuse DELETE and UPDATE (triggers); ledger rows default to source 'irt'."""
    path = tmp_path / "irt.db"
    upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for table in ("randomization_lists", "randomization_invalidations", "manual_allocations", "site_activations"):
        assert {f"trg_{table}_no_delete", f"trg_{table}_no_update"} <= triggers
    columns = {row[1]: row for row in conn.execute("PRAGMA table_info(randomization_ledger)")}
    assert columns["source"][3] == 1 and columns["source"][4] == "'irt'"  # NOT NULL, default 'irt'
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, active, created_at) "
        "VALUES (1, 'u', 'U', 'x', 1, '2025-01-01 00:00:00')"
    )
    conn.execute("INSERT INTO studies VALUES ('s', 'NCT0', 't', '{}', 'h', '2025-01-01 00:00:00', 1)")
    conn.execute("INSERT INTO randomization_lists VALUES (1, 's', 'x', 1, 1, 'h', '2025-01-01 00:00:00', 1)")
    with pytest.raises(sqlite3.IntegrityError, match="randomization_lists: rows are never changed"):
        conn.execute("UPDATE randomization_lists SET sha256 = 'other'")
    with pytest.raises(sqlite3.IntegrityError, match="randomization_lists: rows are never deleted"):
        conn.execute("DELETE FROM randomization_lists")
    conn.close()
