"""ADaM analysis datasets (CDISC ADaM IG v1.3 names) derived from the analysis frames.

``derive_adsl``, ``derive_adtte``, ``derive_adrs``, ``derive_adae`` take validated frames
(:func:`trialtwin.analysis.frames.validate_frames`), the protocol and the data cut-off (keyword-only, last) and
return pandas DataFrames with upper-case ADaM variables in a deterministic row order. No I/O here: the CLI writes
files. Every rule and its source is in the module docstrings and in docs/analysis/adam.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from trialtwin.analysis.derive._common import DAYS_PER_MONTH, DerivationError
from trialtwin.analysis.derive.adae import TEAE_WINDOW_DAYS, derive_adae
from trialtwin.analysis.derive.adrs import RESPONSE_CODES, derive_adrs, response_assessors
from trialtwin.analysis.derive.adsl import StrataVariable, derive_adsl, strata_variables
from trialtwin.analysis.derive.adtte import TteParameter, derive_adtte, tte_parameters
from trialtwin.protocol.model import Protocol

__all__ = [
    "DAYS_PER_MONTH",
    "RESPONSE_CODES",
    "TEAE_WINDOW_DAYS",
    "DerivationError",
    "StrataVariable",
    "TteParameter",
    "derive_adae",
    "derive_adrs",
    "derive_adsl",
    "derive_adtte",
    "derive_all",
    "response_assessors",
    "strata_variables",
    "tte_parameters",
]


def derive_all(
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    teae_window_days: int = TEAE_WINDOW_DAYS,
    missed_assessments: int = 2,
    cutoff: dt.date,
) -> dict[str, pd.DataFrame]:
    """``{"ADSL", "ADTTE", "ADRS", "ADAE"}`` at the cut-off; ADSL is derived once and shared."""
    adsl = derive_adsl(frames, protocol, cutoff=cutoff)
    return {
        "ADSL": adsl,
        "ADTTE": derive_adtte(frames, protocol, adsl=adsl, missed_assessments=missed_assessments, cutoff=cutoff),
        "ADRS": derive_adrs(frames, protocol, adsl=adsl, cutoff=cutoff),
        "ADAE": derive_adae(frames, protocol, adsl=adsl, teae_window_days=teae_window_days, cutoff=cutoff),
    }
