"""Patient facts: validation and normalisation against the protocol's declared facts, and their JSON Schema.

A facts document is a mapping ``fact name → value`` (the CRF fields the eligibility and stratification rules
read), for example ``{"age": 52, "sex": "female", "anc": 1.8, "liver_metastases": false}``:

* numbers are in the fact's declared unit (``anc`` in 10^9/L, ``ast`` as a multiple of ULN); a number may
  also be given as ``{"value": 1800, "unit": "/uL"}`` when the unit converts exactly (``/uL`` ↔ ``10^9/L``,
  ``g/L`` ↔ ``g/dL``, ``mm`` ↔ ``cm``); it is stored in the declared unit;
* booleans are JSON ``true``/``false``; enum facts one of their declared levels; date facts ISO ``YYYY-MM-DD``;
* a fact that is absent or ``null`` is *missing*: rules that need it evaluate to unknown;
* the reserved key ``criteria_overrides`` maps the id of a criterion without a computable rule
  (``rule: null``) to the investigator's judgement (``true``: the criterion's condition holds).

Anything else (an undeclared name, a wrong type, an undeclared level, a number outside the declared
minimum/maximum, an override of a computable criterion) raises :class:`FactsError` listing every problem
with the field it concerns.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import numbers
import sys
from collections.abc import Callable, Mapping
from typing import Any

from trialtwin.engine.rules import PerObjectCache, format_number
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol
from trialtwin.protocol.rules import FactDefinition, FactType

#: Reserved key of a facts document: criterion id → investigator judgement for criteria without a rule.
CRITERIA_OVERRIDES = "criteria_overrides"

#: A normalised fact value.
FactValue = bool | int | float | str | dt.date

#: Exact linear conversions ``(from unit, to unit) → (multiplier, divisor)``: to = from × multiplier / divisor.
UNIT_CONVERSIONS: dict[tuple[str, str], tuple[int, int]] = {
    ("/uL", "10^9/L"): (1, 1000),  # 1 cell/µL = 10^6 cells/L = 10^-3 × 10^9/L
    ("10^9/L", "/uL"): (1000, 1),
    ("g/L", "g/dL"): (1, 10),
    ("g/dL", "g/L"): (10, 1),
    ("mm", "cm"): (1, 10),
    ("cm", "mm"): (10, 1),
}


class FactsError(TrialtwinError):
    """A patient-facts document does not fit the protocol's declared facts.

    ``source`` names the file (or ``<stdin>``), ``problems`` lists ``(field, message)`` pairs.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1 and not problems[0][0]:
            text = f"{source}: {problems[0][1]}"
        else:
            lines = [f"{source}: invalid patient facts"]
            lines += [f"  {field or '(document)'}: {message}" for field, message in problems]
            text = "\n".join(lines)
        super().__init__(text)


# --------------------------------------------------------------------------------------------------------------
# Validation


_Check = Callable[[Any], "tuple[FactValue | None, str | None]"]


def _unit_text(definition: FactDefinition) -> str:
    return str(definition.unit.value) if definition.unit is not None else ""


def _range_problem(definition: FactDefinition, value: float) -> str | None:
    unit = f" {_unit_text(definition)}" if definition.unit is not None else ""
    if definition.minimum is not None and value < definition.minimum:
        return f"{format_number(value)}{unit} is below the minimum {format_number(definition.minimum)}{unit}"
    if definition.maximum is not None and value > definition.maximum:
        return f"{format_number(value)}{unit} is above the maximum {format_number(definition.maximum)}{unit}"
    return None


