"""``trialtwin design``: operating characteristics of a study's design by simulating it many times at once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table
from scipy import stats

from trialtwin.cli.console import console, err_console, print_json
from trialtwin.design import BatchDesign, gsd_bounds, simulate_batch
from trialtwin.design.sample_size import drift_for_events
from trialtwin.design.spending import parse_spending
from trialtwin.protocol import load_protocol
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.report._common import figure_bytes
from trialtwin.report.design_plots import plot_boundaries, plot_power_curve


def _characteristics(
    design: BatchDesign, replicates: int, seed: int, workers: int, bounds: np.ndarray
) -> dict[str, Any]:
    result = simulate_batch(design, replicates, rng=np.random.default_rng(seed), workers=workers)
    crossing = result.crossing(list(bounds))
    stop = crossing["p_efficacy"].to_numpy()
    events = crossing["events"].to_numpy()
    months = result.summary["analysis_month"].to_numpy()
    p_continue = 1.0 - stop[:-1].sum()
    expected_events = float((stop[:-1] * events[:-1]).sum() + p_continue * events[-1])
    expected_months = float((stop[:-1] * months[:-1]).sum() + p_continue * months[-1])
    power = float(crossing["power_cumulative"].iloc[-1])
    hr = result.hr[:, -1]
    return {
        "rejection": power,
        "rejection_mc_se": math.sqrt(power * (1 - power) / replicates),
        "stop_at_look": [float(s) for s in stop],
        "expected_events": expected_events,
        "expected_months": expected_months,
        "hr_final_quantiles": [float(q) for q in np.nanquantile(hr, [0.025, 0.5, 0.975])],
    }


def design_command(
    study: Annotated[str, typer.Argument(help="Built-in study id or protocol file.")] = "ever-132-002",
    hr: Annotated[float, typer.Option("--hr", help="True hazard ratio under the alternative.")] = 0.67,
    control_median: Annotated[float, typer.Option("--control-median", help="Control median PFS, months.")] = 4.2,
    events: Annotated[int, typer.Option("--events", help="PFS events at the final analysis.")] = 232,
    looks: Annotated[int, typer.Option("--looks", min=1, max=10, help="Analyses, equally spaced in events.")] = 2,
    alpha: Annotated[float, typer.Option("--alpha", help="One-sided type I error.")] = 0.025,
    spending: Annotated[str, typer.Option("--spending", help="obf, pocock, hsd:-4, power:3, linear.")] = "obf",
    replicates: Annotated[int, typer.Option("--replicates", "-n", min=100, help="Simulated trials.")] = 100_000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Seed (per-chunk SeedSequence.spawn).")] = 2024,
    grid: Annotated[str, typer.Option("--grid", help="True HRs for the power curve.")] = "1.0,0.9,0.8,0.7,0.67,0.6",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for power_curve.png and boundaries.png.")] = Path(
        "out/design"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Power, type I error, stopping probabilities, expected events and duration (with Monte-Carlo errors) of the
    study's group-sequential design, by simulating it many times at once; writes a power curve and a boundary plot.

    Example: [bold]trialtwin design ever-132-002 --replicates 100000 --looks 2[/]
    """
    protocol = load_protocol(study)
    try:
        grid_hr = [float(x) for x in grid.split(",") if x.strip()]
    except ValueError:
        raise TrialtwinError(f"--grid {grid!r}: give comma-separated hazard ratios like 1.0,0.8,0.67") from None
    if not 0 < alpha < 0.5:
        raise TrialtwinError(f"--alpha {alpha}: must be between 0 and 0.5 (one-sided)")
    look_events = [max(1, round(events * (k + 1) / looks)) for k in range(looks)]
    fractions = np.asarray(look_events, dtype=float) / look_events[-1]
    gsd = gsd_bounds(
        fractions,
        alpha=alpha,
        spending=parse_spending(spending),
        drift=drift_for_events(hr, events),
        final_events=float(events),
    )
    bounds = np.asarray(gsd.efficacy, dtype=float)

    def design_for(true_hr: float) -> BatchDesign:
        return BatchDesign.from_protocol(protocol, hr=true_hr, control_median_months=control_median, events=look_events)

    err_console.print(f"simulating {replicates:,} trials under H1 (HR {hr}) and H0 (HR 1) ...")
    h1 = _characteristics(design_for(hr), replicates, seed, workers, bounds)
    h0 = _characteristics(design_for(1.0), replicates, seed + 1, workers, bounds)
    curve_n = max(2_000, replicates // 5)
    curve = [_characteristics(design_for(g), curve_n, seed + 2 + i, workers, bounds) for i, g in enumerate(grid_hr)]
    z_alpha = float(stats.norm.ppf(1 - alpha))
    analytic = [float(stats.norm.cdf(drift_for_events(g, events) - z_alpha)) if g < 1 else alpha for g in grid_hr]
    out.mkdir(parents=True, exist_ok=True)
    (out / "power_curve.png").write_bytes(
        figure_bytes(
            plot_power_curve(grid_hr, [c["rejection"] for c in curve], [c["rejection_mc_se"] for c in curve], analytic),
            "png",
        )
    )
    (out / "boundaries.png").write_bytes(
        figure_bytes(plot_boundaries(look_events, [float(b) for b in bounds], [float(f) for f in gsd.futility]), "png")
    )
    data = {
        "study": protocol.id, "hr": hr, "control_median_months": control_median, "events": look_events,
        "alpha": alpha, "spending": spending, "replicates": replicates,
        "efficacy_bounds_z": [float(b) for b in bounds],
        "nominal_p": [float(stats.norm.sf(b)) for b in bounds],
        "power": h1["rejection"], "power_mc_se": h1["rejection_mc_se"],
        "type_one_error": h0["rejection"], "type_one_error_mc_se": h0["rejection_mc_se"],
        "stop_for_efficacy_at_look": h1["stop_at_look"], "expected_events": h1["expected_events"],
        "expected_months": h1["expected_months"], "hr_final_2.5_50_97.5": h1["hr_final_quantiles"],
        "power_curve": [{"hr": g, "power": c["rejection"], "mc_se": c["rejection_mc_se"], "schoenfeld": a}
                        for g, c, a in zip(grid_hr, curve, analytic, strict=True)],
        "plots": [str(out / "power_curve.png"), str(out / "boundaries.png")],
    }  # fmt: skip
    if json_out:
        print_json(data)
        return
    table = Table(title=f"{protocol.id}: {looks} look(s) at {look_events} events, {spending} spending, α = {alpha}")
    for col in ("look", "events", "efficacy z", "nominal p", "P(stop, H1)"):
        table.add_column(col, justify="right")
    for k in range(looks):
        table.add_row(str(k + 1), str(look_events[k]), f"{bounds[k]:.3f}", f"{data['nominal_p'][k]:.4f}",
                      f"{h1['stop_at_look'][k]:.3f}")  # fmt: skip
    console.print(table)
    console.print(
        f"power at HR {hr}: {h1['rejection']:.4f} ± {h1['rejection_mc_se']:.4f} (MC SE); "
        f"type I error at HR 1: {h0['rejection']:.4f} ± {h0['rejection_mc_se']:.4f} (nominal {alpha}); "
        f"expected events {h1['expected_events']:.1f}, expected duration {h1['expected_months']:.1f} months; "
        f"final HR 2.5/50/97.5 %: {', '.join(f'{q:.2f}' for q in h1['hr_final_quantiles'])}"
    )
    console.print(f"plots: {out / 'power_curve.png'}, {out / 'boundaries.png'}")
