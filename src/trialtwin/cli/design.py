"""``trialtwin design``: operating characteristics of a study's design by simulating it many times at once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from scipy import stats

from trialtwin.cli.console import console, err_console, print_json
from trialtwin.cli.dask_cluster import check_dask_address, dask_client
from trialtwin.design import BatchDesign, BatchResult, gsd_bounds, simulate_batch
from trialtwin.design.sample_size import drift_for_events
from trialtwin.design.spending import DesignInputError, SpendingFunction, parse_spending
from trialtwin.protocol import load_protocol
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol
from trialtwin.report._common import figure_bytes
from trialtwin.report.design_plots import plot_boundaries, plot_power_curve


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def characteristics(result: BatchResult, efficacy: np.ndarray, futility: np.ndarray) -> dict[str, Any]:
    """Operating characteristics of one simulated scenario with the design's bounds: per look the probability of
    stopping for efficacy and for (non-binding) futility with both bounds obeyed; the rejection rate with the
    futility bounds obeyed and ignored (the type I error a non-binding futility rule controls); the expected
    events and calendar months at the stopping look (per-replicate values, so each has its Monte-Carlo SE
    sd/√R); the final-look HR distribution."""
    r_count, looks = result.z.shape
    stat = np.nan_to_num(-result.z, nan=-np.inf)
    stop = np.full(r_count, looks - 1)
    decided = np.zeros(r_count, dtype=bool)
    for k in range(looks - 1):
        hit = ~decided & ((stat[:, k] >= efficacy[k]) | (stat[:, k] < futility[k]))
        stop[hit] = k
        decided |= hit
    rows = np.arange(r_count)
    events = result.events[rows, stop].astype(float)
    months = result.analysis_month[rows, stop]
    crossing = result.crossing(list(efficacy), list(futility))
    ignoring = float(result.crossing(list(efficacy))["power_cumulative"].iloc[-1])
    power = float(crossing["power_cumulative"].iloc[-1])
    hr = result.hr[:, -1]
    return {
        "rejection": power,
        "rejection_mc_se": _se(power, r_count),
        "rejection_ignoring_futility": ignoring,
        "rejection_ignoring_futility_mc_se": _se(ignoring, r_count),
        "stop_at_look": [float(x) for x in crossing["p_efficacy"]],
        "stop_at_look_mc_se": [float(x) for x in crossing["p_efficacy_mc_se"]],
        "futility_at_look": [float(x) for x in crossing["p_futility"]],
        "futility_at_look_mc_se": [float(x) for x in crossing["p_futility_mc_se"]],
        "expected_events": float(events.mean()),
        "expected_events_mc_se": float(events.std(ddof=1) / math.sqrt(r_count)),
        "expected_months": float(months.mean()),
        "expected_months_mc_se": float(months.std(ddof=1) / math.sqrt(r_count)),
        "hr_final_quantiles": [float(q) for q in np.nanquantile(hr, [0.025, 0.5, 0.975])],
    }


def _futility_spending(text: str) -> SpendingFunction | None:
    if text.strip().lower() == "none":
        return None
    try:
        return parse_spending(text)
    except DesignInputError as exc:
        raise TrialtwinError(f"--futility {text!r}: {exc} (or 'none')") from None


def _observation(protocol: Protocol, text: str) -> str:
    choice = text.strip().lower()
    if choice == "auto":
        return "scans" if protocol.tumour_assessment is not None else "continuous"
    if choice not in ("continuous", "scans"):
        raise TrialtwinError(f"--observation {text!r}: choose auto, continuous or scans")
    if choice == "scans" and protocol.tumour_assessment is None:
        raise TrialtwinError(f"--observation scans: {protocol.id} has no tumour_assessment calendar")
    return choice


@contextmanager
def _executor(address: str | None, workers: int) -> Iterator[Executor | None]:
    if address is None:
        yield None
        return
    with dask_client(address, workers) as client:
        yield client.get_executor()  # type: ignore[no-untyped-call]


def design_command(
    study: Annotated[str, typer.Argument(help="Built-in study id or protocol file.")] = "ever-132-002",
    hr: Annotated[float, typer.Option("--hr", help="True hazard ratio under the alternative.")] = 0.67,
    control_median: Annotated[float, typer.Option("--control-median", help="Control median PFS, months.")] = 4.2,
    events: Annotated[int, typer.Option("--events", help="PFS events at the final analysis.")] = 232,
    looks: Annotated[int, typer.Option("--looks", min=1, max=10, help="Analyses, equally spaced in events.")] = 2,
    alpha: Annotated[float, typer.Option("--alpha", help="One-sided type I error.")] = 0.025,
    spending: Annotated[str, typer.Option("--spending", help="obf, pocock, hsd:-4, power:3, linear.")] = "obf",
    futility: Annotated[
        str, typer.Option("--futility", help="Non-binding β-spending futility: none, obf, pocock, hsd:-2, …")
    ] = "none",
    power: Annotated[
        float | None,
        typer.Option("--power", help="Power whose β the futility bounds spend (default: the design's own power)."),
    ] = None,
    observation: Annotated[
        str,
        typer.Option(
            "--observation",
            help="auto (scans when the protocol has a tumour-assessment calendar), continuous or scans.",
        ),
    ] = "auto",
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, help="Dropout hazard per month (both arms).")] = 0.0,
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=100, help="Simulated trials.")] = 100_000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes.")] = 2,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", help="Run the chunks on Dask: 'local' (a local cluster of --workers) or tcp://HOST:PORT."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed (per-chunk SeedSequence.spawn).")] = 2024,
    grid: Annotated[str, typer.Option("--grid", help="True HRs for the power curve.")] = "1.0,0.9,0.8,0.7,0.67,0.6",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for power_curve.png and boundaries.png.")] = Path(
        "out/design"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Power, type I error, stopping probabilities (efficacy and futility), expected events and duration (with
    Monte-Carlo errors) of the study's group-sequential design, by simulating it many times at once; writes a
    power curve and a boundary plot.

    Example: [bold]trialtwin design ever-132-002 --replicates 100000 --looks 2 --futility hsd:-2[/]
    """
    protocol = load_protocol(study)
    try:
        grid_hr = [float(x) for x in grid.split(",") if x.strip()]
    except ValueError:
        raise TrialtwinError(f"--grid {grid!r}: give comma-separated hazard ratios like 1.0,0.8,0.67") from None
    if not 0 < alpha < 0.5:
        raise TrialtwinError(f"--alpha {alpha}: must be between 0 and 0.5 (one-sided)")
    if power is not None and not alpha < power < 1:
        raise TrialtwinError(f"--power {power}: must be between --alpha and 1")
    if dask is not None:
        check_dask_address(dask)
    beta_spending = _futility_spending(futility)
    if beta_spending is not None and looks < 2:
        raise TrialtwinError("--futility: needs at least 2 looks (--looks)")
    mode = _observation(protocol, observation)
    look_events = [max(1, round(events * (k + 1) / looks)) for k in range(looks)]
    fractions = np.asarray(look_events, dtype=float) / look_events[-1]
    drift = drift_for_events(hr, events)
    alpha_spending = parse_spending(spending)
    gsd = gsd_bounds(fractions, alpha=alpha, spending=alpha_spending, drift=drift, final_events=float(events))
    if beta_spending is not None:
        target = power if power is not None else float(gsd.h1.total_upper)
        gsd = gsd_bounds(
            fractions,
            alpha=alpha,
            spending=alpha_spending,
            drift=drift,
            final_events=float(events),
            power=target,
            beta_spending=beta_spending,
        )
    bounds = np.asarray(gsd.efficacy, dtype=float)
    fut = np.asarray(gsd.futility, dtype=float)

    def design_for(true_hr: float) -> BatchDesign:
        return BatchDesign.from_protocol(
            protocol,
            hr=true_hr,
            control_median_months=control_median,
            events=look_events,
            dropout_per_month=dropout,
            observation=mode,
        )

    scans = design_for(hr).scans
    curve_n = max(2_000, replicates // 5)
    runs = [("H1", hr, replicates, seed), ("H0", 1.0, replicates, seed + 1)]
    runs += [(f"HR {g:g}", g, curve_n, seed + 2 + i) for i, g in enumerate(grid_hr)]
    results: list[dict[str, Any]] = []
    with (
        _executor(dask, workers) as executor,
        Progress(
            TextColumn("[bold]simulating[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=json_out,
        ) as bar,
    ):
        for label, true_hr, n, run_seed in runs:
            task = bar.add_task(f"{protocol.id} {label} ({mode})", total=n)

            def advance(done: int, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            result = simulate_batch(
                design_for(true_hr),
                n,
                rng=np.random.default_rng(run_seed),
                workers=workers,
                progress=advance,
                executor=executor,
            )
            results.append(characteristics(result, bounds, fut))
    h1, h0, curve = results[0], results[1], results[2:]
    z_alpha = float(stats.norm.ppf(1 - alpha))
    analytic = [float(stats.norm.cdf(drift_for_events(g, events) - z_alpha)) if g < 1 else alpha for g in grid_hr]
    has_futility = beta_spending is not None
    fut_list = [float(f) if math.isfinite(f) else None for f in fut]
    out.mkdir(parents=True, exist_ok=True)
    (out / "power_curve.png").write_bytes(
        figure_bytes(
            plot_power_curve(grid_hr, [c["rejection"] for c in curve], [c["rejection_mc_se"] for c in curve], analytic),
            "png",
        )
    )
    (out / "boundaries.png").write_bytes(
        figure_bytes(
            plot_boundaries(look_events, [float(b) for b in bounds], [float(f) for f in fut] if has_futility else None),
            "png",
        )
    )
    data = {
        "study": protocol.id, "hr": hr, "control_median_months": control_median, "events": look_events,
        "alpha": alpha, "spending": spending, "futility": futility, "replicates": replicates,
        "observation": mode, "dropout_per_month": dropout,
        "scans": scans.label if scans is not None else None,
        "efficacy_bounds_z": [float(b) for b in bounds],
        "futility_bounds_z": fut_list if has_futility else None,
        "futility_beta": 1.0 - gsd.target_power if has_futility else None,
        "nominal_p": [float(stats.norm.sf(b)) for b in bounds],
        "power": h1["rejection"], "power_mc_se": h1["rejection_mc_se"],
        "power_ignoring_futility": h1["rejection_ignoring_futility"],
        "type_one_error": h0["rejection_ignoring_futility"],
        "type_one_error_mc_se": h0["rejection_ignoring_futility_mc_se"],
        "type_one_error_futility_obeyed": h0["rejection"],
        "stop_for_efficacy_at_look": h1["stop_at_look"], "stop_for_efficacy_at_look_mc_se": h1["stop_at_look_mc_se"],
        "stop_for_futility_at_look": h1["futility_at_look"],
        "stop_for_futility_at_look_mc_se": h1["futility_at_look_mc_se"],
        "stop_for_futility_at_look_h0": h0["futility_at_look"],
        "stop_for_futility_at_look_h0_mc_se": h0["futility_at_look_mc_se"],
        "expected_events": h1["expected_events"], "expected_events_mc_se": h1["expected_events_mc_se"],
        "expected_months": h1["expected_months"], "expected_months_mc_se": h1["expected_months_mc_se"],
        "expected_events_h0": h0["expected_events"], "expected_months_h0": h0["expected_months"],
        "hr_final_2.5_50_97.5": h1["hr_final_quantiles"],
        "power_curve": [{"hr": g, "power": c["rejection"], "mc_se": c["rejection_mc_se"], "schoenfeld": a}
                        for g, c, a in zip(grid_hr, curve, analytic, strict=True)],
        "plots": [str(out / "power_curve.png"), str(out / "boundaries.png")],
    }  # fmt: skip
    if json_out:
        print_json(data)
        return
    title = f"{protocol.id}: {looks} look(s) at {look_events} events, {spending} spending, α = {alpha}, {mode}"
    if has_futility:
        title += f", futility {futility} (β = {1.0 - gsd.target_power:.3f}, non-binding)"
    table = Table(title=title)
    columns = ["look", "events", "efficacy z", "nominal p", "P(efficacy | H1)"]
    if has_futility:
        columns += ["futility z", "P(futility | H1)", "P(futility | H0)"]
    for col in columns:
        table.add_column(col, justify="right")
    for k in range(looks):
        row = [
            str(k + 1),
            str(look_events[k]),
            f"{bounds[k]:.3f}",
            f"{data['nominal_p'][k]:.4f}",
            f"{h1['stop_at_look'][k]:.3f} ± {h1['stop_at_look_mc_se'][k]:.3f}",
        ]
        if has_futility:
            row += [
                f"{fut[k]:.3f}" if math.isfinite(fut[k]) else "—",
                f"{h1['futility_at_look'][k]:.3f} ± {h1['futility_at_look_mc_se'][k]:.3f}",
                f"{h0['futility_at_look'][k]:.3f} ± {h0['futility_at_look_mc_se'][k]:.3f}",
            ]
        table.add_row(*row)
    console.print(table)
    console.print(
        f"power at HR {hr}: {h1['rejection']:.4f} ± {h1['rejection_mc_se']:.4f} (MC SE); "
        f"type I error at HR 1: {h0['rejection_ignoring_futility']:.4f} ± "
        f"{h0['rejection_ignoring_futility_mc_se']:.4f} (nominal {alpha}"
        + ("; futility non-binding, so ignored" if has_futility else "")
        + f"); expected events {h1['expected_events']:.1f} ± {h1['expected_events_mc_se']:.1f}, expected duration "
        f"{h1['expected_months']:.1f} ± {h1['expected_months_mc_se']:.2f} months; "
        f"final HR 2.5/50/97.5 %: {', '.join(f'{q:.2f}' for q in h1['hr_final_quantiles'])}"
    )
    console.print(f"plots: {out / 'power_curve.png'}, {out / 'boundaries.png'}")
