"""Safety and exposure statistics: adverse-event incidence by group and relative dose intensity.

Sources:

- **Incidence** (FDA Guidance for Industry "Premarketing Risk Assessment" 2005 §VI.B; ICH E3 §12.2): the number
  of subjects with at least one event, divided by the number of subjects in the safety population of the group
  (subjects, not events, are counted; a subject with several events of a term counts once, at the worst grade).
- **Relative dose intensity** (Hryniuk W, Bush H. J Clin Oncol 1984;2:1281–1288; Longo DL et al. J Clin Oncol
  1991;9:2042–2051): delivered dose intensity (dose per unit time over the period of treatment) divided by the
  planned dose intensity (the starting dose per cycle divided by the cycle length). The period of treatment runs
  from the first dose to the end of the cycle of the last dose: ``last dose date − first dose date + (cycle
  length − cycle day of the last dose) + 1`` days, so delays (held doses given later) lengthen it, reductions and
  omissions lower the delivered dose, and both lower the RDI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialtwin.analysis._survival_data import AnalysisInputError


@dataclass(frozen=True, slots=True)
class DosingSchedule:
    """Planned schedule of one drug: doses per cycle (dosing days) and cycle length in days."""

    doses_per_cycle: int
    cycle_length_days: int


_EXPOSURE_COLUMNS = ("subject_id", "date", "cycle", "cycle_day", "drug", "action", "planned_dose", "dose")

DOSE_INTENSITY_COLUMNS = (
    "subject_id",
    "drug",
    "first_dose",
    "last_dose",
    "cycles",
    "doses_given",
    "holds",
    "omissions",
    "reductions",
    "discontinued",
    "cumulative_dose",
    "period_days",
    "planned_dose",
    "relative_dose_intensity",
)


def dose_intensity(
    exposure: pd.DataFrame,
    schedules: Mapping[str, DosingSchedule],
    *,
    cutoff: dt.date | None = None,
) -> pd.DataFrame:
    """Per subject and drug: cycles started, doses given, holds, omissions, reductions, discontinuation and the
    relative dose intensity (module docstring), from the exposure frame (rows dated after ``cutoff`` ignored).

    ``schedules`` maps a drug name of the exposure frame (compared case-insensitively) to its planned schedule.
    Subjects without a dose given have no row. ``planned_dose`` is the starting dose per dosing day times the
    planned number of doses over the period; ``relative_dose_intensity`` = ``cumulative_dose / planned_dose``.
    """
    missing = [c for c in _EXPOSURE_COLUMNS if c not in exposure.columns]
    if missing:
        raise AnalysisInputError(f"exposure: missing column(s) {missing}")
    rows = exposure
    if cutoff is not None:
        rows = rows[rows["date"] <= pd.Timestamp(cutoff)]
    lookup = {str(k).casefold(): v for k, v in schedules.items()}
    unknown = sorted({str(d) for d in rows["drug"]} - {d for d in rows["drug"] if str(d).casefold() in lookup})
    if unknown:
        raise AnalysisInputError(f"exposure: drug {unknown[0]!r} has no planned schedule ({', '.join(lookup)})")
    if rows.empty:
        return pd.DataFrame(columns=list(DOSE_INTENSITY_COLUMNS))
    rows = rows.sort_values(["subject_id", "drug", "date"], kind="stable")
    given = rows[rows["dose"] > 0]
    keys = ["subject_id", "drug"]
    action = rows["action"]
    counts = (
        pd.DataFrame(
            {
                "subject_id": rows["subject_id"],
                "drug": rows["drug"],
                "holds": (action == "hold").astype(np.int64),
                "omissions": (action == "omit").astype(np.int64),
                "reductions": (action == "reduce").astype(np.int64),
                "discontinued": (action == "discontinue"),
            }
        )
        .groupby(keys, sort=True)
        .agg({"holds": "sum", "omissions": "sum", "reductions": "sum", "discontinued": "any"})
    )
    grouped = given.groupby(keys, sort=True)
    out = pd.DataFrame(
        {
            "first_dose": grouped["date"].min(),
            "last_dose": grouped["date"].max(),
            "cycles": grouped["cycle"].nunique().astype(np.int64),
            "doses_given": grouped["dose"].size().astype(np.int64),
            "cumulative_dose": grouped["dose"].sum(),
            "starting_dose": grouped["planned_dose"].first(),
            "last_cycle_day": grouped["cycle_day"].last(),
        }
    )
    out = out.join(counts, how="left")
    drugs = out.index.get_level_values("drug").astype(str).str.casefold()
    per_cycle = np.asarray([lookup[d].doses_per_cycle for d in drugs], dtype=np.float64)
    length = np.asarray([lookup[d].cycle_length_days for d in drugs], dtype=np.float64)
    span = (out["last_dose"] - out["first_dose"]).dt.days.to_numpy(dtype=np.float64)
    period = span + np.maximum(length - out["last_cycle_day"].to_numpy(dtype=np.float64), 0.0) + 1.0
    out["period_days"] = period
    out["planned_dose"] = out["starting_dose"].to_numpy(dtype=np.float64) * per_cycle * period / length
    out["relative_dose_intensity"] = out["cumulative_dose"] / out["planned_dose"]
    out = out.reset_index()
    out["discontinued"] = out["discontinued"].astype(bool)
    return out[list(DOSE_INTENSITY_COLUMNS)]


def adverse_event_incidence(
    events: pd.DataFrame,
    population: pd.DataFrame,
    *,
    group: str = "ACTARMCD",
    term: str = "AEDECOD",
    grade: str = "AETOXGR",
    subject: str = "USUBJID",
    min_grade: int = 1,
) -> pd.DataFrame:
    """Subjects with at least one event of grade ≥ ``min_grade`` per term and group (module docstring).

    ``events``: one row per event (e.g. ADAE filtered to TRTEMFL = Y); ``population``: one row per subject of
    the denominator (e.g. ADSL with SAFFL = Y), both with ``subject`` and ``group`` columns. Returns one row per
    (term, group) with ``n`` subjects, ``N`` in the group and ``percent``; term ``"ANY"`` counts any term. Every
    group of ``population`` appears for every term (``n`` = 0 when no subject had it).
    """
    for name, frame, cols in (
        ("events", events, (subject, term, grade)),
        ("population", population, (subject, group)),
    ):
        lacking = [c for c in cols if c not in frame.columns]
        if lacking:
            raise AnalysisInputError(f"{name}: missing column(s) {lacking}")
    groups = population.drop_duplicates(subject).set_index(subject)[group]
    denominators = groups.value_counts()
    kept = events[(events[grade] >= min_grade) & events[subject].isin(groups.index)]
    kept = kept.assign(_group=kept[subject].map(groups))
    per_term = kept.drop_duplicates([term, subject]).groupby([term, "_group"]).size()
    any_term = kept.drop_duplicates(subject).groupby("_group").size()
    terms = ["ANY", *sorted(str(t) for t in kept[term].unique())]
    index = pd.MultiIndex.from_product([terms, list(denominators.index)], names=["term", "group"])
    counts: dict[tuple[str, Any], int] = {("ANY", g): int(v) for g, v in any_term.items()}
    for key, value in per_term.items():
        pair: tuple[Any, Any] = key  # type: ignore[assignment]
        counts[(str(pair[0]), pair[1])] = int(value)
    n = pd.Series([counts.get((str(t), g), 0) for t, g in index], index=index, dtype=np.int64)
    out = n.rename("n").to_frame()
    out["N"] = [int(denominators[g]) for g in out.index.get_level_values("group")]
    out["percent"] = np.where(out["N"] > 0, 100.0 * out["n"] / out["N"].where(out["N"] > 0, 1), np.nan)
    out.attrs["footnote"] = (
        f"Subjects with at least one event of CTCAE grade ≥ {min_grade} / subjects in the group; a subject "
        "counts once per term."
    )
    return out
