"""The analysis frames: one patient-level schema shared by the twin's record and the service's export.

A trial record is a set of named tables (frames). Whoever produces them — the digital twin or the EDC export —
must produce exactly these columns and types, so that derivation and analysis cannot tell the sources apart
(DESIGN.md, principle 4). ``validate_frames`` is the contract test's oracle.

Conventions: one row per event; dates are ``datetime64[ns]`` at midnight (study-day granularity); identifiers are
strings; stratification levels are columns ``strat_<factor id>``; lab values are in the units given below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from trialtwin.protocol.errors import TrialtwinError

Kind = Literal["str", "int", "float", "bool", "date"]


class FrameError(TrialtwinError):
    """A frame is missing, lacks a column, or has a column of the wrong type."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    description: str
    nullable: bool = False
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FrameSchema:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, kind: Kind, description: str, *, nullable: bool = False, values: tuple[str, ...] = ()) -> Column:
    return Column(name, kind, description, nullable, values)


SUBJECT = _c("subject_id", "str", "Unique subject identifier")
ASSESSORS = ("BICR", "investigator")

SCHEMAS: dict[str, FrameSchema] = {
    s.name: s
    for s in (
        FrameSchema(
            "screening",
            "Every screened person, eligible or not, with the criteria that failed.",
            (
                _c("screening_id", "str", "Screening number"),
                _c("subject_id", "str", "Subject id once randomized", nullable=True),
                _c("site_id", "str", "Site id (protocol.sites)"),
                _c("screened_date", "date", "Date of the eligibility evaluation"),
                _c("status", "str", "Eligibility verdict", values=("eligible", "not_eligible", "incomplete")),
                _c("failed_criteria", "str", "Ids of failed criteria, ';'-separated (empty when eligible)"),
                _c("reasons", "str", "Human reasons for each failed criterion, ' | '-separated"),
            ),
            ("screening_id",),
        ),
        FrameSchema(
            "subjects",
            "One row per randomized subject: demographics, strata as randomized, arm, dates.",
            (
                SUBJECT,
                _c("site_id", "str", "Site id"),
                _c("country", "str", "Country of the site"),
                _c("randomized_date", "date", "Date of randomization (study day 1)"),
                _c("arm", "str", "Arm id as randomized"),
                _c("regimen", "str", "Regimen id (the chosen one for physician's-choice arms)"),
                _c("stratum", "str", "Stratum key as randomized, e.g. prior_lines=2|visceral=yes"),
                _c("age", "float", "Age at screening, years"),
                _c("sex", "str", "Sex", values=("female", "male")),
                _c("weight_kg", "float", "Baseline weight, kg"),
                _c("height_cm", "float", "Height, cm"),
                _c("ecog", "int", "ECOG performance status at baseline (0-2)"),
                _c("first_dose_date", "date", "First administered dose", nullable=True),
                _c("last_dose_date", "date", "Last administered dose", nullable=True),
            ),
            ("subject_id",),
        ),
        FrameSchema(
            "exposure",
            "Every planned dosing day with its decision: given, held, reduced or discontinued.",
            (
                SUBJECT,
                _c("date", "date", "Planned dosing date"),
                _c("cycle", "int", "Cycle number (1-based)"),
                _c("cycle_day", "int", "Day of the cycle"),
                _c("drug", "str", "Drug name"),
                _c("action", "str", "Decision", values=("give", "reduce", "hold", "omit", "discontinue")),
                _c("dose_level", "int", "Dose level after the decision (0 = starting dose)"),
                _c("planned_dose", "float", "Dose at the starting level, in the regimen's unit"),
                _c("dose", "float", "Dose given, in the regimen's unit (0 when held)"),
                _c("unit", "str", "Dose unit (mg/kg, mg/m2, mg)"),
                _c("dose_mg", "float", "Amount given per day, mg (0 when held)"),
                _c("reason", "str", "Reason of the decision (empty for a routine dose)"),
            ),
            ("subject_id", "date", "drug"),
        ),
        FrameSchema(
            "labs",
            "Laboratory results with their CTCAE v5.0 grade.",
            (
                SUBJECT,
                _c("date", "date", "Sample date"),
                _c("test", "str", "Test code (anc, platelets, hemoglobin, wbc, bilirubin, ast, alt, creatinine)"),
                _c("value", "float", "Result"),
                _c("unit", "str", "Unit of the result"),
                _c("grade", "int", "CTCAE v5.0 grade (0 = within limits)"),
            ),
            ("subject_id", "date", "test"),
        ),
        FrameSchema(
            "adverse_events",
            "Adverse events with CTCAE v5.0 grade and dates.",
            (
                SUBJECT,
                _c("term", "str", "CTCAE term"),
                _c("grade", "int", "CTCAE v5.0 grade 1-5"),
                _c("start_date", "date", "Onset"),
                _c("end_date", "date", "Resolution", nullable=True),
                _c("serious", "bool", "Serious adverse event"),
                _c(
                    "controlled",
                    "bool",
                    "Nausea, vomiting or diarrhoea controlled by supportive care (antiemetics, antidiarrhoeals), "
                    "which the dose-modification rules read (label 2.3); empty when not assessed",
                    nullable=True,
                ),
            ),
            ("subject_id", "term", "start_date"),
        ),
        FrameSchema(
            "lesions",
            "Lesion-level measurements per assessment (RECIST 1.1), by assessor.",
            (
                SUBJECT,
                _c("date", "date", "Scan date"),
                _c("assessor", "str", "Who read the scan", values=ASSESSORS),
                _c("lesion_id", "str", "Lesion id (stable across scans)"),
                _c("kind", "str", "Lesion kind", values=("target", "non_target", "new")),
                _c("organ", "str", "Organ"),
                _c("nodal", "bool", "Lymph node"),
                _c("diameter_mm", "float", "Longest diameter (short axis for nodes), mm", nullable=True),
                _c("status", "str", "Non-target status", nullable=True),
            ),
            ("subject_id", "date", "assessor", "lesion_id"),
        ),
        FrameSchema(
            "responses",
            "RECIST 1.1 time-point responses per assessment and assessor.",
            (
                SUBJECT,
                _c("date", "date", "Scan date"),
                _c("assessor", "str", "Who assessed", values=ASSESSORS),
                _c("target", "str", "Target response (empty without target lesions)", nullable=True),
                _c("non_target", "str", "Non-target response (empty without non-target lesions)", nullable=True),
                _c("new_lesions", "bool", "Unequivocal new lesion"),
                _c(
                    "overall",
                    "str",
                    "Overall time-point response",
                    values=("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"),
                ),
                _c("sum_mm", "float", "Sum of diameters, mm", nullable=True),
                _c("pct_from_baseline", "float", "Change of the sum from baseline, %", nullable=True),
            ),
            ("subject_id", "date", "assessor"),
        ),
        FrameSchema(
            "best_response",
            "RECIST 1.1 best overall response per subject and assessor, decided by the engine on the data at "
            "cut-off (confirmation rules of the protocol), so analysis never re-implements RECIST.",
            (
                SUBJECT,
                _c("assessor", "str", "Who assessed", values=ASSESSORS),
                _c("response", "str", "Best overall response", values=("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")),
                _c("response_date", "date", "First date of the CR/PR (or SD) that counts", nullable=True),
                _c("confirmation_date", "date", "Date of the confirming assessment", nullable=True),
                _c("progression_date", "date", "Date of the first PD time point", nullable=True),
                _c("best_pct_change", "float", "Best (lowest) % change of the target sum", nullable=True),
            ),
            ("subject_id", "assessor"),
        ),
        FrameSchema(
            "disposition",
            "End of treatment and end of study, with reasons.",
            (
                SUBJECT,
                _c(
                    "event",
                    "str",
                    "Milestone",
                    values=("end_of_treatment", "new_anticancer_therapy", "end_of_study"),
                ),
                _c("date", "date", "Date of the milestone"),
                _c("reason", "str", "Reason (progression, adverse_event, withdrawal, death, ...)"),
            ),
            ("subject_id", "event"),
        ),
        FrameSchema(
            "survival_followup",
            "Survival follow-up contacts after treatment ends (the subject was known to be alive on that date).",
            (
                SUBJECT,
                _c("date", "date", "Contact date"),
                _c("status", "str", "Vital status at the contact", values=("alive",)),
            ),
            ("subject_id", "date"),
        ),
        FrameSchema(
            "deaths",
            "Deaths with date and cause.",
            (
                SUBJECT,
                _c("date", "date", "Date of death"),
                _c("cause", "str", "Cause (progressive_disease, adverse_event, other)"),
            ),
            ("subject_id",),
        ),
    )
}

