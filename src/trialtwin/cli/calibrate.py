"""``trialtwin calibrate``: does the twin reproduce the published trial?

Runs N replicates of the twin; each is derived (ADaM) and summarised exactly as a real trial would be; every
published value of the protocol is set against the distribution of its estimate over the replicates. The
interval is the 2.5th–97.5th percentile of the replicate estimates — where one trial like the published one falls
— and the Monte-Carlo standard error of the mean is shown beside it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.summary import (
    TrialSummary,
    compare_with_published,
    summarize_trial,
    survival_endpoints,
    with_endpoints_from,
)
from trialtwin.cli.console import console, err_console
from trialtwin.cli.simulate import load_scenario
from trialtwin.protocol import load_protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial


def summarize_replicate(study: str, scenario_json: str, seed: np.random.SeedSequence) -> TrialSummary:
    """Simulate, derive and summarise one replicate (top-level so process pools can run it). Overall survival is
    read at the scenario's OS cut when it has one, as the published OS was."""
    protocol = load_protocol(study)
    record = simulate_trial(protocol, Scenario.model_validate_json(scenario_json), rng=np.random.default_rng(seed))
    summary = summarize_trial(derive_all(record.frames, protocol, cutoff=record.cutoff), protocol)
    if record.os_frames is not None and record.os_cutoff is not None:
        at_os = summarize_trial(derive_all(record.os_frames, protocol, cutoff=record.os_cutoff), protocol)
        summary = with_endpoints_from(summary, at_os, survival_endpoints(protocol))
    return summary


def calibrate_command(
    study: Annotated[str, typer.Option("--study", help="Built-in study id or protocol file.")] = "ever-132-002",
    scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario file or built-in name.")] = None,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=2, help="Number of simulated trials.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Master seed (SeedSequence.spawn per replicate).")] = 2024,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes to use.")] = 2,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the table as Markdown to this file.")
    ] = None,
) -> None:
    """Compare every published figure of the study with the twin's distribution over N simulated trials.

    Example: [bold]trialtwin calibrate --replicates 200 --workers 2 --markdown docs/calibration.md[/]
    """
    protocol = load_protocol(study)
    scen = load_scenario(scenario, protocol.id)
    scen.check_against(protocol)
    scenario_json = scen.model_dump_json()
    children = np.random.SeedSequence(seed).spawn(replicates)
    summaries: list[TrialSummary | None] = [None] * replicates
    with Progress(
        TextColumn("[bold]calibrating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task(f"{protocol.id} × {replicates}", total=replicates)
        if workers == 1:
            for i, child in enumerate(children):
                summaries[i] = summarize_replicate(study, scenario_json, child)
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(summarize_replicate, study, scenario_json, c): i for i, c in enumerate(children)}
                for future in as_completed(futures):
                    summaries[futures[future]] = future.result()
                    progress.advance(task)
    table = compare_with_published([s for s in summaries if s is not None], protocol)
    _print(table, protocol.id, replicates, scen.id)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(to_markdown(table, protocol.id, replicates, scen.id, seed), encoding="utf-8")
        err_console.print(f"wrote {markdown}")


def _fmt(x: object) -> str:
    if not isinstance(x, int | float) or math.isnan(x):
        return ""
    return f"{x:.3g}"


def _label(row: Mapping[Hashable, Any]) -> str:
    months = row["months"]
    at = f" at {months:g} months" if isinstance(months, float) and math.isfinite(months) else ""
    return f"{row['endpoint']} {row['statistic']}{at}"


def _print(table: pd.DataFrame, study: str, n: int, scenario: str) -> None:
    out = Table(title=f"{study}: published vs twin ({n} replicates, scenario {scenario})")
    for col in ("figure", "arm", "published", "twin mean ± MC SE", "95 % of trials", "inside"):
        out.add_column(col)
    for r in table.to_dict("records"):
        inside = "[green]yes[/]" if r["inside"] else "[red]no[/]"
        out.add_row(
            _label(r),
            str(r["arm"]),
            _fmt(r["published"]),
            f"{_fmt(r['mean'])} ± {_fmt(r['mc_se'])}",
            f"{_fmt(r['p2_5'])} – {_fmt(r['p97_5'])}",
            inside,
        )
    console.print(out)
    console.print(f"{int(table['inside'].sum())} of {len(table)} published figures inside the twin's 95 % interval")


def to_markdown(table: pd.DataFrame, study: str, n: int, scenario: str, seed: int) -> str:
    lines = [
        "| figure | arm | published | source | twin mean | MC SE | 2.5 % | 97.5 % | inside |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        lines.append(
            f"| {_label(r)} | {r['arm']} | {_fmt(r['published'])} | {r['source']} ({r['status']}) | "
            f"{_fmt(r['mean'])} | {_fmt(r['mc_se'])} | {_fmt(r['p2_5'])} | {_fmt(r['p97_5'])} | "
            f"{'yes' if r['inside'] else '**no**'} |"
        )
    head = (
        f"`trialtwin calibrate --study {study} --replicates {n} --seed {seed}` (scenario `{scenario}`): "
        f"{int(table['inside'].sum())} of {len(table)} published figures inside the 2.5–97.5 % interval of the "
        "replicate estimates.\n\n"
    )
    return head + "\n".join(lines) + "\n"
