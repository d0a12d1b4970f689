"""``trialtwin dose``: the dose decision for one scheduled administration (give / reduce / hold / omit /
discontinue), with BSA and the amount in mg."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from trialtwin.cli.console import console, print_json
from trialtwin.engine.dose_modification import (
    DoseAction,
    DoseDecision,
    ToxicityEvent,
    evaluate_dose,
    events_from_data,
    labs_from_data,
)
from trialtwin.engine.dosing import DoseAmount, compute_bsa, compute_dose
from trialtwin.protocol import Protocol, Regimen, load_protocol
from trialtwin.protocol.errors import TrialtwinError

_STYLE = {
    DoseAction.GIVE: "bold green",
    DoseAction.REDUCE: "bold yellow",
    DoseAction.HOLD: "bold magenta",
    DoseAction.OMIT: "bold magenta",
    DoseAction.DISCONTINUE: "bold red",
}


class DoseInputError(TrialtwinError):
    """Bad input to ``trialtwin dose``: unknown arm or drug, a drug outside the arm, an unreadable file."""


def read_json_file(path: str, what: str) -> tuple[Any, str]:
    """Parsed JSON of ``path`` (``-``: stdin) and the name to use in messages."""
    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DoseInputError(f"{source}: cannot read the {what} file: {reason}") from None
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise DoseInputError(
            f"{source}: not valid JSON ({what}): line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def resolve_regimen(protocol: Protocol, arm_key: str, drug_key: str) -> tuple[str, Regimen]:
    """The arm id and the regimen named by id, drug or label, which must belong to the arm."""
    try:
        arm = protocol.arm(arm_key)
    except KeyError as exc:
        raise DoseInputError(str(exc.args[0])) from None
    try:
        regimen = protocol.regimen(drug_key)
    except KeyError as exc:
        raise DoseInputError(str(exc.args[0])) from None
    if regimen.id not in arm.regimens:
        raise DoseInputError(
            f"regimen {regimen.id!r} ({regimen.drug}) is not given in arm {arm.id!r} "
            f"(its regimens: {', '.join(arm.regimens) or 'none'})"
        )
    return arm.id, regimen


def _amount_data(amount: DoseAmount | None) -> dict[str, Any] | None:
    if amount is None:
        return None
    return {
        "level": amount.level,
        "percent": amount.percent,
        "dose": amount.dose,
        "unit": amount.unit.value,
        "calculated_mg": round(amount.calculated_mg, 4),
        "per_administration_mg": amount.per_administration_mg,
        "times_per_day": amount.times_per_day,
        "per_day_mg": amount.per_day_mg,
        "tablets": [{"strength_mg": s, "count": n} for s, n in amount.tablets],
        "rounding": amount.rounding,
    }


def _mg(amount: DoseAmount) -> str:
    text = f"{amount.per_administration_mg:g} mg per administration"
    if amount.times_per_day > 1:
        text += f" x {amount.times_per_day} a day = {amount.per_day_mg:g} mg per day"
    else:
        text += f" ({amount.per_day_mg:g} mg per day)"
    if amount.tablets:
        text += " [" + " + ".join(f"{n} x {s} mg" for s, n in amount.tablets if n) + "]"
    return text


def _print(
    decision: DoseDecision,
    today: DoseAmount | None,
    resume: DoseAmount | None,
    *,
    study: str,
    arm: str,
    regimen: Regimen,
    bsa: float,
    method: str,
    weight: float,
    height: float,
) -> None:
    table = Table(
        title=f"Dose decision: {escape(study)}, arm {escape(arm)}, C{decision.cycle}D{decision.day}",
        box=box.SIMPLE_HEAD,
        show_header=False,
    )
    table.add_column("item", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("regimen", Text(f"{regimen.id}: {regimen.label}"))
    table.add_row("action", Text(decision.action.value.upper(), style=_STYLE[decision.action]))
    new_level = "—" if decision.level is None else str(decision.level)
    table.add_row("level", Text(f"{decision.previous_level} → {new_level}"))
    table.add_row("patient", Text(f"{weight:g} kg, {height:g} cm, BSA {bsa:.2f} m2 ({method})"))
    if today is not None:
        pct = "" if decision.percent == 100 else f" ({decision.percent:g} % of the level's dose)"
        table.add_row("dose", Text(f"{decision.dose:g} {decision.unit}{pct}"))
        if today.bsa_capped and today.bsa_m2 is not None:
            table.add_row("BSA cap", Text(f"BSA capped at {today.bsa_m2:g} m2 for the dose"))
        table.add_row("amount", Text(_mg(today)))
        table.add_row("rounding", Text(today.rounding))
    else:
        table.add_row("amount", Text("nothing given today"))
        if resume is not None:
            table.add_row("resume at", Text(f"level {resume.level}: {resume.dose:g} {resume.unit} = {_mg(resume)}"))
    for i, finding in enumerate(decision.findings):
        table.add_row("reason" if i == 0 else "", Text(f"[{finding.rule_id}] {finding.reason}"))
    if not decision.findings:
        table.add_row("reason", Text(decision.reason))
    table.add_row("source", Text(decision.source))
    if decision.unchecked:
        table.add_row("not checked", Text(", ".join(decision.unchecked) + " (lab not given)"))
    console.print(table)


def dose_command(
    study: Annotated[str, typer.Argument(metavar="STUDY", help="Built-in study id or a protocol file.")],
    arm: Annotated[str, typer.Option("--arm", help="Arm id or label, e.g. sg or tpc.", show_default=False)],
    drug: Annotated[
        str, typer.Option("--drug", help="Regimen id or drug name, e.g. sg, eribulin.", show_default=False)
    ],
    weight: Annotated[float, typer.Option("--weight", help="Body weight in kg.", show_default=False)],
    height: Annotated[float, typer.Option("--height", help="Height in cm.", show_default=False)],
    cycle: Annotated[int, typer.Option("--cycle", help="Treatment cycle (1 = first).", show_default=False)],
    day: Annotated[int, typer.Option("--day", help="Scheduled dosing day of the cycle.", show_default=False)],
    labs: Annotated[
        str,
        typer.Option(
            "--labs",
            metavar="LABS.json",
            help='Today\'s labs: JSON object, e.g. {"anc": 1.2, "platelets": 150} (10^9/L); - reads stdin.',
            show_default=False,
        ),
    ],
    history: Annotated[
        str | None,
        typer.Option(
            "--history",
            metavar="HIST.json",
            help="Toxicity history: JSON list of events {term, grade, cycle, day, current_grade, flags}.",
            show_default=False,
        ),
    ] = None,
    level: Annotated[int, typer.Option("--level", help="Dose level of the last dose (0, -1, -2).")] = 0,
    delay_days: Annotated[
        int, typer.Option("--delay-days", help="Days this dose is already delayed past its scheduled day.")
    ] = 0,
    consecutive_holds: Annotated[
        int, typer.Option("--consecutive-holds", help="Doses held in a row just before this one.")
    ] = 0,
    bsa_method: Annotated[str, typer.Option("--bsa-method", help="mosteller or dubois.")] = "mosteller",
    bsa_cap: Annotated[
        float | None, typer.Option("--bsa-cap", help="Cap the BSA used for mg/m2 doses (m2), e.g. 2.0.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision and amounts as JSON.")] = False,
) -> None:
    """Decide one dose: [bold]give[/], [bold]reduce[/] (to a lower level), [bold]hold[/], [bold]omit[/] or
    [bold]discontinue[/], by the label's dose-modification rules (Trodelvy US PI Tables 1-2, Halaven,
    capecitabine, gemcitabine, vinorelbine PIs), and the amount in mg (BSA by Mosteller unless --bsa-method).

    Labs are numbers in 10^9/L (anc, platelets, wbc), g/dL (hemoglobin), xULN (bilirubin, ast, alt,
    creatinine), mg/dL (bilirubin_mg_dl), mL/min (creatinine_clearance), or {"value", "unit"} in another unit.
    History events: term (CTCAE), grade (worst), cycle, day (onset), current_grade, and flags febrile,
    infection, prolonged, controlled, transfusion, duration_days, dose_delay_days, dose_omitted.

    Exit code: 0 a decision was made (whatever it is), 2 bad input (unknown arm or drug, drug not in the arm,
    negative weight, malformed JSON, unknown lab).

    Example: [bold]trialtwin dose ever-132-002 --arm sg --drug sg --weight 70 --height 170 --cycle 2 --day 1
    --labs docs/examples/labs-example.json --history docs/examples/history-example.json[/]
    """
    protocol = load_protocol(study)
    arm_id, regimen = resolve_regimen(protocol, arm, drug)
    labs_data, labs_source = read_json_file(labs, "labs")
    today_labs = labs_from_data(labs_data, source=labs_source)
    events: tuple[ToxicityEvent, ...] = ()
    if history is not None:
        history_data, history_source = read_json_file(history, "history")
        events = events_from_data(history_data, source=history_source)
    bsa = compute_bsa(weight, height, method=bsa_method)
    decision = evaluate_dose(
        regimen,
        cycle,
        day,
        today_labs,
        events,
        level,
        delay_days=delay_days,
        consecutive_holds=consecutive_holds,
    )
    today: DoseAmount | None = None
    resume: DoseAmount | None = None
    options: dict[str, Any] = {"method": bsa_method, "bsa_cap": bsa_cap}
    if decision.given and decision.level is not None:
        today = compute_dose(regimen, weight, height, level=decision.level, percent=decision.percent, **options)
    elif decision.level is not None:
        resume = compute_dose(regimen, weight, height, level=decision.level, **options)
    if json_out:
        print_json(
            {
                "study": protocol.id,
                "arm": arm_id,
                "regimen": regimen.id,
                "weight_kg": weight,
                "height_cm": height,
                "bsa_m2": round(bsa, 4),
                "bsa_method": bsa_method,
                "bsa_cap": bsa_cap,
                "decision": decision.to_data(),
                "amount": _amount_data(today),
                "resume_amount": _amount_data(resume),
            }
        )
        return
    _print(
        decision,
        today,
        resume,
        study=protocol.id,
        arm=arm_id,
        regimen=regimen,
        bsa=bsa,
        method=bsa_method,
        weight=weight,
        height=height,
    )
