"""``trialtwin screen``: check one patient's facts against a protocol's eligibility criteria."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from trialtwin.cli.console import console, print_json
from trialtwin.engine.eligibility import CriterionOutcome, EligibilityResult, EligibilityStatus, evaluate_eligibility
from trialtwin.engine.facts import FactsError, facts_json_schema, validate_facts
from trialtwin.engine.rules import describe_missing
from trialtwin.engine.strata import StrataResult, evaluate_strata
from trialtwin.protocol import Protocol, load_protocol

_TEXT_WIDTH = 60


def read_facts_document(path: str) -> tuple[Any, str]:
    """The parsed JSON of a facts file (``-``: stdin) and the name to use in messages; FactsError if unreadable."""
    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FactsError(source, [("", f"cannot read the file: {reason}")]) from None
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise FactsError(source, [(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}")]) from None


def _abbreviate(text: str, width: int = _TEXT_WIDTH) -> str:
    text = " ".join(text.replace("\\[", "[").split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _verdict_line(result: EligibilityResult, protocol: Protocol) -> str:
    if result.status is EligibilityStatus.ELIGIBLE:
        return "[bold green]ELIGIBLE[/]: every criterion allows enrolment."
    if result.status is EligibilityStatus.NOT_ELIGIBLE:
        failed = ", ".join(c.id for c in result.failed())
        return f"[bold red]NOT ELIGIBLE[/]: excluded by {escape(failed)}."
    unknown = ", ".join(c.id for c in result.unknown())
    line = f"[bold yellow]INCOMPLETE[/]: {escape(unknown)} cannot be decided yet"
    missing = result.missing_facts()
    if missing:
        line += "; give " + escape(describe_missing(missing, protocol.eligibility.fact_map()))
    return line + "."


def _strata_line(strata: StrataResult) -> str:
    parts = [f"{factor}={code}" for factor, code in strata.levels.items()]
    parts += [f"{factor}=? (needs {', '.join(facts) or 'a rule'})" for factor, facts in strata.missing.items()]
    parts += [f"{factor}=? (no level matches)" for factor in strata.unmatched]
    return "Strata: " + (", ".join(parts) if parts else "none declared")


def _print_table(result: EligibilityResult, strata: StrataResult, protocol: Protocol, source: str) -> None:
    ident = protocol.identification
    table = Table(title=f"Screening {escape(source)} against {ident.org_study_id} ({ident.nct_id})", show_lines=True)
    table.add_column("criterion", no_wrap=True)
    table.add_column("kind")
    table.add_column("result", no_wrap=True)
    table.add_column("reason", ratio=3)
    table.add_column("criterion text", ratio=2)
    for c in result.criteria:
        style = "yellow" if c.result is CriterionOutcome.UNKNOWN else "bold red" if c.excludes else "green"
        table.add_row(c.id, c.kind.value, Text(c.result.value, style=style), Text(c.reason), Text(_abbreviate(c.text)))
    console.print(table)
    console.print(_strata_line(strata), highlight=False, markup=False)
    console.print(_verdict_line(result, protocol), highlight=False)


def screen_command(
    facts: Annotated[
        str | None,
        typer.Argument(
            metavar="FACTS.json",
            help="Patient facts: a JSON mapping of fact name to value (numbers in the declared unit); - reads stdin.",
            show_default=False,
        ),
    ] = None,
    study: Annotated[str, typer.Option("--study", "-s", help="Built-in study id or a protocol file.")] = "ever-132-002",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the verdict, every criterion and the strata as JSON.")
    ] = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of the facts file for --study and exit.")
    ] = False,
) -> None:
    """Screen one patient against a protocol's eligibility criteria.

    Each criterion is [bold]met[/], [bold]not_met[/] or [bold]unknown[/] (a fact it needs is missing),
    with a reason, e.g. "Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L".

    Verdict: [bold]not_eligible[/] if an inclusion criterion is not met
    or an exclusion criterion is met; else [bold]incomplete[/] while any
    criterion is unknown; else [bold]eligible[/]. The stratum is shown too.

    Exit code: 0 eligible, 1 not eligible or incomplete, 2 bad input
    (unknown fact, wrong type, undeclared level, value out of range).

    Facts, types, units, levels: [bold]trialtwin screen --schema[/]

    Example: [bold]trialtwin screen docs/examples/screening-eligible.json[/]

    Example: [bold]cat patient.json | trialtwin screen - --json[/]
    """
    protocol = load_protocol(study)
    if schema:
        print_json(facts_json_schema(protocol))
        return
    if facts is None:
        raise FactsError("screen", [("", "give a facts file (FACTS.json, or - for stdin), or --schema")])
    data, source = read_facts_document(facts)
    checked = validate_facts(protocol, data, source=source)
    result = evaluate_eligibility(protocol, checked, validate=False)
    strata = evaluate_strata(protocol, checked, validate=False)
    if json_out:
        print_json({**result.to_dict(), "strata": strata.to_dict()})
    else:
        _print_table(result, strata, protocol, source)
    if not result.eligible:
        raise typer.Exit(code=1)
