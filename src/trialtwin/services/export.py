"""Export: a study's records as the analysis frames, so the twin's analysis runs unchanged on real data.

The frames and their columns are those of ``trialtwin.analysis.frames`` (DESIGN.md principle 4: derivation and
analysis cannot tell the twin from the EDC). This layer may not import ``analysis`` (layer table), so the
column lists are restated in :data:`FRAME_COLUMNS`; the CLI validates the result with
``trialtwin.analysis.frames.validate_frames`` and a unit test checks that both lists agree.

Mapping from the store: ``subject_id`` = subject number (given at randomization); ``site_id`` = site code;
``randomized_date`` = UTC date of the allocation; ``stratum``/``strat_*`` = the levels randomized with (ledger);
``age``/``sex`` = the latest eligibility facts; weight, height, ECOG = the baseline record; the best overall
response is the engine's (``assess_recist``) on each reader's assessments known at the cut-off. Only
randomized subjects appear outside ``screening``. With ``cutoff``, rows dated after it are left out, subjects
randomized after it too, and an adverse event resolved after it is ongoing (the twin's ``cut_by_date``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.engine.recist.assess import assess_recist
from trialtwin.engine.recist.best_response import RecistRules
from trialtwin.engine.recist.lesions import RecistRecord
from trialtwin.engine.schedule import ScheduleError, choose_regimen
from trialtwin.services.assessments import READERS, TOO_SMALL_MM, stored_record
from trialtwin.services.clinical_common import SubjectContext
from trialtwin.services.errors import ServiceError
from trialtwin.services.studies import study_protocol
from trialtwin.store.db import Database
from trialtwin.store.repositories import get_study, latest_facts, verdict_for
from trialtwin.store.tables import (
    AdverseEvent,
    Death,
    Disposition,
    Exposure,
    Lab,
    LedgerEntry,
    Lesion,
    Response,
    Site,
    Subject,
    SubjectBaseline,
    SurvivalContact,
    Visit,
)

Kind = Literal["str", "int", "float", "bool", "date"]
_S: tuple[str, Kind] = ("subject_id", "str")

#: Columns and kinds of each frame (the same as ``trialtwin.analysis.frames.SCHEMAS``).
FRAME_COLUMNS: dict[str, tuple[tuple[str, Kind], ...]] = {
    "screening": (
        ("screening_id", "str"),
        ("subject_id", "str"),
        ("site_id", "str"),
        ("screened_date", "date"),
        ("status", "str"),
        ("failed_criteria", "str"),
        ("reasons", "str"),
    ),
    "subjects": (
        _S,
        ("site_id", "str"),
        ("country", "str"),
        ("randomized_date", "date"),
        ("arm", "str"),
        ("regimen", "str"),
        ("stratum", "str"),
        ("age", "float"),
        ("sex", "str"),
        ("weight_kg", "float"),
        ("height_cm", "float"),
        ("ecog", "int"),
        ("first_dose_date", "date"),
        ("last_dose_date", "date"),
    ),
    "exposure": (
        _S,
        ("date", "date"),
        ("cycle", "int"),
        ("cycle_day", "int"),
        ("drug", "str"),
        ("action", "str"),
        ("dose_level", "int"),
        ("planned_dose", "float"),
        ("dose", "float"),
        ("unit", "str"),
        ("dose_mg", "float"),
        ("reason", "str"),
    ),
    "labs": (_S, ("date", "date"), ("test", "str"), ("value", "float"), ("unit", "str"), ("grade", "int")),
    "adverse_events": (
        _S,
        ("term", "str"),
        ("grade", "int"),
        ("start_date", "date"),
        ("end_date", "date"),
        ("serious", "bool"),
        ("controlled", "bool"),
    ),
    "lesions": (
        _S,
        ("date", "date"),
        ("assessor", "str"),
        ("lesion_id", "str"),
        ("kind", "str"),
        ("organ", "str"),
        ("nodal", "bool"),
        ("diameter_mm", "float"),
        ("status", "str"),
    ),
    "responses": (
        _S,
        ("date", "date"),
        ("assessor", "str"),
        ("target", "str"),
        ("non_target", "str"),
        ("new_lesions", "bool"),
        ("overall", "str"),
        ("sum_mm", "float"),
        ("pct_from_baseline", "float"),
    ),
    "best_response": (
        _S,
        ("assessor", "str"),
        ("response", "str"),
        ("response_date", "date"),
        ("confirmation_date", "date"),
        ("progression_date", "date"),
        ("best_pct_change", "float"),
    ),
    "disposition": (_S, ("event", "str"), ("date", "date"), ("reason", "str")),
    "survival_followup": (_S, ("date", "date"), ("status", "str")),
    "deaths": (_S, ("date", "date"), ("cause", "str")),
}
#: Boolean columns that may be empty (pandas ``boolean``), as the schema's nullable booleans.
NULLABLE_BOOLEANS: frozenset[tuple[str, str]] = frozenset({("adverse_events", "controlled")})
_DTYPES: dict[Kind, str] = {
    "str": "object",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "date": "datetime64[ns]",
}
#: Per table: the frame it feeds and the columns copied as they are.
_COPIED: tuple[tuple[str, type[Any], str], ...] = (
    ("exposure", Exposure, "date"),
    ("labs", Lab, "date"),
    ("adverse_events", AdverseEvent, "start_date"),
    ("responses", Response, "date"),
    ("disposition", Disposition, "date"),
    ("survival_followup", SurvivalContact, "date"),
    ("deaths", Death, "date"),
)


def build_frame(name: str, rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame with the schema's columns (plus ``extra`` text columns) and dtypes from plain rows."""
    columns = FRAME_COLUMNS[name]
    data: dict[str, pd.Series] = {}
    for column, kind in columns:
        values = [row.get(column) for row in rows]
        if kind == "date":
            data[column] = pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[ns]")
        elif kind == "str":
            data[column] = pd.Series(values, dtype="object")
        elif (name, column) in NULLABLE_BOOLEANS:
            data[column] = pd.Series(values, dtype="boolean")
        else:
            data[column] = pd.Series(values, dtype=_DTYPES[kind])
    for column in extra:
        data[column] = pd.Series([row.get(column) for row in rows], dtype="object")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def export_frames(db: Database, study_id: str, *, cutoff: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """Every frame of the study (read only; one consistent snapshot). ``ServiceError`` names randomized
    subjects without a baseline record (their weight, height and ECOG are required columns)."""
    with db.read_session() as session, session.begin():
        get_study(session, study_id)
        return _export(session, study_id, cutoff)


def _export(session: Session, study_id: str, cutoff: dt.date | None) -> dict[str, pd.DataFrame]:
    protocol = study_protocol(session, study_id)
    factor_ids = [f.id for f in protocol.stratification]
    keep = (lambda d: d is not None and d <= cutoff) if cutoff is not None else (lambda d: d is not None)
    sites = {s.id: s for s in session.execute(select(Site).where(Site.study_id == study_id)).scalars()}
    subjects = list(session.execute(select(Subject).where(Subject.study_id == study_id).order_by(Subject.id)).scalars())
    entries = {
        e.subject_id: e for e in session.execute(select(LedgerEntry).where(LedgerEntry.study_id == study_id)).scalars()
    }
    screening: list[dict[str, Any]] = []
    randomized: dict[int, str] = {}
    subject_rows: list[dict[str, Any]] = []
    missing_baseline: list[str] = []
    baselines = {
        b.subject_id: b
        for b in session.execute(
            select(SubjectBaseline)
            .join(Subject, Subject.id == SubjectBaseline.subject_id)
            .where(Subject.study_id == study_id)
        ).scalars()
    }
    regimens: dict[int, str] = {}
    for visit in session.execute(
        select(Visit)
        .join(Subject, Subject.id == Visit.subject_id)
        .where(Subject.study_id == study_id)
        .order_by(Visit.date, Visit.id)
    ).scalars():
        if visit.regimen is not None:
            regimens.setdefault(visit.subject_id, visit.regimen)
    for subject in subjects:
        facts = latest_facts(session, subject.id)
        verdict = verdict_for(session, facts.id) if facts is not None else None
        entry = entries.get(subject.id)
        rand_date = entry.randomized_at.astimezone(dt.UTC).date() if entry is not None else None
        in_cut = entry is not None and keep(rand_date)
        if verdict is not None and keep(verdict.evaluated_at.astimezone(dt.UTC).date()):
            failed = [c for c in verdict.criteria if _excludes(c)]
            screening.append(
                {
                    "screening_id": subject.screening_id,
                    "subject_id": subject.subject_number if in_cut else None,
                    "site_id": sites[subject.site_id].code,
                    "screened_date": verdict.evaluated_at.astimezone(dt.UTC).date(),
                    "status": verdict.status,
                    "failed_criteria": ";".join(c["id"] for c in failed),
                    "reasons": " | ".join(c["reason"] for c in failed),
                }
            )
        if not in_cut or entry is None or facts is None:
            continue
        assert subject.subject_number is not None
        randomized[subject.id] = subject.subject_number
        baseline = baselines.get(subject.id)
        if baseline is None:
            missing_baseline.append(subject.screening_id)
            continue
        site = sites[subject.site_id]
        levels = {f: entry.levels[f] for f in factor_ids}
        subject_rows.append(
            {
                "subject_id": subject.subject_number,
                "site_id": site.code,
                "country": site.country,
                "randomized_date": rand_date,
                "arm": entry.arm,
                "regimen": regimens.get(subject.id) or _default_regimen(protocol, entry.arm),
                "stratum": "|".join(f"{k}={v}" for k, v in levels.items()),
                "age": float(facts.facts["age"]) if "age" in facts.facts else None,
                "sex": facts.facts.get("sex"),
                "weight_kg": baseline.weight_kg,
                "height_cm": baseline.height_cm,
                "ecog": baseline.ecog,
                **{f"strat_{k}": v for k, v in levels.items()},
            }
        )
    if missing_baseline:
        names = ", ".join(missing_baseline[:10]) + (" ..." if len(missing_baseline) > 10 else "")
        raise ServiceError(
            f"study {study_id}: {len(missing_baseline)} randomized subject(s) have no baseline record "
            f"(weight, height, ECOG): {names}"
        )
    frames: dict[str, pd.DataFrame] = {"screening": build_frame("screening", screening)}
    tables = _copied(session, randomized, keep)
    given: dict[str, list[dt.date]] = defaultdict(list)
    for row in tables["exposure"]:
        if row["dose"] > 0:
            given[row["subject_id"]].append(row["date"])
    for row in subject_rows:
        dates = given.get(row["subject_id"], [])
        row["first_dose_date"] = min(dates) if dates else None
        row["last_dose_date"] = max(dates) if dates else None
    if cutoff is not None:
        for row in tables["adverse_events"]:
            if row["end_date"] is not None and row["end_date"] > cutoff:
                row["end_date"] = None
    frames["subjects"] = build_frame("subjects", subject_rows, tuple(f"strat_{f}" for f in factor_ids))
    for name, rows in tables.items():
        frames[name] = build_frame(name, rows)
    frames["best_response"] = build_frame(
        "best_response", _best_responses(session, protocol, randomized, entries, cutoff)
    )
    return {name: frames[name] for name in FRAME_COLUMNS}


def _excludes(criterion: dict[str, Any]) -> bool:
    if criterion.get("kind") == "inclusion":
        return bool(criterion.get("result") == "not_met")
    return bool(criterion.get("result") == "met")


def _default_regimen(protocol: Any, arm: str) -> str:
    try:
        return choose_regimen(protocol, protocol.arm(arm)).id
    except (ScheduleError, KeyError):
        return ""  # physician's choice not made yet (no dosing visit)


def _copied(session: Session, randomized: dict[int, str], keep: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    ids = list(randomized)
    for name, model, date_column in _COPIED:
        columns = [c for c, _ in FRAME_COLUMNS[name] if c != "subject_id"]
        query = select(model).where(model.subject_id.in_(ids)).order_by(getattr(model, date_column), model.id)
        rows = []
        for record in session.execute(query).scalars() if ids else ():
            if not keep(getattr(record, date_column)):
                continue
            rows.append({"subject_id": randomized[record.subject_id], **{c: getattr(record, c) for c in columns}})
        out[name] = rows
    lesion_rows = []
    query = select(Lesion).where(Lesion.subject_id.in_(ids)).order_by(Lesion.date, Lesion.id)
    for record in session.execute(query).scalars() if ids else ():
        if not keep(record.date):
            continue
        lesion_rows.append(
            {
                "subject_id": randomized[record.subject_id],
                "date": record.date,
                "assessor": record.assessor,
                "lesion_id": record.lesion_id,
                "kind": record.kind,
                "organ": record.organ,
                "nodal": record.nodal,
                "diameter_mm": TOO_SMALL_MM if record.too_small else record.diameter_mm,
                "status": record.status,
            }
        )
    out["lesions"] = lesion_rows
    return out


def _best_responses(
    session: Session,
    protocol: Any,
    randomized: dict[int, str],
    entries: dict[int, LedgerEntry],
    cutoff: dt.date | None,
) -> list[dict[str, Any]]:
    rules = RecistRules.from_protocol(protocol.response_rules)
    out = []
    for subject_pk, subject_id in randomized.items():
        subject = session.get(Subject, subject_pk)
        site = session.get(Site, subject.site_id) if subject is not None else None
        assert subject is not None and site is not None
        ctx = SubjectContext(subject, site, protocol, entries[subject_pk], None)
        for assessor in READERS.values():
            known = tuple(a for a in stored_record(session, ctx, assessor) if cutoff is None or a.date <= cutoff)
            row: dict[str, Any] = {"subject_id": subject_id, "assessor": assessor, "response": "NE"}
            if len(known) > 1:
                best = assess_recist(RecistRecord(ctx.start, known), rules=rules, check=False).best
                row.update(
                    response=best.response.value,
                    response_date=best.response_date,
                    confirmation_date=best.confirmation_date,
                    progression_date=best.progression_date,
                    best_pct_change=best.best_pct_change,
                )
            out.append(row)
    return out
