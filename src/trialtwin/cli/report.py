"""``trialtwin analyze`` and ``trialtwin report``: a trial record (analysis frames) → ADaM datasets and the report.

Both read a record folder (as written by ``trialtwin simulate`` or the service's export), derive the ADaM datasets
at the data cut-off and render the report; ``analyze`` also writes the datasets. The cut-off is ``--cutoff``, else
``meta.json``'s ``cutoff``, else the latest date in the frames; the study is ``--study``, else ``meta.json``'s
``study``. Output is written to a temporary sibling folder and moved into place at the end, so a failed run
leaves the previous output untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.table import Table

from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.frames import SCHEMAS
from trialtwin.cli.console import console, print_json
from trialtwin.cli.frames_io import load_frames
from trialtwin.protocol import load_protocol
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol
from trialtwin.report import render_report, table_key_results

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
DATASETS = ("ADSL", "ADTTE", "ADRS", "ADAE")


class ReportInputError(TrialtwinError):
    """The record folder, its meta.json or the output folder cannot be used; the message names the path."""


# ---- inputs ----------------------------------------------------------------------------------------------------


def read_meta(folder: Path) -> dict[str, Any]:
    """``meta.json`` of a record folder as a dict (empty when the file is absent)."""
    path = folder / "meta.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object")
    return data


def _parse_date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise ReportInputError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None


def latest_date(frames: Mapping[str, pd.DataFrame]) -> dt.date:
    """The latest date found in any date column of the frames (the cut-off when none is given)."""
    latest: pd.Timestamp | None = None
    for name, schema in SCHEMAS.items():
        frame = frames.get(name)
        if frame is None or frame.empty:
            continue
        for column in schema.columns:
            if column.kind == "date" and column.name in frame.columns:
                value = frame[column.name].max()
                if pd.notna(value) and (latest is None or value > latest):
                    latest = value
    if latest is None:
        raise ReportInputError("the record has no dates: pass --cutoff YYYY-MM-DD")
    return pd.Timestamp(latest).date()


def resolve_cutoff(option: str | None, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame]) -> dt.date:
    """``--cutoff``, else meta.json ``cutoff``, else the latest date in the frames."""
    if option:
        return _parse_date(option, "--cutoff")
    if meta.get("cutoff"):
        return _parse_date(str(meta["cutoff"]), "meta.json cutoff")
    return latest_date(frames)


def resolve_protocol(option: str | None, meta: Mapping[str, Any], folder: Path) -> Protocol:
    """``--study`` (built-in id or protocol file), else meta.json ``study``."""
    study = option or meta.get("study")
    if not study:
        raise ReportInputError(f"{folder}: meta.json names no study; pass --study (e.g. --study ever-132-002)")
    return load_protocol(str(study))


def describe_source(folder: Path, meta: Mapping[str, Any]) -> str:
    """One line saying where the data come from, for the report's title block."""
    if meta.get("scenario"):
        seed = meta.get("seed_entropy", meta.get("seed", "?"))
        return f"trialtwin simulate (digital twin): scenario {meta['scenario']}, seed {seed}, record {folder.name}"
    return f"analysis frames in {folder}"


# ---- outputs ---------------------------------------------------------------------------------------------------


def _check_out(folder: Path, out: Path) -> None:
    record, target = folder.resolve(), out.resolve()
    if target == record or target in record.parents:
        raise ReportInputError(f"--out {out}: must not be the record folder or one of its parents")
    if target.exists():
        if not target.is_dir():
            raise ReportInputError(f"--out {out}: exists and is not a folder")
        if any(target.iterdir()) and not (target / REPORT_FILE).is_file():
            raise ReportInputError(
                f"--out {out}: folder is not empty and holds no {REPORT_FILE}; refusing to replace it "
                "(choose an empty or new folder)"
            )


def _write_report(tmp: Path, html: str, figures: Mapping[str, bytes]) -> None:
    (tmp / REPORT_FILE).write_text(html, encoding="utf-8")
    (tmp / FIGURES_DIR).mkdir()
    for name, data in sorted(figures.items()):
        (tmp / FIGURES_DIR / name).write_bytes(data)


def _write_datasets(tmp: Path, adam: Mapping[str, pd.DataFrame]) -> None:
    for name in DATASETS:
        frame = adam[name]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, tmp / f"{name.lower()}.parquet", compression="zstd", write_statistics=False)
        csv = frame.copy()
        for column in csv.columns:
            if pd.api.types.is_datetime64_any_dtype(csv[column]):
                csv[column] = csv[column].dt.strftime("%Y-%m-%d")
        csv.to_csv(tmp / f"{name.lower()}.csv", index=False, lineterminator="\n")


