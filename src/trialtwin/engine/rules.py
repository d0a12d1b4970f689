"""Three-valued evaluation of protocol rules over patient facts, with human-readable reasons.

A rule (:mod:`trialtwin.protocol.rules`) is a tree of comparisons joined by ``all``, ``any`` and ``not``. A fact
the rule needs may be missing (not yet collected), so a rule is *true*, *false* or *unknown*. The connectives
follow Kleene's strong three-valued logic (Kleene 1938; Kleene, *Introduction to Metamathematics*, 1952, §64):

=========  =====================================================================
``all``    false if any part is false; else unknown if any part is unknown; else true
``any``    true if any part is true; else unknown if any part is unknown; else false
``not``    swaps true and false; unknown stays unknown
=========  =====================================================================

so a missing fact only makes a verdict unknown when it could change it: ``all(false, unknown)`` is false.

Rules are compiled once into closures (:func:`compile_rule`) because the twin evaluates them for every
virtual patient; the compiled tree keeps the rule to explain a result afterwards (:meth:`CompiledRule.explain`):
which comparisons decided it, or which facts are missing. Facts are plain mappings ``name → value`` with numbers
in the fact's declared unit; a missing name or ``None`` means "unknown".
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from trialtwin.protocol.rules import (
    AllOf,
    AnyOf,
    Comparison,
    FactDefinition,
    FactType,
    Not,
    Rule,
    Scalar,
)

#: Patient facts as the engine reads them: fact name → value (number in the declared unit, bool, enum level).
Facts = Mapping[str, Any]
#: A compiled rule's raw result: True, False, or None for unknown.
Tri = bool | None


class Truth(StrEnum):
    """The value of a rule: true, false, or unknown because a fact it needs is missing."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: Tri) -> Truth:
        """``True``/``False``/``None`` → :class:`Truth`."""
        if value is None:
            return cls.UNKNOWN
        return cls.TRUE if value else cls.FALSE


# --------------------------------------------------------------------------------------------------------------
# Kleene connectives on bool | None (Kleene 1952, §64, strong tables)


def kleene_and(values: Iterable[Tri]) -> Tri:
    """Strong Kleene conjunction: False dominates, then None (unknown), else True (empty → True)."""
    unknown = False
    for value in values:
        if value is False:
            return False
        if value is None:
            unknown = True
    return None if unknown else True


def kleene_or(values: Iterable[Tri]) -> Tri:
    """Strong Kleene disjunction: True dominates, then None (unknown), else False (empty → False)."""
    unknown = False
    for value in values:
        if value is True:
            return True
        if value is None:
            unknown = True
    return None if unknown else False


def kleene_not(value: Tri) -> Tri:
    """Strong Kleene negation: None (unknown) stays None."""
    return None if value is None else not value


# --------------------------------------------------------------------------------------------------------------
# Units and values as people read them


_UNIT_SUFFIX: dict[str, str] = {
    "years": " years",
    "months": " months",
    "weeks": " weeks",
    "days": " days",
    "kg": " kg",
    "cm": " cm",
    "m2": " m²",
    "/uL": "/µL",
    "10^9/L": "×10⁹/L",
    "g/dL": " g/dL",
    "g/L": " g/L",
    "mg/dL": " mg/dL",
    "umol/L": " µmol/L",
    "U/L": " U/L",
    "xULN": "×ULN",
    "mL/min": " mL/min",
    "%": "%",
    "count": "",
    "mm": " mm",
    "degC": " °C",
    "/day": "/day",
}


def pretty_unit(unit: str | None) -> str:
    """A unit as printed: ``10^9/L`` → ``×10⁹/L``, ``xULN`` → ``×ULN``, ``umol/L`` → ``µmol/L``."""
    if unit is None:
        return ""
    return _UNIT_SUFFIX.get(str(unit), " " + str(unit)).strip()


def format_number(value: float) -> str:
    """A number without float noise: 100.0 → ``100``, 1.2 → ``1.2``, 0.1 + 0.2 → ``0.3``."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_quantity(value: float, unit: str | None) -> str:
    """A number with its unit as printed: ``1.2×10⁹/L``, ``3×ULN``, ``60 mL/min``, ``4`` (count)."""
    suffix = "" if unit is None else _UNIT_SUFFIX.get(str(unit), " " + str(unit))
    return format_number(value) + suffix


def format_value(value: Any, definition: FactDefinition | None) -> str:
    """A fact value as printed: booleans as yes/no, numbers with the declared unit."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_quantity(value, definition.unit if definition is not None else None)
    return str(value)


