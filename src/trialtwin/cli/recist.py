"""``trialtwin recist``: RECIST 1.1 time-point and best overall response from lesion measurements."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from trialtwin.cli.console import console, print_json
from trialtwin.engine.recist import (
    RecistInputError,
    RecistResult,
    RecistRules,
    ResponseCategory,
    assess_recist,
    parse_record,
    result_to_data,
)
from trialtwin.protocol import load_protocol

_STYLE = {
    ResponseCategory.CR: "bold green",
    ResponseCategory.PR: "green",
    ResponseCategory.SD: "yellow",
    ResponseCategory.NON_CR_NON_PD: "yellow",
    ResponseCategory.PD: "bold red",
    ResponseCategory.NE: "dim",
}


def read_record_text(path: str) -> tuple[str, str]:
    """The text of a record file (``-``: stdin) and the name to use in messages."""
    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RecistInputError(source, [("(file)", f"cannot read the file: {reason}")]) from None
    return text, source


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _category(value: ResponseCategory | None) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(value.value, style=_STYLE[value])


def _print_table(result: RecistResult, source: str, rules: RecistRules, randomized: str, study: str) -> None:
    table = Table(
        title=f"RECIST 1.1 responses: {source}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    table.add_column("date", no_wrap=True)
    for name in ("sum mm", "vs base", "vs nadir"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("target", "non-target", "new", "overall"):
        table.add_column(name, no_wrap=True)
    table.add_row(
        result.baseline_date.isoformat(),
        _number(result.baseline_sum_mm, ".1f"),
        "",
        "",
        "",
        "",
        "",
        Text("(base)", style="dim"),
    )
    for tp in result.timepoints:
        table.add_row(
            tp.date.isoformat(),
            _number(tp.sum_mm, ".1f"),
            _number(tp.pct_from_baseline, "+.1f") + ("%" if tp.pct_from_baseline is not None else ""),
            _number(tp.pct_from_nadir, "+.1f") + ("%" if tp.pct_from_nadir is not None else ""),
            _category(tp.target),
            _category(tp.non_target),
            Text("yes", style="bold red") if tp.new_lesions else Text("no"),
            _category(tp.overall),
        )
    console.print(table)
    best = result.best
    line = Text("Best overall response: ")
    line.append(best.response.value, style=_STYLE[best.response])
    if best.confirmation_date is not None and best.response_date is not None:
        line.append(f" (first {best.response_date.isoformat()}, confirmed {best.confirmation_date.isoformat()})")
    elif best.response_date is not None:
        line.append(f" (from {best.response_date.isoformat()})")
    console.print(line)
    console.print(
        f"Progression date: {best.progression_date.isoformat() if best.progression_date else 'none'}; "
        f"best change in sum of diameters: "
        f"{_number(best.best_pct_change, '+.1f')}{'%' if best.best_pct_change is not None else ''}",
        markup=False,
    )
    confirmation = (
        f"CR/PR confirmed >= {rules.confirmation_min_days} d later"
        if rules.confirmation_required
        else "no confirmation required"
    )
    console.print(
        f"Rules ({study}): {confirmation}; SD >= {rules.sd_min_days} d after randomization {randomized}.",
        markup=False,
        style="dim",
    )


def recist_command(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE.json",
            help="A patient's tumour assessments as JSON (first assessment = baseline); - reads stdin.",
            show_default=False,
        ),
    ],
    study: Annotated[
        str,
        typer.Option("--study", "-s", help="Built-in study id or protocol file whose response_rules apply."),
    ] = "ever-132-002",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print time points and best overall response as JSON.")
    ] = False,
) -> None:
    """Assess tumour response per RECIST 1.1 from lesion measurements.

    For each follow-up scan: the sum of diameters, its change from baseline
    and from the nadir, and the target, non-target and overall response
    (Eisenhauer 2009 Tables 1 and 2). Then the best overall response
    (CR/PR confirmed by a later scan, SD only from a minimum time after
    randomization: the study's [bold]response_rules[/]), the progression date
    and the best percent change of the sum (the waterfall-plot value).

    Nodes count by short axis; "too small to measure" counts 5 mm,
    a disappeared lesion 0 mm.

    Input: the first assessment is the baseline; every baseline lesion
    appears in every assessment (diameter_mm null = not measured;
    non-target status present, absent, unequivocal_progression or
    not_evaluated):

      {"randomized": "2021-03-01",
       "assessments": [{"date": "2021-02-22",
         "target": [{"id": "T1", "organ": "liver", "nodal": false,
                     "diameter_mm": 32, "too_small": false}],
         "non_target": [{"id": "NT1", "organ": "bone", "nodal": false,
                         "status": "present"}],
         "new_lesions": false}, ...]}

    Exit code 0 when assessed; 2 on bad input (malformed JSON, missing
    field, negative size, dates out of order or repeated, a baseline
    lesion missing later, an unknown lesion id, targets beyond the
    RECIST 1.1 selection limits), with a message naming the field.

    Examples:

      trialtwin recist docs/examples/recist-example.json

      cat patient.json | trialtwin recist - --study ever-132-002 --json
    """
    rules = RecistRules.from_protocol(load_protocol(study).response_rules)
    text, source = read_record_text(file)
    record = parse_record(text, source=source)
    result = assess_recist(record, rules=rules, check=False)  # parse_record has checked it
    if json_out:
        print_json(
            {
                "source": source,
                "randomized": record.randomized.isoformat(),
                "rules": {
                    "confirmation_required": rules.confirmation_required,
                    "confirmation_min_days": rules.confirmation_min_days,
                    "sd_min_days": rules.sd_min_days,
                    "max_ne_between": rules.max_ne_between,
                },
                **result_to_data(result),
            }
        )
    else:
        _print_table(result, source, rules, record.randomized.isoformat(), study)
