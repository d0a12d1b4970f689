"""Computable rules over named, typed patient facts.

A rule is a small expression tree, written in the protocol file as data::

    all:
      - {fact: anc, op: ">=", value: 1.5, unit: "10^9/L"}
      - any:
          - {fact: ast, op: "<=", value: 2.5, unit: xULN}
          - all:
              - {fact: liver_metastases, op: "==", value: true}
              - {fact: ast, op: "<=", value: 5, unit: xULN}

Facts are declared once (:class:`FactDefinition`: name, type, unit, levels) and every comparison is checked
against its declaration when the protocol is validated, so a rule can never name an unknown fact, compare a
number to a word, or use another unit than the fact's. Evaluation (three-valued: true/false/unknown) lives in
``trialtwin.engine``; this module only describes rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialtwin.protocol.units import FactUnit


class Frozen(BaseModel):
    """Base of every protocol model: immutable, no unknown fields, populated by name or alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FactType(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    ENUM = "enum"
    DATE = "date"


class FactDefinition(Frozen):
    """One named, typed patient fact with its unit (the CRF field the rules read)."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    type: FactType
    label: str
    unit: FactUnit | None = None
    levels: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _check(self) -> FactDefinition:
        numeric = self.type in (FactType.INTEGER, FactType.NUMBER)
        if numeric and self.unit is None:
            raise ValueError(f"numeric fact {self.name!r} needs a unit")
        if not numeric and self.unit is not None:
            raise ValueError(f"only numeric facts carry a unit ({self.name!r} is {self.type})")
        if self.type is FactType.ENUM and len(set(self.levels)) < 2:
            raise ValueError(f"enum fact {self.name!r} needs at least two distinct levels")
        if self.type is not FactType.ENUM and self.levels:
            raise ValueError(f"only enum facts have levels ({self.name!r} is {self.type})")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"fact {self.name!r}: minimum {self.minimum} > maximum {self.maximum}")
        return self


Operator = Literal["<", "<=", "==", "!=", ">=", ">", "in"]
Scalar = bool | int | float | str


class Comparison(Frozen):
    """``fact op value [unit]``: the leaf of a rule."""

    fact: str
    op: Operator
    value: Scalar | tuple[Scalar, ...]
    unit: FactUnit | None = None

    def text(self) -> str:
        unit = f" {self.unit.value}" if self.unit else ""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.fact} {self.op} {value}{unit}"


class AllOf(Frozen):
    """True when every sub-rule is true."""

    all_: Annotated[tuple[Rule, ...], Field(alias="all", min_length=1)]

    def text(self) -> str:
        return "(" + " and ".join(r.text() for r in self.all_) + ")"


class AnyOf(Frozen):
    """True when at least one sub-rule is true."""

    any_: Annotated[tuple[Rule, ...], Field(alias="any", min_length=1)]

    def text(self) -> str:
        return "(" + " or ".join(r.text() for r in self.any_) + ")"


class Not(Frozen):
    """True when the sub-rule is false."""

    not_: Annotated[Rule, Field(alias="not")]

    def text(self) -> str:
        return f"not {self.not_.text()}"


Rule = Comparison | AllOf | AnyOf | Not

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def iter_comparisons(rule: Rule) -> Iterator[Comparison]:
    """Every leaf comparison of a rule, depth first."""
    if isinstance(rule, Comparison):
        yield rule
    elif isinstance(rule, AllOf):
        for sub in rule.all_:
            yield from iter_comparisons(sub)
    elif isinstance(rule, AnyOf):
        for sub in rule.any_:
            yield from iter_comparisons(sub)
    else:
        yield from iter_comparisons(rule.not_)


def check_comparison(comparison: Comparison, facts: dict[str, FactDefinition]) -> str | None:
    """Why a comparison does not fit the declared facts, or None when it does."""
    fact = facts.get(comparison.fact)
    if fact is None:
        return f"unknown fact {comparison.fact!r} (declare it under eligibility.facts)"
    values = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
    if comparison.op == "in" and not isinstance(comparison.value, tuple):
        return f"operator 'in' needs a list of values for fact {fact.name!r}"
    if comparison.op != "in" and isinstance(comparison.value, tuple):
        return f"operator {comparison.op!r} needs a single value for fact {fact.name!r}"
    if fact.type is FactType.BOOLEAN:
        if comparison.op not in ("==", "!=") or not all(isinstance(v, bool) for v in values):
            return f"boolean fact {fact.name!r} is compared with == or != to true/false"
    elif fact.type in (FactType.INTEGER, FactType.NUMBER):
        if comparison.op == "in" or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return f"numeric fact {fact.name!r} is compared to a number"
        if comparison.unit is None:
            return f"comparison on {fact.name!r} must state its unit ({fact.unit})"
        if comparison.unit != fact.unit:
            return f"unit {comparison.unit} does not match the unit of fact {fact.name!r} ({fact.unit})"
    elif fact.type is FactType.ENUM:
        if comparison.op not in ("==", "!=", "in"):
            return f"enum fact {fact.name!r} is compared with ==, != or in"
        unknown = [v for v in values if v not in fact.levels]
        if unknown:
            return f"level(s) {unknown} not declared for fact {fact.name!r} (levels: {list(fact.levels)})"
    elif fact.type is FactType.DATE:
        return f"date fact {fact.name!r} cannot be compared to a constant in a rule"
    return None