FRAME_NAMES: tuple[str, ...] = tuple(SCHEMAS)


def empty_frame(name: str) -> pd.DataFrame:
    """A zero-row frame with the schema's columns and dtypes."""
    schema = SCHEMAS[name]
    return pd.DataFrame({c.name: pd.Series(dtype=dtype_of(c)) for c in schema.columns})


def dtype_of(column: Column) -> str:
    """The pandas dtype of a column: a nullable boolean is pandas' ``boolean`` (true / false / ``<NA>``)."""
    return "boolean" if column.kind == "bool" and column.nullable else _DTYPES[column.kind]


_DTYPES: dict[Kind, str] = {
    "str": "object",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "date": "datetime64[ns]",
}


def coerce_frame(name: str, frame: pd.DataFrame, *, extra_prefixes: tuple[str, ...] = ("strat_",)) -> pd.DataFrame:
    """Columns of ``frame`` in schema order with schema dtypes; extra ``strat_*`` columns kept at the end.

    Raises :class:`FrameError` naming the frame and column when a column is missing or cannot take its type.
    """
    schema = SCHEMAS[name]
    missing = [c for c in schema.column_names() if c not in frame.columns]
    if missing:
        raise FrameError(f"frame {name!r} lacks column(s) {missing}")
    out = {}
    for col in schema.columns:
        series = frame[col.name]
        try:
            out[col.name] = _coerce(series, col)
        except (TypeError, ValueError) as exc:
            raise FrameError(f"frame {name!r}, column {col.name!r}: cannot read as {col.kind} ({exc})") from None
        if not col.nullable and out[col.name].isna().any():
            raise FrameError(f"frame {name!r}, column {col.name!r}: missing values are not allowed")
        if col.values:
            bad = sorted(set(out[col.name].dropna()) - set(col.values))
            if bad:
                raise FrameError(f"frame {name!r}, column {col.name!r}: unexpected value(s) {bad[:5]}")
    extras = [c for c in frame.columns if c.startswith(extra_prefixes) and c not in out]
    for c in extras:
        out[c] = frame[c].astype("object")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


