"""``trialtwin run``: the main job — simulate one trial with the twin, derive, analyse and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.summary import Estimate, summarize_trial
from trialtwin.cli.console import console, err_console
from trialtwin.cli.frames_io import save_frames
from trialtwin.cli.report import analyze_record
from trialtwin.cli.simulate import load_scenario
from trialtwin.protocol import load_protocol
from trialtwin.sim.trial import simulate_trial


def run_command(
    study: Annotated[str, typer.Argument(help="Built-in study id or protocol file.")] = "ever-132-002",
    seed: Annotated[
        int, typer.Option("--seed", help="Seed; the same as `trialtwin simulate --seed S` replicate 1.")
    ] = 2024,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (frames/ and analysis/).")] = Path("out/run"),
    scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario file or built-in name.")] = None,
) -> None:
    """The main job: simulate the trial patient by patient with its digital twin, derive the ADaM datasets,
    analyse them and write the HTML report; ends with the headline results.

    Example: [bold]trialtwin run ever-132-002 --seed 7 --out out/run[/]
    """
    protocol = load_protocol(study)
    scen = load_scenario(scenario, protocol.id)
    scen.check_against(protocol)
    (child,) = np.random.SeedSequence(seed).spawn(1)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task(f"{protocol.id}: screening and randomizing", total=protocol.enrollment.count)
        record = simulate_trial(
            protocol, scen, rng=np.random.default_rng(child), progress=lambda n, _t: progress.update(task, completed=n)
        )
    frames_dir, analysis_dir = out / "frames", out / "analysis"
    meta = {**record.meta, "seed_entropy": str(child.entropy), "spawn_key": list(child.spawn_key)}
    save_frames(record.frames, frames_dir, meta)
    err_console.print(f"simulated {record.meta['randomized']} subjects; data cut-off {record.cutoff} → {frames_dir}")
    analyze_record(frames_dir, analysis_dir, study, None, False, datasets=True)
    summary = summarize_trial(derive_all(record.frames, protocol, cutoff=record.cutoff), protocol)
    trt, ctl = summary.treatment, summary.control
    lines = []
    for endpoint in ("PFS-BICR", "OS"):
        hr = summary.get(endpoint, "hazard_ratio")
        meds = [summary.get(endpoint, "median", arm) for arm in (trt, ctl)]
        if hr is not None:
            lines.append(f"{endpoint}: HR {_ci(hr)}; median {_num(meds[0])} vs {_num(meds[1])} months ({trt} vs {ctl})")
    orr = [summary.get("ORR-BICR", "proportion", arm) for arm in (trt, ctl)]
    if all(orr):
        lines.append(f"ORR-BICR: {_num(orr[0])} % vs {_num(orr[1])} %")
    console.print("\n".join(["[bold]Headline results[/] (stratified Cox, Efron ties; 95 % CI)", *lines]))
    console.print(f"Report: [bold]{analysis_dir / 'report.html'}[/]")


def _num(e: Estimate | None) -> str:
    return "NR" if e is None or not np.isfinite(e.value) else f"{e.value:.1f}"


def _ci(e: Estimate) -> str:
    if e.lower is None or e.upper is None:
        return f"{e.value:.2f}"
    return f"{e.value:.2f} ({e.lower:.2f}–{e.upper:.2f})"
