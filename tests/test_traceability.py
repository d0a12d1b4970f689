"""Requirements ↔ tests traceability (trial-system-requirements D1, G22; 21 CFR 11.10(a); GAMP 5; FDA CSA).

``docs/service/traceability.md`` maps every checklist row (A1–E9) and every figure goal (G1–G22) of the trial
system requirements to the tests that show it. This test fails when a row is missing, duplicated or unknown,
when a row names no test, or when a named test does not exist (file and function, found by parsing the file).
The named tests themselves run in the same ``make test``, so a row whose test fails fails CI too.

A check is a pytest test (``tests/…py::test_name``) or a step of ``make test`` (``make:target``, which must be a
Makefile target that the ``test`` recipe runs). A row that does not apply names a test showing why it cannot
arise (E8: the service refuses blinded protocols). Only the goals the requirements call optional (G7) may say
``optional`` instead of naming a check.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "docs" / "service" / "traceability.md"

#: The rows of trial-system-requirements.md §1 (checklist) and its figure goals.
EXPECTED_ROWS: tuple[str, ...] = (
    *(f"A{i}" for i in range(1, 11)),
    *(f"B{i}" for i in range(1, 9)),
    *(f"C{i}" for i in range(1, 7)),
    *(f"D{i}" for i in range(1, 7)),
    *(f"E{i}" for i in range(1, 10)),
    *(f"G{i}" for i in range(1, 23)),
)
_ROW = re.compile(r"^\|\s*(?P<row>[A-G]\d+)\s*\|(?P<rest>.*)\|\s*$")
_TEST = re.compile(r"`(?P<path>tests/[\w/]+\.py)::(?P<name>\w+)`")
_MAKE = re.compile(r"`make:(?P<target>[\w-]+)`")
#: Goals the requirements themselves call optional (G7: "Power-loss durability (optional, if FUSE is available)").
OPTIONAL_ROWS = frozenset({"G7"})
MAKEFILE = ROOT / "Makefile"


def _rows() -> dict[str, list[tuple[str, str]]]:
    """Each row's checks as (path, test name) pairs; a make step is ``("make", target)``."""
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in TRACE.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        row = match["row"]
        assert row not in rows, f"{TRACE.name}: row {row} appears twice"
        tests = [(m["path"], m["name"]) for m in _TEST.finditer(match["rest"])]
        rows[row] = tests + [("make", m["target"]) for m in _MAKE.finditer(match["rest"])]
    return rows


@cache
def _test_functions(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            names.add(node.name)
    return frozenset(names)


def test_every_requirement_row_is_listed_once() -> None:
    rows = _rows()
    assert sorted(rows) == sorted(EXPECTED_ROWS), (
        f"missing {sorted(set(EXPECTED_ROWS) - set(rows))}, unknown {sorted(set(rows) - set(EXPECTED_ROWS))}"
    )


def test_every_row_names_at_least_one_test() -> None:
    empty = [row for row, tests in _rows().items() if not tests and row not in OPTIONAL_ROWS]
    assert not empty, f"rows without a test in {TRACE.name}: {empty}"


def _make_test_steps() -> set[str]:
    """The targets the ``test`` recipe runs (its ``$(MAKE) … a b c`` line)."""
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.M)
    assert recipe is not None, "Makefile has no test target"
    steps: set[str] = set()
    for line in recipe.group(1).splitlines():
        if "$(MAKE)" in line:
            steps.update(word for word in line.split() if not word.startswith(("$", "-")))
    return steps


def test_make_test_keeps_a_junit_record() -> None:
    """D2: every ``make test`` leaves the JUnit XML of its pytest run as the validation record."""
    assert "pytest" in _make_test_steps()
    pytest_recipe = re.search(r"^pytest:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.M)
    assert pytest_recipe is not None and "--junitxml=build/junit.xml" in pytest_recipe.group(1)


def test_every_named_test_exists() -> None:
    missing = []
    for row, tests in _rows().items():
        for path, name in tests:
            if path == "make":
                if name not in _make_test_steps():
                    missing.append(f"{row}: make:{name} is not a step of `make test`")
                continue
            if not (ROOT / path).is_file() or name not in _test_functions(path):
                missing.append(f"{row}: {path}::{name}")
    assert not missing, "named tests that do not exist:\n" + "\n".join(missing)


def test_shared_case_modules_are_run_by_a_test_module() -> None:
    """Cases kept in ``_*.py`` modules run only through a ``test_*.py`` module that imports them."""
    for tests in _rows().values():
        for path, _ in tests:
            if path == "make":
                continue
            module = Path(path)
            if not module.name.startswith("_"):
                continue
            users = [
                p
                for p in module.parent.glob("test_*.py")
                if re.search(rf"^import {module.stem}\b|^from {module.stem} import", p.read_text(), re.M)
            ]
            assert users, f"{path} is imported by no test module, so its cases never run"
