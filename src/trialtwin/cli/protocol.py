"""``trialtwin protocol …`` and ``trialtwin schedule``."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from trialtwin.cli.console import console, err_console, print_json
from trialtwin.engine.schedule import expand_schedule
from trialtwin.protocol import Protocol, dump_protocol, list_studies, load_protocol, protocol_json_schema
from trialtwin.protocol.ctgov import from_ctgov, to_ctgov
from trialtwin.protocol.errors import ProtocolError, TrialtwinError
from trialtwin.protocol.io import protocol_to_data

app = typer.Typer(
    help=(
        "Read, check and convert protocol files.\n\n"
        "A protocol is the whole trial as data: arms and regimens, eligibility rules, strata, randomization, "
        "endpoints, assessment calendar, sites. Built-in studies: "
        + ", ".join(list_studies())
        + ".\n\nExample: [bold]trialtwin protocol show ever-132-002[/]"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

StudyArg = Annotated[str, typer.Argument(help="Built-in study id (see `trialtwin protocol list`) or a protocol file.")]


@app.command("list")
def list_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the built-in studies."""
    rows = []
    for study in list_studies():
        p = load_protocol(study)
        rows.append(
            {
                "id": p.id,
                "nct_id": p.identification.nct_id,
                "title": p.identification.brief_title,
                "phase": ", ".join(p.status.phases),
                "enrollment": p.enrollment.count,
                "arms": [a.label for a in p.arms],
                "sites": len(p.sites),
            }
        )
    if json_out:
        print_json(rows)
        return
    table = Table(title="Built-in studies")
    for col in ("id", "NCT", "phase", "N", "sites", "title"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["nct_id"]),
            str(r["phase"]),
            str(r["enrollment"]),
            str(r["sites"]),
            str(r["title"]),
        )
    console.print(table)


@app.command("show")
def show_command(
    study: StudyArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print the whole protocol as JSON.")] = False,
) -> None:
    """Show a study: design, arms and regimens, eligibility, strata, schedule, endpoints, sites by country.

    Example: [bold]trialtwin protocol show tropics-02[/]
    """
    p = load_protocol(study)
    if json_out:
        print_json(protocol_to_data(p))
        return
    render_protocol(p)


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="Protocol file (YAML or JSON) to check.")],
) -> None:
    """Check a protocol file; exit 0 when valid, 2 with every problem listed (file and field path) when not.

    Example: [bold]trialtwin protocol validate my-trial.yaml[/]
    """
    if not file.is_file():
        raise ProtocolError(str(file), [("", "no such file")])
    p = load_protocol(str(file))
    n_assume = sum(1 for _ in p.assumptions())
    console.print(
        f"[green]valid[/]: {file} — {p.id} ({p.identification.nct_id}), {len(p.arms)} arms, "
        f"{len(p.regimens)} regimens, {len(p.eligibility.criteria)} criteria, {len(p.sites)} sites, "
        f"{n_assume} values marked as assumptions"
    )


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the protocol file (for editors and validators)."""
    print_json(protocol_json_schema())


@app.command("export-ctgov")
def export_ctgov_command(
    study: StudyArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a study as ClinicalTrials.gov API v2 JSON (computable parts in a `trialtwin` extension block).

    Example: [bold]trialtwin protocol export-ctgov ever-132-002 | trialtwin protocol import-ctgov -[/]
    """
    text = json.dumps(to_ctgov(load_protocol(study)), indent=2, ensure_ascii=False) + "\n"
    _write(text, out)


