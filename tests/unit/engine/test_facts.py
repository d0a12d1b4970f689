"""Patient-facts validation and JSON Schema (trialtwin.engine.facts), against EVER-132-002's declared facts.

Declared types, units, levels and ranges come from src/trialtwin/protocol/studies/ever-132-002.yaml
(eligibility.facts).
"""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from trialtwin.engine.facts import FactsError, facts_json_schema, validate_facts
from trialtwin.protocol import Protocol, protocol_from_data, protocol_to_data

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"
EXAMPLE_FILES = ["screening-eligible.json", "screening-ineligible.json"]

# (row id, facts document, field named in the error, text of the message)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown-name", {"agee": 50}, "agee", "unknown fact 'agee'; did you mean 'age'?"),
    ("unknown-name-no-hint", {"zzz": 1}, "zzz", "unknown fact 'zzz' (declared: age, sex,"),
    ("boolean-given-number", {"pregnant": 0}, "pregnant", "expected true or false, got 0"),
    ("boolean-given-string", {"pregnant": "no"}, "pregnant", "expected true or false, got 'no'"),
    ("number-given-string", {"anc": "1.2"}, "anc", "expected a number in 10^9/L, got '1.2'"),
    ("number-given-boolean", {"anc": True}, "anc", "expected a number in 10^9/L, got True"),
    ("number-not-finite", {"anc": float("nan")}, "anc", "expected a number in 10^9/L, got nan"),
    ("integer-given-fraction", {"prior_chemo_lines_mbc": 2.5}, "prior_chemo_lines_mbc", "expected an integer (count)"),
    ("enum-undeclared-level", {"sex": "other"}, "sex", "level 'other' is not declared (levels: female, male)"),
    ("enum-wrong-case", {"sex": "Female"}, "sex", "level 'Female' is not declared"),
    ("below-minimum", {"anc": -0.1}, "anc", "-0.1 10^9/L is below the minimum 0 10^9/L"),
    ("above-maximum", {"age": 121}, "age", "121 years is above the maximum 120 years"),
    ("quantity-bad-unit", {"anc": {"value": 1, "unit": "g/L"}}, "anc", "unit 'g/L' cannot be converted to '10^9/L'"),
    ("quantity-extra-key", {"anc": {"value": 1, "unit": "10^9/L", "x": 1}}, "anc", 'exactly the keys "value"'),
    ("quantity-converted-out-of-range", {"anc": {"value": -5, "unit": "/uL"}}, "anc", "below the minimum"),
    ("overrides-not-mapping", {"criteria_overrides": [1]}, "criteria_overrides", "expected a mapping"),
    ("overrides-unknown-criterion", {"criteria_overrides": {"X1": True}}, "criteria_overrides.X1", "unknown"),
]


