"""Coverage-guided fuzzing of the eligibility-rule language (requirement G13): atheris (libFuzzer) feeds
arbitrary JSON-like documents to the rule model (pydantic) and the evaluator (``trialtwin.engine.rules``), and
arbitrary facts documents to the real protocol's eligibility (EVER-132-002).

A finding is any exception other than the documented ones (pydantic ``ValidationError`` for a rule,
``FactsError`` for facts), a rule that passed validation but does not evaluate to true/false/unknown, or a
"sandbox escape": an ``import``, ``exec``, ``compile``, ``open``, ``os.system`` or ``subprocess`` audit event
(PEP 578) raised while a document is being parsed or evaluated. The requirement asks for 10^6 executions or
10 minutes per target; ``make bench`` runs a short smoke run (the default), the full run is::

    .venv/bin/python benchmarks/fuzz_rules.py --runs 1000000      # or: --seconds 600

Prints executions, executions per second and findings; exits 1 on a finding (libFuzzer writes the input to
``crash-*``). Without atheris (not built for this Python), the same target runs on hypothesis-generated
documents (``--engine hypothesis``), which is slower and not coverage-guided.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the platform's wheels
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["trialtwin"]):
        from pydantic import TypeAdapter, ValidationError

        from trialtwin.engine.eligibility import EligibilityStatus, evaluate_eligibility
        from trialtwin.engine.facts import FactsError, validate_facts
        from trialtwin.engine.rules import compile_rule
        from trialtwin.protocol import load_protocol
        from trialtwin.protocol.rules import Rule, check_comparison, iter_comparisons
else:
    from pydantic import TypeAdapter, ValidationError

    from trialtwin.engine.eligibility import EligibilityStatus, evaluate_eligibility
    from trialtwin.engine.facts import FactsError, validate_facts
    from trialtwin.engine.rules import compile_rule
    from trialtwin.protocol import load_protocol
    from trialtwin.protocol.rules import Rule, check_comparison, iter_comparisons

PROTOCOL = load_protocol("ever-132-002")
FACTS = PROTOCOL.eligibility.fact_map()
NAMES = sorted(FACTS)
RULE: TypeAdapter[Any] = TypeAdapter(Rule)
WORDS = [
    *NAMES,
    *("all", "any", "not", "fact", "op", "value", "unit"),
    *("<", "<=", "==", "!=", ">=", ">", "in", "=", "__import__", "__class__", "eval", "os.system('id')"),
    *("years", "count", "10^9/L", "g/dL", "xULN", "mL/min", "mg", "female", "male", "true", "2025-01-01"),
]
#: Audit events that no rule or facts document may cause (PEP 578).
FORBIDDEN_EVENTS = ("import", "exec", "compile", "open", "os.system", "subprocess.Popen", "os.exec", "os.spawn")


class Stats:
    executions = 0
    rules_valid = 0
    facts_valid = 0
    armed = False
    escapes: list[str] = []  # noqa: RUF012  (one process-wide list)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if Stats.armed and event.startswith(FORBIDDEN_EVENTS):
        Stats.escapes.append(f"{event} {args!r}"[:200])


# ---- the target ---------------------------------------------------------------------------------------------


def check(rule_doc: Any, facts_doc: Any) -> None:
    """Parse and evaluate; raise AssertionError on a finding. Documented errors are not findings."""
    Stats.executions += 1
    Stats.armed = True
    try:
        try:
            facts = validate_facts(PROTOCOL, facts_doc)
            Stats.facts_valid += 1
        except FactsError:
            facts = {}
        result = evaluate_eligibility(PROTOCOL, facts, validate=False)
        assert result.status in set(EligibilityStatus)
        try:
            rule = RULE.validate_python(rule_doc)
        except ValidationError:
            return
        if any(check_comparison(c, FACTS) is not None for c in iter_comparisons(rule)):
            return  # a protocol with this rule is refused; it is never evaluated
        Stats.rules_valid += 1
        compiled = compile_rule(rule, FACTS)
        assert compiled.evaluate(facts) in (True, False, None)
        assert isinstance(compiled.explain(facts), str)
    finally:
        Stats.armed = False
        if Stats.escapes:
            raise AssertionError(f"sandbox escape: {Stats.escapes[:3]}")


# ---- atheris: documents from the fuzzer's bytes -------------------------------------------------------------


def _build(fdp: Any, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 10 if depth < 5 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 12))
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16))
    if kind == 5:
        return WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    if kind == 6:
        return [_build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 7:
        return {str(_build(fdp, 5)): _build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))}
    if kind == 8:  # a comparison-shaped leaf
        leaf = {
            "fact": NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)] if fdp.ConsumeIntInRange(0, 7) else "x",
            "op": WORDS[fdp.ConsumeIntInRange(len(NAMES) + 7, len(NAMES) + 18)],
            "value": _build(fdp, depth + 1),
        }
        if fdp.ConsumeBool():
            leaf["unit"] = WORDS[fdp.ConsumeIntInRange(len(NAMES) + 19, len(WORDS) - 1)]
        return leaf
    key = ("all", "any", "not")[kind - 8 if kind > 8 else 0]
    if key == "not":
        return {"not": _build(fdp, depth + 1)}
    return {key: [_build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]}


def _facts(fdp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, len(NAMES))):
        name = NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)] if fdp.ConsumeIntInRange(0, 7) else "x"
        out[name] = _build(fdp, 4)
    return out


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    check(_build(fdp), _facts(fdp))


def run_atheris(runs: int | None, seconds: int | None) -> None:
    args = [sys.argv[0], "-print_final_stats=1", "-rss_limit_mb=4096"]
    args.append(f"-runs={runs}" if runs is not None else f"-max_total_time={seconds}")
    started = time.perf_counter()
    target_runs = runs

    def target(data: bytes) -> None:
        one_input(data)
        if target_runs is not None and Stats.executions == target_runs:
            _report("atheris", time.perf_counter() - started)

    atheris.Setup(args, target)
    atheris.Fuzz()  # exits the process; a time-limited run reports through libFuzzer's final stats


def run_hypothesis(runs: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.sampled_from(WORDS)
    )
    docs = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(WORDS), inner, max_size=5)
        ),
        max_leaves=20,
    )
    started = time.perf_counter()

    @settings(max_examples=runs, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(docs, st.dictionaries(st.sampled_from(NAMES), scalars, max_size=len(NAMES)))
    def fuzz(rule_doc: Any, facts_doc: Any) -> None:
        check(rule_doc, facts_doc)

    fuzz()
    _report("hypothesis", time.perf_counter() - started)


def _report(engine: str, seconds: float) -> None:
    n = Stats.executions
    print(
        f"fuzz_rules ({engine}): {n} executions in {seconds:.1f} s = {n / seconds:,.0f} executions/s; "
        f"{Stats.rules_valid} rules valid and evaluated, {Stats.facts_valid} facts documents valid; "
        f"findings: {len(Stats.escapes)} (an unexpected exception stops the run with its traceback)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="executions (default 20000; G13 asks 10^6)")
    parser.add_argument("--seconds", type=int, help="run for this long instead of --runs (G13: 600)")
    parser.add_argument("--engine", choices=("atheris", "hypothesis"), default="atheris" if atheris else "hypothesis")
    args = parser.parse_args()
    for _ in range(50):  # warm up (lazy imports, compiled caches) before the audit hook is armed
        check({"fact": "age", "op": ">=", "value": 18, "unit": "years"}, {"age": 40})
    Stats.executions = Stats.rules_valid = Stats.facts_valid = 0
    sys.addaudithook(_audit)
    if args.engine == "atheris":
        if atheris is None:
            sys.exit("atheris is not installed for this Python; use --engine hypothesis")
        run_atheris(None if args.seconds else args.runs, args.seconds)
    else:
        run_hypothesis(args.runs)


if __name__ == "__main__":
    main()