_HOLDS = {"<": "<", "<=": "≤", "==": "=", "!=": "≠", ">=": "≥", ">": ">"}
_FAILS = {"<": "at or above", "<=": "above", "==": "≠", "!=": "=", ">=": "below", ">": "at or below"}


def describe_comparison(comparison: Comparison, value: Any, definition: FactDefinition | None) -> str:
    """Why a comparison holds or fails for ``value`` (not None), in words.

    Examples: ``Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L``, ``Known brain metastases: yes``,
    ``Sex: female, not male``.
    """
    label = definition.label if definition is not None else comparison.fact
    kind = definition.type if definition is not None else None
    if isinstance(value, bool) or kind is FactType.BOOLEAN:
        return f"{label}: {format_value(value, definition)}"
    target = comparison.value
    holds = _compare(comparison.op, value, target)
    if comparison.op == "in":
        assert isinstance(target, tuple)
        if holds:
            return f"{label}: {value}"
        return f"{label}: {value}, not one of {', '.join(str(t) for t in target)}"
    if kind is FactType.ENUM or isinstance(value, str):
        if holds:
            return f"{label}: {value}"
        if comparison.op == "==":
            return f"{label}: {value}, not {target}"
        return f"{label}: {value} (must not be {target})"
    unit = comparison.unit.value if comparison.unit is not None else None
    words = _HOLDS[comparison.op] if holds else _FAILS[comparison.op]
    assert not isinstance(target, tuple | str | bool)
    return f"{label} {format_quantity(value, unit)} {words} {format_quantity(target, unit)}"


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


def _compare(op: str, value: Any, target: Scalar | tuple[Scalar, ...]) -> bool:
    if op == "in":
        assert isinstance(target, tuple)
        return value in target
    return bool(_OPERATORS[op](value, target))


# --------------------------------------------------------------------------------------------------------------
# Compilation