def _numeric_checker(definition: FactDefinition) -> _Check:
    integer = definition.type is FactType.INTEGER
    unit = _unit_text(definition)
    what = f"an integer ({unit})" if integer else f"a number in {unit}"
    accepted = sorted([unit] + [src for src, dst in UNIT_CONVERSIONS if dst == unit])

    def check(raw: Any) -> tuple[FactValue | None, str | None]:
        value = raw
        if isinstance(raw, Mapping):
            if set(raw) != {"value", "unit"}:
                return None, f'a quantity object has exactly the keys "value" and "unit" (got {sorted(raw)})'
            given, value = raw["unit"], raw["value"]
            if given != unit:
                factor = UNIT_CONVERSIONS.get((str(given), unit))
                if factor is None:
                    return None, f"unit {given!r} cannot be converted to {unit!r} (accepted: {accepted})"
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = value * factor[0] / factor[1]
                    if integer and float(value).is_integer():
                        value = int(value)
        if type(value) not in (int, float):  # NumPy scalars, Decimal, Fraction: plain Python numbers
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return None, f"expected {what}, got {raw!r}"
            value = int(value) if isinstance(value, numbers.Integral) else float(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                return None, f"expected {what}, got {raw!r}"
            if integer:
                if not value.is_integer():
                    return None, f"expected {what}, got {raw!r}"
                value = int(value)
        problem = _range_problem(definition, value)
        return (None, problem) if problem else (value, None)

    return check


def _boolean_checker(definition: FactDefinition) -> _Check:
    def check(raw: Any) -> tuple[FactValue | None, str | None]:
        if isinstance(raw, bool):
            return raw, None
        return None, f"expected true or false, got {raw!r}"

    return check


def _enum_checker(definition: FactDefinition) -> _Check:
    levels = definition.levels

    def check(raw: Any) -> tuple[FactValue | None, str | None]:
        if isinstance(raw, str) and raw in levels:
            return raw, None
        return None, f"level {raw!r} is not declared (levels: {', '.join(levels)})"

    return check


def _date_checker(definition: FactDefinition) -> _Check:
    def check(raw: Any) -> tuple[FactValue | None, str | None]:
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw, None
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw), None
            except ValueError:
                pass
        return None, f"expected a date YYYY-MM-DD, got {raw!r}"

    return check


_CHECKERS: dict[FactType, Callable[[FactDefinition], _Check]] = {
    FactType.INTEGER: _numeric_checker,
    FactType.NUMBER: _numeric_checker,
    FactType.BOOLEAN: _boolean_checker,
    FactType.ENUM: _enum_checker,
    FactType.DATE: _date_checker,
}


