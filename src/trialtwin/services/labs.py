"""Laboratory results: parsed in their entered unit, converted to the frame's unit, graded with CTCAE v5.0.

A lab is entered as a number in the test's canonical unit (``trialtwin.engine.dose_modification.LAB_FIELDS``:
counts in 10^9/L, haemoglobin in g/dL, liver tests, bilirubin and creatinine as multiples of the ULN) or as
``{"value": v, "unit": u}`` in another accepted unit (``/uL``, ``g/L``, ``mg/dL`` or ``U/L`` with ``"uln"``),
optionally with the laboratory's normal limit ``"lln"`` (canonical unit) for the decreased tests. The grade is
the engine's (``trialtwin.engine.toxicity.grade_lab``; NCI CTCAE v5.0, Investigations). Without a site LLN the
service uses the typical adult lower limits in ``DEFAULT_LLN`` (an assumption; the twin grades ANC with the same
1.8 x 10^9/L, ``trialtwin.sim.treatment.ANC_LLN``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trialtwin.engine.dose_modification import LAB_FIELDS, DoseModificationError, Labs, labs_from_data
from trialtwin.engine.toxicity import CtcaeError, grade_lab
from trialtwin.services.clinical_common import FieldError, check_date, staff_context
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.tables import Lab

#: Canonical unit and CTCAE term of each test (None: recorded but not graded, grade 0).
LAB_UNITS: dict[str, str] = {name: unit for name, unit, _, _ in LAB_FIELDS}
LAB_TERMS: dict[str, str | None] = {name: term for name, _, term, _ in LAB_FIELDS}
#: Typical adult lower limits of normal (canonical units) used when the entry gives none (assumption).
DEFAULT_LLN: dict[str, float] = {"anc": 1.8, "platelets": 150.0, "wbc": 4.0, "hemoglobin": 12.0}
_DECREASED = frozenset(DEFAULT_LLN)


@dataclass(frozen=True, slots=True)
class LabResult:
    """One stored result: test, value and unit of the frame, CTCAE grade, and the value/unit as entered."""

    test: str
    value: float
    unit: str
    grade: int
    entered_value: float
    entered_unit: str


@dataclass(frozen=True, slots=True)
class ParsedLabs:
    """Entered labs as the engine's :class:`Labs` and as rows to store."""

    labs: Labs
    results: tuple[LabResult, ...]


def parse_labs(data: Any, *, field: str = "labs") -> ParsedLabs:
    """Validate, convert and grade entered labs; :class:`FieldError` naming ``labs.<test>`` otherwise."""
    if not isinstance(data, Mapping):
        raise FieldError(field, f"expected an object of lab values (got {type(data).__name__})")
    engine_data: dict[str, Any] = {}
    llns: dict[str, float] = {}
    for name, raw in data.items():
        where = f"{field}.{name}"
        if name not in LAB_UNITS:
            raise FieldError(where, f"unknown lab (known: {', '.join(LAB_UNITS)})")
        if isinstance(raw, Mapping) and "lln" in raw:
            lln = raw["lln"]
            if name not in _DECREASED:
                raise FieldError(
                    f"{where}.lln", "only the decreased tests (anc, platelets, wbc, hemoglobin) take an LLN"
                )
            if isinstance(lln, bool) or not isinstance(lln, int | float) or not lln > 0:
                raise FieldError(f"{where}.lln", f"must be a positive number in {LAB_UNITS[name]} (got {lln!r})")
            llns[name] = float(lln)
            raw = {k: v for k, v in raw.items() if k != "lln"}
        engine_data[name] = raw
    try:
        labs = labs_from_data(engine_data, source=field)
    except DoseModificationError as exc:
        raise FieldError(field, str(exc).removeprefix(f"{field}: ")) from None
    results: list[LabResult] = []
    for name, raw in engine_data.items():
        value = getattr(labs, name)
        if value is None:
            continue
        entered_value = float(raw["value"]) if isinstance(raw, Mapping) else float(raw)
        entered_unit = str(raw.get("unit", LAB_UNITS[name])) if isinstance(raw, Mapping) else LAB_UNITS[name]
        term = LAB_TERMS[name]
        grade = 0
        if term is not None:
            try:
                if name in _DECREASED:
                    lln = llns.get(name, DEFAULT_LLN[name])
                    grade = grade_lab(term, value, LAB_UNITS[name], lln=lln)
                else:
                    grade = grade_lab(term, value, "xULN")
            except CtcaeError as exc:
                raise FieldError(f"{field}.{name}", str(exc)) from None
        results.append(LabResult(name, round(value, 4), LAB_UNITS[name], grade, entered_value, entered_unit))
    return ParsedLabs(labs, tuple(results))


def lab_rows(
    parsed: ParsedLabs, data: Any, *, subject_pk: int, sample_date: dt.date, visit_id: int | None, uow: UnitOfWork
) -> list[Lab]:
    """Rows of ``parsed`` (not yet added)."""
    llns = {name: float(raw["lln"]) for name, raw in dict(data).items() if isinstance(raw, Mapping) and "lln" in raw}
    ulns = {name: float(raw["uln"]) for name, raw in dict(data).items() if isinstance(raw, Mapping) and "uln" in raw}
    assert uow.actor is not None
    return [
        Lab(
            subject_id=subject_pk,
            date=sample_date,
            test=r.test,
            value=r.value,
            unit=r.unit,
            grade=r.grade,
            visit_id=visit_id,
            entered_value=r.entered_value,
            entered_unit=r.entered_unit,
            lln=llns.get(r.test, DEFAULT_LLN.get(r.test)),
            uln=ulns.get(r.test),
            recorded_at=uow.now,
            recorded_by=uow.actor,
        )
        for r in parsed.results
    ]


def record_labs(
    db: Database,
    study_id: str,
    screening_id: str,
    sample_date: dt.date,
    labs: Mapping[str, Any],
    *,
    actor: int,
    clock: Clock,
) -> tuple[LabResult, ...]:
    """Record laboratory results sampled on ``sample_date`` outside a dosing visit (e.g. a nadir count),
    graded with CTCAE v5.0. Site staff only; after randomization; not after a recorded death."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return record_labs_in(uow, study_id, screening_id, sample_date, labs)


def record_labs_in(
    uow: UnitOfWork, study_id: str, screening_id: str, sample_date: dt.date, labs: Mapping[str, Any]
) -> tuple[LabResult, ...]:
    """:func:`record_labs` inside a unit of work the caller commits."""
    ctx = staff_context(uow, study_id, screening_id)
    check_date(sample_date, "sample_date", ctx, uow.now.date())
    parsed = parse_labs(labs)
    if not parsed.results:
        raise FieldError("labs", "enter at least one result")
    for row in lab_rows(parsed, labs, subject_pk=ctx.subject.id, sample_date=sample_date, visit_id=None, uow=uow):
        uow.audit.create(row)
    return parsed.results