@app.command("import-ctgov")
def import_ctgov_command(
    file: Annotated[str, typer.Argument(help="ClinicalTrials.gov API v2 study JSON, or - for stdin.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the protocol here, not stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
) -> None:
    """Read a ClinicalTrials.gov API v2 study into a protocol file.

    Criteria text that cannot be turned into rules stays as text and is reported as "not computable" on stderr.
    Example: [bold]trialtwin protocol import-ctgov NCT04639986.json -o ever.yaml[/]
    """
    if fmt not in ("yaml", "json"):
        raise ProtocolError("--format", [("", f"unknown format {fmt!r}: use yaml or json")])
    source = "<stdin>" if file == "-" else file
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProtocolError(source, [("", f"cannot read the file: {exc}")]) from None
    if not text.strip():
        raise ProtocolError(source, [("", "empty input")])
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ProtocolError(source, [(where, f"not valid JSON: {exc.msg}")]) from None
    protocol, report = from_ctgov(document, source)
    for note in report.not_computable:
        err_console.print(f"[yellow]not computable[/]: {note}", highlight=False)
    _write(dump_protocol(protocol, fmt), out)


def schedule_command(
    study: StudyArg,
    arm: Annotated[str, typer.Option("--arm", help="Arm id or label, e.g. sg or 'Sacituzumab Govitecan-hziy'.")],
    start: Annotated[str, typer.Option("--start", help="Randomization / cycle 1 day 1 date, YYYY-MM-DD.")],
    weeks: Annotated[int, typer.Option("--weeks", help="How many weeks to show.")] = 12,
    drug: Annotated[
        str | None, typer.Option("--drug", help="Regimen of a physician's-choice arm (e.g. eribulin).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dosing days and tumour assessments (with windows) of one patient's calendar.

    Example: [bold]trialtwin schedule ever-132-002 --arm sg --start 2021-03-01 --weeks 12[/]
    """
    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        raise TrialtwinError(f"--start {start!r} is not a date like 2021-03-01") from None
    p = load_protocol(study)
    sched = expand_schedule(p, arm, start_date, weeks=weeks, regimen=drug)
    if json_out:
        print_json(
            {
                "study": p.id,
                "arm": sched.arm,
                "regimen": sched.regimen,
                "start": sched.start.isoformat(),
                "weeks": sched.weeks,
                "doses": [
                    {
                        "date": d.date.isoformat(),
                        "day": d.study_day,
                        "cycle": d.cycle,
                        "cycle_day": d.cycle_day,
                        "drug": d.drug,
                        "dose": d.amount,
                        "unit": d.unit,
                        "times_per_day": d.times_per_day,
                    }
                    for d in sched.doses
                ],
                "scans": [
                    {
                        "date": s.date.isoformat(),
                        "day": s.study_day,
                        "week": s.week,
                        "baseline": s.baseline,
                        "window": [s.window_start.isoformat(), s.window_end.isoformat()],
                    }
                    for s in sched.scans
                ],
            }
        )
        return
    table = Table(title=f"{p.id}: arm {sched.arm}, regimen {sched.regimen}, from {sched.start} for {weeks} weeks")
    for col in ("date", "day", "event", "window"):
        table.add_column(col)
    events: list[tuple[dt.date, int, str, str]] = []
    for d in sched.doses:
        bid = " twice daily" if d.times_per_day == 2 else ""
        events.append((d.date, d.study_day, f"C{d.cycle}D{d.cycle_day} {d.drug} {d.amount:g} {d.unit}{bid}", ""))
    for s in sched.scans:
        label = "baseline tumour assessment" if s.baseline else f"week {s.week} tumour assessment (CT/MRI)"
        events.append((s.date, s.study_day, label, f"{s.window_start} … {s.window_end}"))
    for date, day, label, window in sorted(events, key=lambda e: (e[0], "tumour" in e[2])):
        table.add_row(date.isoformat(), str(day), label, window)
    console.print(table)


# ---- rendering -----------------------------------------------------------------------------------------------


def render_protocol(p: Protocol, *, brief: bool = False) -> None:
    """A readable summary of a protocol on the console."""
    ident = p.identification
    head = Table.grid(padding=(0, 2))
    head.add_row("NCT id", ident.nct_id)
    head.add_row("Org study id", ident.org_study_id)
    head.add_row("Title", ident.brief_title)
    head.add_row("Sponsor", p.sponsor.lead_sponsor.name)
    head.add_row(
        "Design",
        f"{', '.join(p.status.phases)}, {p.design.allocation.lower()}, {p.design.intervention_model.lower()}, "
        f"masking {p.design.masking.lower()}",
    )
    head.add_row("Status", f"{p.status.overall_status} (started {p.status.start.date})")
    head.add_row("Enrollment", f"{p.enrollment.count} ({p.enrollment.type.value.lower()})")
    if p.randomization:
        ratio = ":".join(str(v) for v in p.randomization.ratio.values())
        blocks = ", ".join(str(b) for b in p.randomization.block_sizes)
        method = p.randomization.method.replace("_", " ")
        head.add_row("Randomization", f"{ratio}, {method}" + (f", block sizes {blocks}" if blocks else ""))
    console.print(Panel(head, title=f"{p.id}"))

    arms = Table(title="Arms and regimens")
    for col in ("arm", "regimen", "dose", "route", "days", "cycle", "reductions"):
        arms.add_column(col)
    for arm in p.arms:
        regs = p.arm_regimens(arm)
        choice = " (one of)" if arm.regimen_choice == "one_of" else ""
        for i, reg in enumerate(regs):
            dose = f"{reg.dose.amount:g} {reg.dose.unit}"
            if reg.dose.times_per_day == 2:
                dose += " twice daily"
            if reg.dose.range:
                dose += f" (range {reg.dose.range.min:g}–{reg.dose.range.max:g})"
            steps = " → ".join(
                f"{lv.amount:g}" if lv.amount is not None else f"{lv.percent:g}%" for lv in reg.dose_levels
            )
            arms.add_row(
                f"{arm.label}{choice}" if i == 0 else "",
                reg.drug,
                dose,
                reg.route.value,
                ",".join(str(d) for d in reg.dosing_days)
                if len(reg.dosing_days) < 8
                else f"{reg.dosing_days[0]}–{reg.dosing_days[-1]}",
                f"{reg.cycle_length_days} d",
                steps + (" → stop" if steps else ""),
            )
    console.print(arms)
    if brief:
        return

    crit = Table(title="Eligibility")
    for col in ("id", "kind", "computable", "text"):
        crit.add_column(col)
    for c in p.eligibility.all_criteria():
        flag = "yes" + (" (assumed thresholds)" if c.assumption else "") if c.rule is not None else "[red]no[/]"
        crit.add_row(c.id, c.kind.value, flag, c.text)
    console.print(crit)

    if p.stratification:
        strata = Table(title="Stratification")
        strata.add_column("factor")
        strata.add_column("levels")
        for f in p.stratification:
            strata.add_row(f.name, " | ".join(f"{lv.code}: {lv.label}" for lv in f.levels))
        console.print(strata)

    if p.tumour_assessment:
        ta = p.tumour_assessment
        phases = "; then ".join(
            f"every {ph.every_weeks} weeks ±{ph.window_days} d" + (f" to week {ph.until_week}" if ph.until_week else "")
            for ph in ta.phases
        )
        console.print(
            f"[bold]Tumour assessments[/] ({'/'.join(ta.modality)}): baseline within {ta.baseline_window_days} days "
            f"before randomization, {phases}, until {ta.continue_until.replace('_', ' ')}."
        )

    ends = Table(title="Endpoints")
    for col in ("id", "kind", "type", "title"):
        ends.add_column(col)
    for e in p.endpoints:
        ends.add_row(e.id, e.kind.value, e.type.value, e.title)
    console.print(ends)

    if p.sites:
        by_country = Counter(s.country for s in p.sites)
        sites = Table(title=f"Sites ({len(p.sites)})")
        sites.add_column("country")
        sites.add_column("n", justify="right")
        sites.add_column("cities")
        for country, n in by_country.most_common():
            cities = sorted({s.city for s in p.sites if s.country == country})
            sites.add_row(country, str(n), ", ".join(cities))
        console.print(sites)
    elif p.countries:
        console.print(f"[bold]Countries[/]: {', '.join(p.countries)} (site list not public)")

    assumptions = list(p.assumptions())
    if assumptions:
        console.print(f"[bold]Modelling assumptions[/] ({len(assumptions)}): values the public record does not give")
        for where, reason in assumptions:
            console.print(f"  • {where}: {reason}", highlight=False)


def _write(text: str, out: Path | None) -> None:
    """Write to stdout, or atomically to ``out`` (nothing is left half-written)."""
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    err_console.print(f"wrote {out}")
