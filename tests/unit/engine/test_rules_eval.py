"""Three-valued rule evaluation (trialtwin.engine.rules): Kleene truth tables, leaves, reasons, compile cache."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from trialtwin.engine.rules import (
    PerObjectCache,
    Truth,
    compile_rule,
    describe_comparison,
    evaluate_rule,
    format_number,
    format_quantity,
    kleene_and,
    kleene_not,
    kleene_or,
    pretty_unit,
)
from trialtwin.protocol import AllOf, AnyOf, Comparison, FactDefinition, FactType, FactUnit, Not

T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN


def _operand(name: str, truth: Truth) -> tuple[Comparison, dict[str, Any]]:
    """A comparison ``name == true`` and the facts that make it ``truth`` (missing fact: unknown)."""
    facts: dict[str, Any] = {} if truth is U else {name: truth is T}
    return Comparison(fact=name, op="==", value=True), facts


# Strong Kleene tables (Kleene 1952, Introduction to Metamathematics §64), written out cell by cell.
AND_TABLE = [
    (T, T, T), (T, F, F), (T, U, U),
    (F, T, F), (F, F, F), (F, U, F),
    (U, T, U), (U, F, F), (U, U, U),
]  # fmt: skip
OR_TABLE = [
    (T, T, T), (T, F, T), (T, U, T),
    (F, T, T), (F, F, F), (F, U, U),
    (U, T, T), (U, F, U), (U, U, U),
]  # fmt: skip
NOT_TABLE = [(T, F), (F, T), (U, U)]


@pytest.mark.parametrize(("a", "b", "expected"), AND_TABLE, ids=[f"{a}-and-{b}" for a, b, _ in AND_TABLE])
def test_all_truth_table(a: Truth, b: Truth, expected: Truth) -> None:
    """Kleene conjunction: false dominates unknown."""
    left, f1 = _operand("a", a)
    right, f2 = _operand("b", b)
    assert evaluate_rule(AllOf(all=(left, right)), {**f1, **f2}) is expected
    assert evaluate_rule(
        AllOf(all=(left, right, Comparison(fact="c", op="==", value=True))), {**f1, **f2, "c": True}
    ) is (expected)


@pytest.mark.parametrize(("a", "b", "expected"), OR_TABLE, ids=[f"{a}-or-{b}" for a, b, _ in OR_TABLE])
def test_any_truth_table(a: Truth, b: Truth, expected: Truth) -> None:
    """Kleene disjunction: true dominates unknown."""
    left, f1 = _operand("a", a)
    right, f2 = _operand("b", b)
    assert evaluate_rule(AnyOf(any=(left, right)), {**f1, **f2}) is expected


@pytest.mark.parametrize(("a", "expected"), NOT_TABLE, ids=[f"not-{a}" for a, _ in NOT_TABLE])
def test_not_truth_table(a: Truth, expected: Truth) -> None:
    """Kleene negation: unknown stays unknown."""
    operand, facts = _operand("a", a)
    assert evaluate_rule(Not(**{"not": operand}), facts) is expected


_RAW = {T: True, F: False, U: None}


@pytest.mark.parametrize(("a", "b", "expected"), AND_TABLE)
def test_kleene_and_helper(a: Truth, b: Truth, expected: Truth) -> None:
    assert Truth.of(kleene_and([_RAW[a], _RAW[b]])) is expected


@pytest.mark.parametrize(("a", "b", "expected"), OR_TABLE)
def test_kleene_or_helper(a: Truth, b: Truth, expected: Truth) -> None:
    assert Truth.of(kleene_or([_RAW[a], _RAW[b]])) is expected


@pytest.mark.parametrize(("a", "expected"), NOT_TABLE)
def test_kleene_not_helper(a: Truth, expected: Truth) -> None:
    assert Truth.of(kleene_not(_RAW[a])) is expected


def test_empty_connectives_are_identities() -> None:
    """An empty conjunction is true, an empty disjunction false (their identities)."""
    assert kleene_and([]) is True
    assert kleene_or([]) is False


# ---- leaves ---------------------------------------------------------------------------------------------------

ANC = FactDefinition(name="anc", type=FactType.NUMBER, unit=FactUnit.E9_PER_L, label="Absolute neutrophil count")
AST = FactDefinition(name="ast", type=FactType.NUMBER, unit=FactUnit.X_ULN, label="AST")
SEX = FactDefinition(name="sex", type=FactType.ENUM, levels=("female", "male"), label="Sex")
BRAIN = FactDefinition(name="brain", type=FactType.BOOLEAN, label="Known brain metastases")
DEFS = {d.name: d for d in (ANC, AST, SEX, BRAIN)}


def _anc(op: str, value: float) -> Comparison:
    return Comparison(fact="anc", op=op, value=value, unit=FactUnit.E9_PER_L)  # type: ignore[arg-type]


LEAVES = [
    ("ge-above", _anc(">=", 1.5), 1.6, T),
    ("ge-boundary", _anc(">=", 1.5), 1.5, T),
    ("ge-below", _anc(">=", 1.5), 1.49, F),
    ("gt-boundary", _anc(">", 1.5), 1.5, F),
    ("gt-above", _anc(">", 1.5), 1.51, T),
    ("le-boundary", _anc("<=", 1.5), 1.5, T),
    ("le-above", _anc("<=", 1.5), 1.51, F),
    ("lt-boundary", _anc("<", 1.5), 1.5, F),
    ("lt-below", _anc("<", 1.5), 1.4, T),
    ("eq-equal", _anc("==", 2), 2.0, T),
    ("eq-other", _anc("==", 2), 2.1, F),
    ("ne-equal", _anc("!=", 2), 2, F),
    ("ne-other", _anc("!=", 2), 3, T),
    ("missing", _anc(">=", 1.5), None, U),
]


@pytest.mark.parametrize(("name", "rule", "value", "expected"), LEAVES, ids=[row[0] for row in LEAVES])
def test_comparison_leaf(name: str, rule: Comparison, value: float | None, expected: Truth) -> None:
    facts = {} if value is None else {"anc": value}
    assert evaluate_rule(rule, facts) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("female", T), ("male", F), (None, U)], ids=["member", "not-member", "missing"]
)
def test_in_leaf(value: str | None, expected: Truth) -> None:
    rule = Comparison(fact="sex", op="in", value=("female",))
    assert evaluate_rule(rule, {"sex": value}) is expected


def test_none_value_is_missing() -> None:
    """An explicit None is treated exactly like an absent fact."""
    assert evaluate_rule(_anc(">=", 1.5), {"anc": None}) is U


def test_numpy_scalars_give_plain_bools() -> None:
    """The twin may hand NumPy scalars; the Kleene connectives test ``is False``, so results must be bools."""
    compiled = compile_rule(AllOf(all=(_anc(">=", 1.5), _anc("<=", 10))))
    assert compiled.evaluate({"anc": np.float64(1.0)}) is False
    assert compiled.evaluate({"anc": np.float64(2.0)}) is True


# ---- reasons --------------------------------------------------------------------------------------------------

REASONS = [
    ("ge-fails", _anc(">=", 1.5), 1.2, "Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L"),
    ("ge-holds", _anc(">=", 1.5), 2, "Absolute neutrophil count 2×10⁹/L ≥ 1.5×10⁹/L"),
    ("gt-fails", _anc(">", 1.5), 1.5, "Absolute neutrophil count 1.5×10⁹/L at or below 1.5×10⁹/L"),
    ("lt-fails", _anc("<", 1.5), 1.5, "Absolute neutrophil count 1.5×10⁹/L at or above 1.5×10⁹/L"),
    ("le-fails", Comparison(fact="ast", op="<=", value=2.5, unit=FactUnit.X_ULN), 3, "AST 3×ULN above 2.5×ULN"),
    ("bool-yes", Comparison(fact="brain", op="==", value=True), True, "Known brain metastases: yes"),
    ("bool-no", Comparison(fact="brain", op="==", value=True), False, "Known brain metastases: no"),
    ("enum-fails", Comparison(fact="sex", op="==", value="male"), "female", "Sex: female, not male"),
    ("enum-holds", Comparison(fact="sex", op="==", value="male"), "male", "Sex: male"),
    ("enum-ne-fails", Comparison(fact="sex", op="!=", value="male"), "male", "Sex: male (must not be male)"),
    ("in-fails", Comparison(fact="sex", op="in", value=("male",)), "female", "Sex: female, not one of male"),
]


@pytest.mark.parametrize(("name", "rule", "value", "expected"), REASONS, ids=[row[0] for row in REASONS])
def test_describe_comparison(name: str, rule: Comparison, value: Any, expected: str) -> None:
    assert describe_comparison(rule, value, DEFS[rule.fact]) == expected


@pytest.mark.parametrize(
    ("unit", "text"),
    [("10^9/L", "×10⁹/L"), ("xULN", "×ULN"), ("umol/L", "µmol/L"), ("/uL", "/µL"), ("m2", "m²"), ("mL/min", "mL/min")],
)
def test_pretty_unit(unit: str, text: str) -> None:
    assert pretty_unit(unit) == text


def test_format_quantity_and_number() -> None:
    assert format_quantity(100.0, "10^9/L") == "100×10⁹/L"
    assert format_quantity(60, "mL/min") == "60 mL/min"
    assert format_quantity(3, "count") == "3"
    assert format_number(0.1 + 0.2) == "0.3"


LIVER_RULE = AnyOf(
    any=(
        Comparison(fact="ast", op="<=", value=2.5, unit=FactUnit.X_ULN),
        AllOf(
            all=(
                Comparison(fact="brain", op="==", value=True),
                Comparison(fact="ast", op="<=", value=5, unit=FactUnit.X_ULN),
            )
        ),
    )
)


def test_explain_false_any_lists_every_failed_alternative() -> None:
    text = compile_rule(LIVER_RULE, DEFS).explain({"ast": 3, "brain": False})
    assert text == "AST 3×ULN above 2.5×ULN; Known brain metastases: no"


def test_explain_true_any_names_the_alternative_that_holds() -> None:
    text = compile_rule(LIVER_RULE, DEFS).explain({"ast": 4, "brain": True})
    assert text == "Known brain metastases: yes; AST 4×ULN ≤ 5×ULN"


def test_explain_false_all_lists_only_the_failing_parts() -> None:
    rule = AllOf(all=(_anc(">=", 1.5), Comparison(fact="brain", op="==", value=False)))
    assert compile_rule(rule, DEFS).explain({"anc": 1.0, "brain": False}) == (
        "Absolute neutrophil count 1×10⁹/L below 1.5×10⁹/L"
    )


def test_explain_unknown_names_the_missing_facts() -> None:
    compiled = compile_rule(LIVER_RULE, DEFS)
    assert compiled.truth({"ast": 3}) is U
    assert compiled.missing_facts({"ast": 3}) == ("brain",)
    assert compiled.explain({"ast": 3}) == "missing facts: brain (Known brain metastases)"


def test_explain_not_explains_its_part() -> None:
    rule = Not(**{"not": Comparison(fact="brain", op="==", value=True)})
    assert compile_rule(rule, DEFS).explain({"brain": True}) == "Known brain metastases: yes"


def test_missing_facts_empty_when_decided() -> None:
    """A missing fact that cannot change the value is not reported (false dominates the conjunction)."""
    rule = AllOf(all=(_anc(">=", 1.5), Comparison(fact="brain", op="==", value=False)))
    assert compile_rule(rule, DEFS).missing_facts({"anc": 1.0}) == ()


# ---- cache ----------------------------------------------------------------------------------------------------


class _Box:
    """A weak-referenceable stand-in for a protocol."""


def test_per_object_cache_keys_by_identity_and_forgets_collected_objects() -> None:
    calls: list[int] = []

    def build(obj: _Box) -> int:
        calls.append(id(obj))
        return len(calls)

    cache: PerObjectCache[_Box, int] = PerObjectCache(build)
    a, b = _Box(), _Box()
    assert cache(a) == 1
    assert cache(a) == 1
    assert cache(b) == 2
    assert len(calls) == 2
    del a
    gc.collect()
    assert len(cache._entries) == 1