class FactValidator:
    """Validates facts documents for one protocol (built once per protocol; see :func:`validate_facts`)."""

    __slots__ = ("_checks", "_fact_names", "_fast", "_judgeable", "_rule_criteria")

    def __init__(self, protocol: Protocol) -> None:
        self._checks = {f.name: _CHECKERS[f.type](f) for f in protocol.eligibility.facts}
        # Fast path for the common, valid case: (plain type, lower, upper, levels); anything else goes through
        # the full checker, which also writes the error messages.
        inf = sys.float_info.max  # finite, so ±infinity falls through to the full check (and is refused)
        self._fast: dict[str, tuple[tuple[type, ...], float, float, tuple[str, ...]]] = {}
        for f in protocol.eligibility.facts:
            lo = -inf if f.minimum is None else f.minimum
            hi = inf if f.maximum is None else f.maximum
            if f.type is FactType.NUMBER:
                self._fast[f.name] = ((int, float), lo, hi, ())
            elif f.type is FactType.INTEGER:
                self._fast[f.name] = ((int,), lo, hi, ())
            elif f.type is FactType.BOOLEAN:
                self._fast[f.name] = ((bool,), -inf, inf, ())
            elif f.type is FactType.ENUM:
                self._fast[f.name] = ((str,), -inf, inf, f.levels)
        self._fact_names = tuple(f.name for f in protocol.eligibility.facts)
        criteria = protocol.eligibility.all_criteria()
        self._judgeable = frozenset(c.id for c in criteria if c.rule is None)
        self._rule_criteria = frozenset(c.id for c in criteria if c.rule is not None)

    def __call__(self, data: object, source: str = "facts") -> dict[str, Any]:
        if not isinstance(data, Mapping):
            kind = type(data).__name__
            raise FactsError(source, [("", f"a facts document is a mapping of fact name to value, got {kind}")])
        out: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        checks = self._checks
        fast = self._fast
        for name, raw in data.items():
            plain = fast.get(name)
            if plain is not None and type(raw) in plain[0]:
                if plain[3]:
                    if raw in plain[3]:
                        out[name] = raw
                        continue
                elif type(raw) is bool or plain[1] <= raw <= plain[2]:
                    out[name] = raw
                    continue
            check = checks.get(name)
            if check is None:
                if name == CRITERIA_OVERRIDES:
                    overrides = self._overrides(raw, problems)
                    if overrides:
                        out[CRITERIA_OVERRIDES] = overrides
                    continue
                problems.append((str(name), self._unknown(name)))
                continue
            if raw is None:
                continue
            value, problem = check(raw)
            if problem is not None:
                problems.append((name, problem))
            else:
                out[name] = value
        if problems:
            raise FactsError(source, problems)
        return out

    def _unknown(self, name: object) -> str:
        close = difflib.get_close_matches(str(name), self._fact_names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (declared: {', '.join(self._fact_names)})"
        return f"unknown fact {name!r}{hint}"

    def _overrides(self, raw: object, problems: list[tuple[str, str]]) -> dict[str, bool]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            problems.append((CRITERIA_OVERRIDES, "expected a mapping of criterion id to true/false"))
            return {}
        out: dict[str, bool] = {}
        for crit_id, judged in raw.items():
            field = f"{CRITERIA_OVERRIDES}.{crit_id}"
            if crit_id in self._rule_criteria:
                problems.append((field, "this criterion has a computable rule: give its facts instead"))
            elif crit_id not in self._judgeable:
                known = ", ".join(sorted(self._judgeable)) or "none in this protocol"
                problems.append((field, f"unknown criterion (criteria without a rule: {known})"))
            elif not isinstance(judged, bool):
                problems.append((field, f"expected true or false, got {judged!r}"))
            else:
                out[str(crit_id)] = judged
        return out


fact_validator = PerObjectCache(FactValidator)


def validate_facts(protocol: Protocol, data: object, *, source: str = "facts") -> dict[str, Any]:
    """Check a facts document against the protocol's declared facts; return it normalised.

    Normalised: ``null`` entries dropped (missing), numbers in the declared unit (quantity objects converted,
    whole floats of integer facts made ``int``), dates as :class:`datetime.date`, ``criteria_overrides`` kept
    when non-empty. Raises :class:`FactsError` naming every bad field (``source`` names the document).
    """
    return fact_validator(protocol)(data, source)


# --------------------------------------------------------------------------------------------------------------
# JSON Schema


def _fact_schema(definition: FactDefinition) -> dict[str, Any]:
    description = definition.label
    if definition.unit is not None:
        description += f", in {definition.unit.value}"
    if definition.description:
        description += f". {definition.description}"
    schema: dict[str, Any] = {"title": definition.label, "description": description + ". null = not known."}
    if definition.type is FactType.BOOLEAN:
        schema["type"] = ["boolean", "null"]
    elif definition.type is FactType.ENUM:
        schema["enum"] = [*definition.levels, None]
    elif definition.type is FactType.DATE:
        schema["type"] = ["string", "null"]
        schema["format"] = "date"
    else:
        unit = _unit_text(definition)
        plain: dict[str, Any] = {"type": "integer" if definition.type is FactType.INTEGER else "number"}
        if definition.minimum is not None:
            plain["minimum"] = definition.minimum
        if definition.maximum is not None:
            plain["maximum"] = definition.maximum
        accepted = [unit, *sorted(src for src, dst in UNIT_CONVERSIONS if dst == unit)]
        quantity = {
            "type": "object",
            "properties": {"value": {"type": "number"}, "unit": {"enum": accepted}},
            "required": ["value", "unit"],
            "additionalProperties": False,
        }
        schema["x-unit"] = unit
        schema["anyOf"] = [plain, quantity, {"type": "null"}]
    return schema


def facts_json_schema(protocol: Protocol) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a facts document for ``protocol``: one property per declared fact
    (type, unit in ``x-unit`` and the description, enum levels, minimum/maximum), no other names, and
    ``criteria_overrides`` for criteria without a computable rule."""
    properties: dict[str, Any] = {f.name: _fact_schema(f) for f in protocol.eligibility.facts}
    judgeable = [c for c in protocol.eligibility.all_criteria() if c.rule is None]
    properties[CRITERIA_OVERRIDES] = {
        "title": "Investigator judgements",
        "description": (
            "Criterion id → true when the criterion's condition holds (inclusion met / excluding condition "
            "present), for criteria without a computable rule only."
        ),
        "type": "object",
        "properties": {c.id: {"type": "boolean", "description": c.text} for c in judgeable},
        "additionalProperties": False,
    }
    ident = protocol.identification
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:trialtwin:facts:{protocol.id}",
        "title": f"Patient facts for {ident.acronym or ident.org_study_id} ({ident.nct_id})",
        "description": (
            "Fact name → value, numbers in the declared unit (x-unit). Absent or null facts are missing: the "
            "rules that need them evaluate to unknown."
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
