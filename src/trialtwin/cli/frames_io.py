"""Reading and writing a trial record (the analysis frames) as Parquet + CSV in one folder.

Layout of a record folder: ``<frame>.parquet`` and ``<frame>.csv`` for every frame of
``trialtwin.analysis.frames``, plus ``meta.json``. Writing goes to a temporary sibling folder that is renamed
into place at the end, so a failed run leaves nothing half-written. Output is deterministic: the same frames give
byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trialtwin.analysis.frames import FRAME_NAMES, FrameError, validate_frames


def save_frames(frames: Mapping[str, pd.DataFrame], folder: Path, meta: Mapping[str, Any]) -> None:
    """Write every frame as Parquet and CSV plus ``meta.json`` into ``folder`` (replaced atomically)."""
    checked = validate_frames(frames)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for name in FRAME_NAMES:
            frame = checked[name]
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd", write_statistics=False)
            csv = frame.copy()
            for column in csv.columns:
                if pd.api.types.is_datetime64_any_dtype(csv[column]):
                    csv[column] = csv[column].dt.strftime("%Y-%m-%d")
            csv.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
        (tmp / "meta.json").write_text(json.dumps(dict(meta), indent=2, sort_keys=True, default=str) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_frames(folder: Path) -> dict[str, pd.DataFrame]:
    """Read a record folder (Parquet preferred, CSV otherwise) and validate it against the schema."""
    if not folder.is_dir():
        raise FrameError(f"{folder}: no such folder of analysis frames")
    frames: dict[str, pd.DataFrame] = {}
    for name in FRAME_NAMES:
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        if parquet.is_file():
            frames[name] = pq.read_table(parquet).to_pandas()
        elif csv.is_file():
            try:
                frames[name] = pd.read_csv(csv, dtype=str, keep_default_na=True)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise FrameError(f"{csv}: cannot read CSV ({exc})") from None
    try:
        return validate_frames(frames)
    except FrameError as exc:
        raise FrameError(f"{folder}: {exc}") from None