def save_analysis(
    out: Path, html: str, figures: Mapping[str, bytes], adam: Mapping[str, pd.DataFrame] | None
) -> list[Path]:
    """Write the report (and the ADaM datasets when ``adam`` is given) into ``out``.

    With datasets the whole folder is replaced; without, only ``report.html`` and ``figures/`` are (other files
    stay). Everything is first written to a temporary sibling folder, so a failure leaves ``out`` as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        _write_report(tmp, html, figures)
        if adam is not None:
            _write_datasets(tmp, adam)
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
        if adam is not None or not out.exists():
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
        else:
            os.replace(tmp / REPORT_FILE, out / REPORT_FILE)
            old = out / f".{FIGURES_DIR}.old"
            if (out / FIGURES_DIR).exists():
                (out / FIGURES_DIR).rename(old)
            (tmp / FIGURES_DIR).rename(out / FIGURES_DIR)
            shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / p for p in written]


# ---- commands --------------------------------------------------------------------------------------------------

FolderArg = Annotated[
    Path, typer.Argument(help="Record folder: the analysis frames (Parquet or CSV) and meta.json.", show_default=False)
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output folder (default: FOLDER/analysis).", show_default=False)
]
StudyOpt = Annotated[
    str | None,
    typer.Option(
        "--study", help="Built-in study id or protocol file (default: meta.json 'study').", show_default=False
    ),
]
CutoffOpt = Annotated[
    str | None,
    typer.Option(
        "--cutoff",
        help=(
            "Data cut-off YYYY-MM-DD (default: meta.json 'cutoff', else the latest date in the frames). A record "
            "cut at date D holds best responses decided at D: an earlier cut-off needs a record cut earlier."
        ),
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the key results and files as JSON.")]


def analyze_record(
    folder: Path, out: Path | None, study: str | None, cutoff: str | None, as_json: bool, *, datasets: bool
) -> None:
    if not folder.is_dir():
        raise ReportInputError(f"{folder}: no such record folder")
    target = out if out is not None else folder / "analysis"
    _check_out(folder, target)
    meta = read_meta(folder)
    protocol = resolve_protocol(study, meta, folder)
    frames = load_frames(folder)
    cut = resolve_cutoff(cutoff, meta, frames)
    adam = derive_all(frames, protocol, cutoff=cut)
    if adam["ADSL"].empty:
        raise ReportInputError(f"{folder}: no subject randomized on or before the cut-off {cut.isoformat()}")
    html, figures = render_report(adam, frames, protocol, cutoff=cut, source=describe_source(folder, meta))
    written = save_analysis(target, html, figures, adam if datasets else None)
    key = table_key_results(adam)
    if as_json:
        results: dict[str, dict[str, dict[str, str]]] = {}
        for (section, row), values in zip(key.index, key.itertuples(index=False), strict=True):
            by_arm = {str(k): str(v) for k, v in zip(key.columns, values, strict=True)}
            results.setdefault(str(section), {})[str(row) or "value"] = by_arm
        print_json(
            {
                "study": protocol.id,
                "cutoff": cut.isoformat(),
                "out": str(target),
                "report": str(target / REPORT_FILE),
                "files": [str(p) for p in written],
                "key_results": results,
            }
        )
        return
    table = Table(
        title=f"{protocol.identification.org_study_id} — data cut-off {cut.isoformat()}", title_justify="left"
    )
    table.add_column("")
    for column in key.columns:
        table.add_column(str(column), justify="center")
    current = None
    for (section, row), values in zip(key.index, key.itertuples(index=False), strict=True):
        cells = [str(v) for v in values]
        if section != current:
            current = section
            if row:
                table.add_row(f"[bold]{section}[/]", *["" for _ in cells])
        table.add_row(f"  {row}" if row else f"[bold]{section}[/]", *cells)
    console.print(table)
    kind = "report and ADaM datasets" if datasets else "report"
    console.print(f"Wrote the {kind} to [bold]{target}[/] ({len(written)} files); open {target / REPORT_FILE}")


def analyze_command(
    folder: FolderArg,
    out: OutOpt = None,
    study: StudyOpt = None,
    cutoff: CutoffOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse a trial record: ADaM datasets (ADSL, ADTTE, ADRS, ADAE as Parquet and CSV) and the report.

    Reads the analysis frames in FOLDER, derives the ADaM datasets at the data cut-off, and writes them with
    report.html (one self-contained file: KM curves with numbers at risk, forest plot, response, safety,
    exposure, published results versus this trial) and figures/*.png|svg into FOLDER/analysis (or --out).

    Example: trialtwin simulate --seed 1 --out out/sim && trialtwin analyze out/sim/rep-0001
    """
    analyze_record(folder, out, study, cutoff, as_json, datasets=True)


def report_command(
    folder: FolderArg,
    out: OutOpt = None,
    study: StudyOpt = None,
    cutoff: CutoffOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render the report of a trial record: report.html and figures/ only (no dataset files).

    Same inputs as [bold]trialtwin analyze[/]; replaces report.html and figures/ in FOLDER/analysis (or --out)
    and leaves any ADaM files there untouched.

    Example: trialtwin report out/sim/rep-0001 --cutoff 2022-06-30 --out out/report-june
    """
    analyze_record(folder, out, study, cutoff, as_json, datasets=False)