Evaluator = Callable[[Facts], Tri]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule compiled into a closure, with its compiled parts kept to explain results.

    ``evaluate(facts)`` returns True/False/None (unknown) and is the fast path; :meth:`truth`,
    :meth:`explain` and :meth:`missing_facts` are for people.
    """

    rule: Rule
    evaluate: Evaluator
    parts: tuple[CompiledRule, ...]
    definition: FactDefinition | None = None  # leaves only: the declared fact

    def truth(self, facts: Facts) -> Truth:
        return Truth.of(self.evaluate(facts))

    def missing_facts(self, facts: Facts) -> tuple[str, ...]:
        """Names of the missing facts that make this rule unknown (empty when it is true or false)."""
        out: dict[str, None] = {}
        self._collect_missing(facts, out)
        return tuple(out)

    def _collect_missing(self, facts: Facts, out: dict[str, None]) -> None:
        if self.evaluate(facts) is not None:
            return
        if isinstance(self.rule, Comparison):
            out[self.rule.fact] = None
            return
        for part in self.parts:
            part._collect_missing(facts, out)

    def deciding(self, facts: Facts) -> list[str]:
        """Descriptions of the comparisons that decide the rule's (known) value, depth first.

        true ``all``: every part; false ``all``: the false parts; true ``any``: the first true part; false
        ``any``: every part (all alternatives failed); ``not``: its part. Empty when the rule is unknown.
        """
        value = self.evaluate(facts)
        if value is None:
            return []
        rule = self.rule
        if isinstance(rule, Comparison):
            return [describe_comparison(rule, facts.get(rule.fact), self.definition)]
        if isinstance(rule, AllOf):
            chosen = self.parts if value else tuple(p for p in self.parts if p.evaluate(facts) is False)
        elif isinstance(rule, AnyOf):
            chosen = tuple(p for p in self.parts if p.evaluate(facts) is True)[:1] if value else self.parts
        else:
            chosen = self.parts
        out: list[str] = []
        for part in chosen:
            for line in part.deciding(facts):
                if line not in out:
                    out.append(line)
        return out

    def explain(self, facts: Facts) -> str:
        """One line: the deciding comparisons (``; ``-separated), or the missing facts when unknown."""
        if self.evaluate(facts) is None:
            return "missing facts: " + describe_missing(self.missing_facts(facts), self.definitions())
        return "; ".join(self.deciding(facts))

    def definitions(self) -> dict[str, FactDefinition]:
        """The declared facts this rule reads, by name."""
        if self.definition is not None:
            return {self.definition.name: self.definition}
        out: dict[str, FactDefinition] = {}
        for part in self.parts:
            out.update(part.definitions())
        return out


def describe_missing(names: Iterable[str], definitions: Mapping[str, FactDefinition]) -> str:
    """``anc (Absolute neutrophil count), platelets (Platelet count)``: fact names first (the keys to fill in)."""
    parts = []
    for name in names:
        definition = definitions.get(name)
        parts.append(f"{name} ({definition.label})" if definition is not None else name)
    return ", ".join(parts)


def compile_rule(rule: Rule, definitions: Mapping[str, FactDefinition] | None = None) -> CompiledRule:
    """Compile a rule tree into closures (once per protocol; the result is immutable and reusable).

    ``definitions`` (the protocol's declared facts) give labels and units for the reasons; without them the
    reasons use fact names.
    """
    defs = definitions or {}
    if isinstance(rule, Comparison):
        return CompiledRule(rule, _compile_comparison(rule), (), defs.get(rule.fact))
    if isinstance(rule, AllOf | AnyOf):
        parts = tuple(compile_rule(r, defs) for r in (rule.all_ if isinstance(rule, AllOf) else rule.any_))
        fns = tuple(p.evaluate for p in parts)
        return CompiledRule(rule, _compile_all(fns) if isinstance(rule, AllOf) else _compile_any(fns), parts)
    assert isinstance(rule, Not)
    part = compile_rule(rule.not_, defs)
    return CompiledRule(rule, _compile_not(part.evaluate), (part,))


def _compile_comparison(comparison: Comparison) -> Evaluator:
    name = comparison.fact
    if comparison.op == "in":
        assert isinstance(comparison.value, tuple)
        choices = frozenset(comparison.value)

        def member(facts: Facts) -> Tri:
            value = facts.get(name)
            return None if value is None else value in choices

        return member
    compare = _OPERATORS[comparison.op]
    target = comparison.value

    def leaf(facts: Facts) -> Tri:
        value = facts.get(name)
        if value is None:
            return None
        return True if compare(value, target) else False  # noqa: SIM210 - plain bool even for NumPy, no call

    return leaf


def _compile_all(parts: tuple[Evaluator, ...]) -> Evaluator:
    if len(parts) == 2:
        first, second = parts

        def both(facts: Facts) -> Tri:
            a = first(facts)
            if a is False:
                return False
            b = second(facts)
            if b is False:
                return False
            return None if a is None or b is None else True

        return both

    def every(facts: Facts) -> Tri:
        unknown = False
        for part in parts:
            value = part(facts)
            if value is False:
                return False
            if value is None:
                unknown = True
        return None if unknown else True

    return every


def _compile_any(parts: tuple[Evaluator, ...]) -> Evaluator:
    def some(facts: Facts) -> Tri:
        unknown = False
        for part in parts:
            value = part(facts)
            if value is True:
                return True
            if value is None:
                unknown = True
        return None if unknown else False

    return some


def _compile_not(part: Evaluator) -> Evaluator:
    def negation(facts: Facts) -> Tri:
        value = part(facts)
        return None if value is None else not value

    return negation


def evaluate_rule(rule: Rule, facts: Facts, definitions: Mapping[str, FactDefinition] | None = None) -> Truth:
    """Evaluate one rule (compiles it each call; for repeated use keep :func:`compile_rule`'s result)."""
    return compile_rule(rule, definitions).truth(facts)


# --------------------------------------------------------------------------------------------------------------
# A per-protocol cache of compiled artefacts


P = TypeVar("P")
T = TypeVar("T")


class PerObjectCache(Generic[P, T]):
    """Memoises ``build(obj)`` by object identity (not equality: hashing a whole protocol is slow).

    An entry is dropped when its object is garbage-collected, so the cache never keeps a protocol alive.
    Pure memoisation: the result depends only on the (immutable) object.
    """

    __slots__ = ("_build", "_entries")

    def __init__(self, build: Callable[[P], T]) -> None:
        self._build = build
        self._entries: dict[int, tuple[weakref.ref[Any], T]] = {}

    def __call__(self, obj: P) -> T:
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is obj:
            return entry[1]
        value = self._build(obj)
        self._entries[key] = (weakref.ref(obj), value)
        weakref.finalize(obj, self._entries.pop, key, None)
        return value