@pytest.mark.parametrize(("row", "data", "field", "message"), BAD, ids=[row[0] for row in BAD])
def test_bad_fact_names_the_field(ever: Protocol, row: str, data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(FactsError) as info:
        validate_facts(ever, data, source="patient.json")
    assert info.value.source == "patient.json"
    assert [f for f, _ in info.value.problems] == [field]
    assert message in info.value.problems[0][1]
    assert str(info.value).startswith(f"patient.json: invalid patient facts\n  {field}: ")


def test_every_problem_is_listed(ever: Protocol) -> None:
    with pytest.raises(FactsError) as info:
        validate_facts(ever, {"agee": 1, "sex": "x", "anc": "y"}, source="f.json")
    assert [f for f, _ in info.value.problems] == ["agee", "sex", "anc"]
    assert str(info.value).startswith("f.json: invalid patient facts\n  agee: unknown fact")


def test_document_must_be_a_mapping(ever: Protocol) -> None:
    with pytest.raises(FactsError, match=r"^f\.json: a facts document is a mapping of fact name to value, got list$"):
        validate_facts(ever, [], source="f.json")


GOOD: list[tuple[str, Any, Any]] = [
    ("number-int", 2, 2),
    ("number-float", 1.25, 1.25),
    ("quantity-same-unit", {"value": 1.8, "unit": "10^9/L"}, 1.8),
    ("quantity-per-microlitre", {"value": 1800, "unit": "/uL"}, 1.8),
    ("numpy-float", np.float64(1.5), 1.5),
    ("fraction", Fraction(3, 2), 1.5),
]


@pytest.mark.parametrize(("row", "raw", "expected"), GOOD, ids=[row[0] for row in GOOD])
def test_numbers_are_normalised_to_the_declared_unit(ever: Protocol, row: str, raw: Any, expected: float) -> None:
    value = validate_facts(ever, {"anc": raw})["anc"]
    assert value == expected and type(value) in (int, float)


def test_whole_float_of_an_integer_fact_becomes_int(ever: Protocol) -> None:
    value = validate_facts(ever, {"prior_chemo_lines_mbc": 3.0})["prior_chemo_lines_mbc"]
    assert value == 3 and type(value) is int


def test_haemoglobin_in_grams_per_litre(ever: Protocol) -> None:
    assert validate_facts(ever, {"hemoglobin": {"value": 95, "unit": "g/L"}}) == {"hemoglobin": 9.5}


def test_null_is_missing(ever: Protocol) -> None:
    assert validate_facts(ever, {"anc": None, "sex": "male", "criteria_overrides": None}) == {"sex": "male"}


def test_date_facts_parse_iso_dates(ever: Protocol) -> None:
    """The type ``date`` (no EVER-132-002 fact uses it): ISO strings become dates, anything else is refused."""
    data = protocol_to_data(ever)
    data["eligibility"]["facts"].append({"name": "consent_date", "type": "date", "label": "Consent date"})
    protocol = protocol_from_data(data, "test")
    assert validate_facts(protocol, {"consent_date": "2024-03-01"}) == {"consent_date": dt.date(2024, 3, 1)}
    with pytest.raises(FactsError, match="consent_date: expected a date YYYY-MM-DD, got '01/03/2024'"):
        validate_facts(protocol, {"consent_date": "01/03/2024"})
    schema = facts_json_schema(protocol)["properties"]["consent_date"]
    assert schema["type"] == ["string", "null"] and schema["format"] == "date"


# ---- JSON Schema ----------------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12(ever: Protocol) -> None:
    schema = facts_json_schema(ever)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {f.name for f in ever.eligibility.facts} | {"criteria_overrides"}


def test_schema_declares_units_levels_and_ranges(ever: Protocol) -> None:
    props = facts_json_schema(ever)["properties"]
    assert props["anc"]["x-unit"] == "10^9/L" and "in 10^9/L" in props["anc"]["description"]
    assert props["anc"]["anyOf"][0] == {"type": "number", "minimum": 0}
    assert props["age"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 120}
    assert props["prior_chemo_lines_mbc"]["anyOf"][0]["type"] == "integer"
    assert props["sex"]["enum"] == ["female", "male", None]
    assert props["pregnant"]["type"] == ["boolean", "null"]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_schema_validates_the_example_files(ever: Protocol, name: str) -> None:
    """The documented examples (docs/examples) are valid for the schema and for the validator."""
    document = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(facts_json_schema(ever)).validate(document)
    validate_facts(ever, document)


@pytest.mark.parametrize(
    "document",
    [{"agee": 1}, {"sex": "other"}, {"age": 121}, {"pregnant": 0}, {"prior_chemo_lines_mbc": 2.5}],
    ids=["unknown-name", "undeclared-level", "above-maximum", "wrong-type", "not-integer"],
)
def test_schema_rejects_what_the_validator_rejects(ever: Protocol, document: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(facts_json_schema(ever))
    assert not validator.is_valid(document)
    with pytest.raises(FactsError):
        validate_facts(ever, document)
