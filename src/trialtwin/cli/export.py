"""``trialtwin export``: the service database's records as the analysis frames (the twin's format).

The frames come from :func:`trialtwin.services.export_frames`, are checked against the shared schema
(``trialtwin.analysis.frames.validate_frames``) and written with ``frames_io.save_frames`` (Parquet + CSV +
meta.json, written to a temporary folder and renamed into place: nothing half-written), so that
``trialtwin analyze DIR`` runs unchanged on real data (DESIGN.md principle 4).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from trialtwin.analysis.frames import validate_frames
from trialtwin.cli.console import console
from trialtwin.cli.db import DbOpt, _open_existing, _url
from trialtwin.cli.frames_io import save_frames
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import export_frames, system_clock
from trialtwin.store.db import Database
from trialtwin.store.tables import Study


class ExportError(TrialtwinError):
    """The export cannot be made as asked (unknown study, unsafe output folder, bad cut-off)."""


def _study(database: Database, asked: str | None) -> str:
    with database.read_session() as session:
        studies = list(session.execute(select(Study.id).order_by(Study.id)).scalars())
    if asked is not None:
        if asked not in studies:
            raise ExportError(f"--study {asked}: not in this database (studies: {', '.join(studies) or 'none'})")
        return asked
    if len(studies) != 1:
        raise ExportError(
            f"the database holds {len(studies)} studies ({', '.join(studies) or 'none'}); choose one with --study"
        )
    return studies[0]


def _check_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise ExportError(f"--out {out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / "meta.json").is_file():
            raise ExportError(
                f"--out {out}: folder is not empty and is no trial record (no meta.json); refusing to replace it"
            )


def export_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the frames to (replaced atomically).")],
    db: DbOpt = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study id (needed when the database holds several).")
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option("--cutoff", help="Data cut-off YYYY-MM-DD: leave out what is dated after it.")
    ] = None,
) -> None:
    """Export the service's records as the analysis frames, for [bold]trialtwin analyze[/].

    Example: [bold]trialtwin export --db sqlite:///trial.db --out out/edc && trialtwin analyze out/edc[/]
    """
    cut: dt.date | None = None
    if cutoff is not None:
        try:
            cut = dt.date.fromisoformat(cutoff)
        except ValueError:
            raise ExportError(f"--cutoff {cutoff!r}: expected a date YYYY-MM-DD") from None
    _check_out(out)
    database = _open_existing(_url(db))
    try:
        study_id = _study(database, study)
        frames = validate_frames(export_frames(database, study_id, cutoff=cut))
        meta = {
            "study": study_id,
            "source": "trialtwin export",
            "database": database.url.render_as_string(hide_password=True),
            "exported_at": system_clock().isoformat(timespec="seconds"),
            "randomized": len(frames["subjects"]),
            "screened": len(frames["screening"]),
        }
        if cut is not None:
            meta["cutoff"] = cut.isoformat()
        save_frames(frames, out, meta)
    finally:
        database.engine.dispose()
    console.print(
        f"exported study {study_id}: {meta['randomized']} randomized of {meta['screened']} screened → {out}",
        highlight=False,
    )
