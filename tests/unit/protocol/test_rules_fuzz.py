"""Fuzzing the eligibility-rule language (requirement G13; the CVEs it cites are expression evaluators that
ran attacker-chosen code). Rules are data, parsed by pydantic (``trialtwin.protocol.rules``) and compiled
into closures (``trialtwin.engine.rules``): there is no ``eval``, attribute access or import to escape to.

Property: whatever JSON-like value is given as a rule, a protocol or a facts document, the only errors are
the documented ones (pydantic ``ValidationError`` for a rule alone, ``ProtocolError`` for a protocol,
``FactsError`` for facts); a rule that passes validation against the declared facts, evaluated on facts that
pass validation, always gives true/false/unknown and a reason. The long coverage-guided run (atheris, 10^6
executions or 10 minutes) is ``benchmarks/fuzz_rules.py``; here hypothesis runs a few hundred examples.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from trialtwin.engine.eligibility import EligibilityStatus, evaluate_eligibility
from trialtwin.engine.facts import FactsError, validate_facts
from trialtwin.engine.rules import compile_rule
from trialtwin.protocol import load_protocol
from trialtwin.protocol.errors import ProtocolError
from trialtwin.protocol.io import protocol_from_data, protocol_to_data
from trialtwin.protocol.rules import FactType, Rule, check_comparison, iter_comparisons

PROTOCOL = load_protocol("ever-132-002")
DATA = protocol_to_data(PROTOCOL)
FACTS = PROTOCOL.eligibility.fact_map()
RULE = TypeAdapter(Rule)
KEYS = ["all", "any", "not", "fact", "op", "value", "unit", *FACTS]
OPS = ["<", "<=", "==", "!=", ">=", ">", "in", "=", "~", "__import__", "eval"]
UNITS = ["years", "count", "10^9/L", "g/dL", "xULN", "mL/min", "mg", "%", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([*FACTS, *OPS, *UNITS, "female", "male", "__class__", "os.system('x')"]),
)
json_ish = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)
#: Rule-shaped documents: mostly well-formed trees of comparisons over the declared facts, with wrong parts.
comparisons = st.fixed_dictionaries(
    {"fact": st.sampled_from([*FACTS, "nope"]), "op": st.sampled_from(OPS), "value": json_ish},
    optional={"unit": st.sampled_from(UNITS), "extra": json_ish},
)
rule_docs = st.recursive(
    st.one_of(comparisons, json_ish),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=4)}),
        st.fixed_dictionaries({"any": st.lists(inner, max_size=4)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=12,
)


def fact_value(name: str, *, typed_only: bool = False) -> st.SearchStrategy[Any]:
    """Values for one declared fact: of its type (or missing), and with ``typed_only`` false any value at all."""
    definition = FACTS[name]
    typed: st.SearchStrategy[Any]
    if definition.type is FactType.BOOLEAN:
        typed = st.booleans()
    elif definition.type is FactType.ENUM:
        typed = st.sampled_from(definition.levels)
    elif definition.type is FactType.INTEGER:
        typed = st.integers(0, 12)
    elif definition.type is FactType.NUMBER:
        typed = st.one_of(st.integers(0, 120), st.floats(0, 120))
    else:
        typed = st.dates().map(lambda d: d.isoformat())
    if typed_only:
        return st.one_of(typed, st.none())
    wild = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), json_ish)
    return st.one_of(typed, st.none(), wild)


facts_docs = st.one_of(
    st.fixed_dictionaries({}, optional={name: fact_value(name) for name in FACTS}),
    st.dictionaries(st.text(max_size=8), json_ish, max_size=4),
    json_ish,
)


def _evaluates(rule: Any, facts: dict[str, Any]) -> None:
    compiled = compile_rule(rule, FACTS)
    value = compiled.evaluate(facts)
    assert value in (True, False, None)
    assert isinstance(compiled.explain(facts), str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_docs, facts_docs)
def test_any_rule_document_gives_a_validation_error_or_a_rule_that_evaluates(doc: Any, facts_doc: Any) -> None:
    try:
        rule = RULE.validate_python(doc)
    except ValidationError:
        return
    problems = [check_comparison(c, FACTS) for c in iter_comparisons(rule)]
    assert all(p is None or isinstance(p, str) for p in problems)
    if any(problems):
        return  # the protocol refuses it (see the next test); it is never evaluated
    try:
        facts = validate_facts(PROTOCOL, facts_doc)
    except FactsError:
        facts = {}
    _evaluates(rule, facts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_docs, st.integers(min_value=0, max_value=len(DATA["eligibility"]["criteria"]) - 1))
def test_a_protocol_with_any_rule_is_a_protocol_error_or_valid(doc: Any, index: int) -> None:
    data = copy.deepcopy(DATA)
    data["eligibility"]["criteria"][index]["rule"] = doc
    protocol, problems = None, []
    try:
        protocol = protocol_from_data(data, "fuzz")
    except ProtocolError as exc:
        problems = exc.problems
    if protocol is None:
        assert problems and all(isinstance(m, str) and m for _, m in problems)
        return
    rule = protocol.eligibility.criteria[index].rule
    if rule is None:  # no rule: a criterion for the investigator's judgement
        assert doc is None
        return
    assert all(check_comparison(c, FACTS) is None for c in iter_comparisons(rule))
    _evaluates(rule, {})


@settings(max_examples=150, deadline=None)
@given(facts_docs)
def test_any_facts_document_is_a_facts_error_or_a_verdict(doc: Any) -> None:
    """Arbitrary fact values into the real protocol's eligibility (EVER-132-002)."""
    try:
        result = evaluate_eligibility(PROTOCOL, doc)
    except FactsError as exc:
        message = str(exc)
    else:
        assert result.status in set(EligibilityStatus)
        return
    assert message.startswith("facts")  # names the document


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={name: fact_value(name, typed_only=True) for name in FACTS}))
def test_valid_facts_always_give_a_verdict_with_reasons(doc: dict[str, Any]) -> None:
    facts = validate_facts(PROTOCOL, doc)  # values of the declared types and ranges: always valid
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in facts.values())
    result = evaluate_eligibility(PROTOCOL, facts, validate=False)
    assert result.status in set(EligibilityStatus)
    for criterion in PROTOCOL.eligibility.criteria:
        if criterion.rule is not None:
            _evaluates(criterion.rule, facts)