_BOOLEANS = {True: True, False: False, "True": True, "False": False, "true": True, "false": False}


def _coerce(series: pd.Series, col: Column) -> pd.Series:
    if col.kind == "date":
        return pd.to_datetime(series, errors="raise").astype("datetime64[ns]")
    if col.kind == "int":
        return pd.to_numeric(series, errors="raise").astype("int64")
    if col.kind == "float":
        return pd.to_numeric(series, errors="raise").astype("float64")
    if col.kind == "bool":
        if series.dtype == bool:
            return series.astype("boolean") if col.nullable else series
        known = series.notna() if col.nullable else pd.Series(True, index=series.index)
        mapped = series.map(_BOOLEANS)
        if mapped[known].isna().any():
            raise ValueError("booleans must be true/false" + (" or empty" if col.nullable else ""))
        if col.nullable:
            return mapped.astype("boolean")
        return mapped.astype(bool)
    return series.astype("object").where(series.notna(), None)


def validate_frames(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every frame present and conforming; returns the coerced frames. Raises FrameError otherwise."""
    missing = [n for n in FRAME_NAMES if n not in frames]
    if missing:
        raise FrameError(f"trial record lacks frame(s) {missing}")
    coerced = {name: coerce_frame(name, frames[name]) for name in FRAME_NAMES}
    known = set(coerced["subjects"]["subject_id"])
    for name in FRAME_NAMES:
        if name in ("subjects", "screening"):
            continue
        unknown = sorted(set(coerced[name]["subject_id"]) - known)
        if unknown:
            raise FrameError(f"frame {name!r} refers to subjects not in 'subjects': {unknown[:5]}")
    return coerced
