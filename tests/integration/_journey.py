"""Shared pieces of the golden-journey tests (in-process: test_golden_journey.py; live server:
test_golden_journey_live.py): the per-subject comparison of ``derive_all``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.frames import validate_frames
from trialtwin.protocol import load_protocol

STUDY = "ever-132-002"


def sorted_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def differing_subjects(
    twin: Mapping[str, pd.DataFrame], service: Mapping[str, pd.DataFrame], cutoff: dt.date
) -> dict[str, set[str]]:
    """Subject id → ``"FRAME.column"`` (or ``"FRAME.rows"``) where ``derive_all`` (ADSL, ADTTE, ADRS, ADAE) of
    the service's frames differs from the twin's, compared subject by subject."""
    protocol = load_protocol(STUDY)
    a_all = derive_all(validate_frames(dict(twin)), protocol, cutoff=cutoff)
    b_all = derive_all(validate_frames(dict(service)), protocol, cutoff=cutoff)
    out: dict[str, set[str]] = {}
    for name, frame in a_all.items():
        other = b_all[name]
        assert list(frame.columns) == list(other.columns), name
        for subject in sorted(set(frame["USUBJID"]) | set(other["USUBJID"])):
            a = frame[frame["USUBJID"] == subject].reset_index(drop=True)
            b = other[other["USUBJID"] == subject].reset_index(drop=True)
            if not a.equals(b):
                cols = ["rows"] if len(a) != len(b) else [c for c in a.columns if not a[c].equals(b[c])]
                out.setdefault(subject.removeprefix(f"{STUDY.upper()}-"), set()).update(f"{name}.{c}" for c in cols)
    return out
