"""``trialtwin simulate``: run the digital twin and write complete, reproducible trial records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trialtwin.cli.console import console, err_console, print_json
from trialtwin.cli.dask_cluster import dask_client
from trialtwin.cli.frames_io import save_frames
from trialtwin.protocol import load_protocol
from trialtwin.protocol.io import parse_document
from trialtwin.sim.scenario import Scenario, ScenarioError, describe_parameters
from trialtwin.sim.trial import simulate_trial

_SCENARIOS = "trialtwin.sim.scenarios"


def builtin_scenarios() -> list[str]:
    folder = resources.files(_SCENARIOS)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(source: str | None, study: str) -> Scenario:
    """A scenario file, a built-in scenario by name, or the study's built-in default."""
    name = source or study
    if name in builtin_scenarios():
        text = resources.files(_SCENARIOS).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        label = f"scenario {name}"
    else:
        path = Path(name)
        if source is None:
            raise ScenarioError(f"no built-in scenario for study {study!r}: pass --scenario FILE")
        if not path.is_file():
            raise ScenarioError(f"{name}: no such scenario file (built-in: {', '.join(builtin_scenarios())})")
        text = path.read_text(encoding="utf-8")
        label = str(path)
    data = parse_document(text, label)
    if not isinstance(data, dict):
        raise ScenarioError(f"{label}: a scenario file must be a mapping of parameters")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_url=False)
        ]
        raise ScenarioError(f"{label}: invalid scenario\n" + "\n".join(lines)) from None


def run_replicate(study: str, scenario_json: str, seed: np.random.SeedSequence, out: str | None) -> dict[str, Any]:
    """One replicate in its own stream; writes its record when ``out`` is given. Top-level for process pools."""
    protocol = load_protocol(study)
    scenario = Scenario.model_validate_json(scenario_json)
    record = simulate_trial(protocol, scenario, rng=np.random.default_rng(seed))
    meta = {**record.meta, "seed_entropy": str(seed.entropy), "spawn_key": list(seed.spawn_key)}
    if out is not None:
        save_frames(record.frames, Path(out), meta)
    return meta


def simulate_command(
    study: Annotated[str, typer.Option("--study", help="Built-in study id or protocol file.")] = "ever-132-002",
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario file or built-in name (default: the study's).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Master seed; replicate i uses SeedSequence(seed).spawn(n)[i] (default 2024). With --via: the twin's "
            "and the IRT's seed, as given to trialtwin journey --setup-only (default 1).",
            show_default=False,
        ),
    ] = None,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=1, help="Number of trials to simulate.")] = 1,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes to use.")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (one sub-folder per replicate).")] = Path(
        "out/simulate"
    ),
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", help="Run on Dask distributed: 'local' (a local cluster of --workers) or tcp://HOST:PORT."
        ),
    ] = None,
    via: Annotated[
        str | None,
        typer.Option(
            "--via",
            help="Push the twin's patients through a live server at this URL instead (trialtwin serve "
            "--virtual-clock on a database set up by trialtwin journey --setup-only).",
            show_default=False,
        ),
    ] = None,
    patients: Annotated[
        int, typer.Option("--n", "--patients", min=1, max=2000, help="With --via: randomized patients to replay.")
    ] = 50,
    user: Annotated[
        str, typer.Option("--user", envvar="TRIALTWIN_USER", help="With --via: the replay user.")
    ] = "replay-investigator",
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="TRIALTWIN_PASSWORD",
            help="With --via: the replay user's password.",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="With --via: write the replay's report (JSON) here.", show_default=False),
    ] = None,
) -> None:
    """Simulate the trial patient by patient through its own rules and write the analysis frames.

    Each replicate folder holds every frame as Parquet and CSV plus meta.json. The same seed gives byte-identical
    files whatever --workers is.

    Example: [bold]trialtwin simulate --seed 7 --replicates 4 --workers 2 --out out/sim[/]

    With [bold]--via URL[/] the twin's first --n randomized patients are pushed through the live JSON API instead
    (nothing is written but --report): [bold]trialtwin simulate --via http://127.0.0.1:8000 --n 50[/]
    """
    protocol = load_protocol(study)
    scen = load_scenario(scenario, protocol.id)
    scen.check_against(protocol)
    if via is not None:
        from trialtwin.cli.journey import simulate_via

        simulate_via(
            via,
            protocol,
            scen,
            seed=1 if seed is None else seed,
            n=patients,
            user=user,
            password=password,
            report_path=report,
        )
        return
    seed = 2024 if seed is None else seed
    children = np.random.SeedSequence(seed).spawn(replicates)
    scenario_json = scen.model_dump_json()
    folders = [out / f"rep-{i + 1:04d}" for i in range(replicates)]
    metas: list[dict[str, Any]] = [{} for _ in range(replicates)]
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"{protocol.id} × {replicates}", total=replicates)
        if dask is not None:
            for i, meta in _run_on_dask(dask, workers, study, scenario_json, children, folders):
                metas[i] = meta
                progress.advance(task)
        elif workers == 1:
            for i, child in enumerate(children):
                metas[i] = run_replicate(study, scenario_json, child, str(folders[i]))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(run_replicate, study, scenario_json, child, str(folders[i])): i
                    for i, child in enumerate(children)
                }
                for future in as_completed(futures):
                    metas[futures[future]] = future.result()
                    progress.advance(task)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(
        json.dumps(
            {"study": protocol.id, "scenario": scen.id, "seed": seed, "replicates": replicates, "runs": metas},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    table = Table(title=f"{protocol.id}: {replicates} simulated trial(s) in {out}")
    for col in ("replicate", "screened", "randomized", "cut-off"):
        table.add_column(col)
    for i, meta in enumerate(metas[:10]):
        table.add_row(folders[i].name, str(meta["screened"]), str(meta["randomized"]), str(meta["cutoff"]))
    console.print(table)


def _run_on_dask(
    address: str,
    workers: int,
    study: str,
    scenario_json: str,
    children: list[np.random.SeedSequence],
    folders: list[Path],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Replicates on Dask distributed; each keeps its own SeedSequence child, so results equal a local run."""
    from distributed import as_completed as dask_completed

    with dask_client(address, workers) as client:
        futures = [
            client.submit(run_replicate, study, scenario_json, child, str(folders[i]), key=f"replicate-{i}", pure=False)
            for i, child in enumerate(children)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        for future in dask_completed(futures):
            yield index[future.key], future.result()


scenario_app = typer.Typer(
    help="Inspect twin scenarios: every parameter with its unit and source.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@scenario_app.command("list")
def scenario_list_command() -> None:
    """List the built-in scenarios and the study each one is written for."""
    table = Table(title="Built-in scenarios")
    for col in ("name", "study", "id"):
        table.add_column(col)
    for name in builtin_scenarios():
        scen = load_scenario(name, name)
        table.add_row(name, scen.study, scen.id)
    console.print(table)


@scenario_app.command("show")
def scenario_show_command(
    name: Annotated[str, typer.Argument(help="Built-in scenario name or scenario file.")] = "ever-132-002",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every scenario parameter with its value, unit and where it came from."""
    scen = load_scenario(name, name)
    rows = [{"parameter": p, "value": v, "unit": u, "note": n} for p, v, u, n in describe_parameters(scen)]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"scenario {scen.id} for {scen.study}")
    for col in ("parameter", "value", "unit", "source / note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        value = r["value"].isoformat() if isinstance(r["value"], dt.date) else str(r["value"])
        table.add_row(r["parameter"], value, r["unit"], r["note"])
    console.print(table)
