"""DESIGN.md: nothing in ``trialtwin.engine`` calls the clock or the global random state.

Scans the engine's source with ``ast``: the engine receives ``today`` and ``rng`` as parameters; it never calls
``datetime.now``/``date.today``/``time.time``, never imports ``random``, and never uses ``np.random`` functions
(only the ``Generator`` type may be named).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).parents[2] / "src" / "trialtwin" / "engine"
FILES = sorted(ENGINE.rglob("*.py"))
CLOCK = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}
ALLOWED_NP_RANDOM = {"Generator", "SeedSequence", "BitGenerator"}


def _attribute_chain(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def test_engine_has_modules() -> None:
    assert len(FILES) >= 3


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ENGINE)) for p in FILES])
def test_no_clock_no_global_random(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [f"import {a.name}" for a in node.names if a.name in ("random", "time")]
        elif isinstance(node, ast.ImportFrom) and node.module in ("random", "time"):
            problems.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            chain = _attribute_chain(node.func)
            if len(chain) >= 2 and chain[-1] in CLOCK and chain[-2] in ("datetime", "date", "time", "dt"):
                problems.append(".".join(chain))
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            np_random = len(chain) == 3 and chain[:2] in (["np", "random"], ["numpy", "random"])
            if np_random and chain[2] not in ALLOWED_NP_RANDOM:
                problems.append(".".join(chain))
    assert problems == [], f"{path.name}: {problems}"
