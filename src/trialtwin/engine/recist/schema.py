"""The JSON edge of the RECIST engine: pydantic models of the input file, converted to the frozen dataclasses
the core works on (pydantic stays out of the hot path).

Input shape::

    {"randomized": "2021-03-01",
     "assessments": [
       {"date": "2021-02-20",
        "target": [{"id": "T1", "organ": "liver", "nodal": false, "diameter_mm": 32, "too_small": false}],
        "non_target": [{"id": "N1", "organ": "bone", "nodal": false, "status": "present"}],
        "new_lesions": false},
       ...]}

The first assessment is the baseline. ``new_lesions`` is required at every follow-up (never assumed).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from trialtwin.engine.recist.assess import RecistResult
from trialtwin.engine.recist.lesions import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistInputError,
    RecistRecord,
    TargetLesion,
    check_record,
)

_Name = Annotated[str, Field(min_length=1, max_length=100)]
_Size = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetLesionIn(_Model):
    id: _Name
    organ: _Name
    nodal: StrictBool
    diameter_mm: _Size | None
    too_small: StrictBool = False


class NonTargetLesionIn(_Model):
    id: _Name
    organ: _Name
    nodal: StrictBool
    status: LesionStatus


class AssessmentIn(_Model):
    date: dt.date
    target: list[TargetLesionIn] = []
    non_target: list[NonTargetLesionIn] = []
    new_lesions: StrictBool | None = None


class RecistRecordIn(_Model):
    randomized: dt.date
    assessments: Annotated[list[AssessmentIn], Field(min_length=1)]


def _path(loc: tuple[int | str, ...], data: Any) -> str:
    """``assessments[1].target[0](id=T1).diameter_mm`` from a pydantic error location."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out += f"(id={item['id']})"
            node = item
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(record)"


def _message(err: Any) -> str:
    """Pydantic's message, with the offending value when it is a plain value."""
    value = err.get("input")
    if err["type"] == "missing" or isinstance(value, dict | list):
        return str(err["msg"])
    return f"{err['msg']} (got {json.dumps(value, default=str)})"


def record_from_data(data: Any, *, source: str = "<record>") -> RecistRecord:
    """Validate plain data (parsed JSON) as a RECIST record and check it (:func:`check_record`).

    Raises :class:`RecistInputError` naming ``source`` and every bad field.
    """
    if not isinstance(data, dict):
        raise RecistInputError(source, [("(record)", "expected a JSON object with randomized and assessments")])
    try:
        parsed = RecistRecordIn.model_validate(data)
    except ValidationError as exc:
        errors = [(_path(tuple(err["loc"]), data), _message(err)) for err in exc.errors(include_url=False)]
        raise RecistInputError(source, list(dict.fromkeys(errors))) from None
    problems = [
        (f"assessments[{k}].new_lesions", "required at every follow-up (true or false)")
        for k, a in enumerate(parsed.assessments)
        if k > 0 and a.new_lesions is None
    ]
    if problems:
        raise RecistInputError(source, problems)
    record = RecistRecord(
        randomized=parsed.randomized,
        assessments=tuple(
            Assessment(
                date=a.date,
                target=tuple(TargetLesion(t.id, t.organ, t.nodal, t.diameter_mm, t.too_small) for t in a.target),
                non_target=tuple(NonTargetLesion(n.id, n.organ, n.nodal, n.status) for n in a.non_target),
                new_lesions=bool(a.new_lesions),
            )
            for a in parsed.assessments
        ),
    )
    check_record(record, source=source)
    return record


def parse_record(text: str, *, source: str = "<record>") -> RecistRecord:
    """JSON text → checked :class:`RecistRecord`; :class:`RecistInputError` on bad JSON or bad fields."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise RecistInputError(source, [(where, f"not valid JSON: {exc.msg}")]) from None
    return record_from_data(data, source=source)


def record_to_data(record: RecistRecord) -> dict[str, Any]:
    """A record as plain JSON-compatible data in the input shape (inverse of :func:`record_from_data`)."""
    return {
        "randomized": record.randomized.isoformat(),
        "assessments": [
            {
                "date": a.date.isoformat(),
                "target": [
                    {
                        "id": t.id,
                        "organ": t.organ,
                        "nodal": t.nodal,
                        "diameter_mm": t.diameter_mm,
                        "too_small": t.too_small,
                    }
                    for t in a.target
                ],
                "non_target": [
                    {"id": n.id, "organ": n.organ, "nodal": n.nodal, "status": n.status.value} for n in a.non_target
                ],
                "new_lesions": a.new_lesions,
            }
            for a in record.assessments
        ],
    }


def _round(value: float | None, digits: int | None) -> float | None:
    if value is None or digits is None:
        return value
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def result_to_data(result: RecistResult, *, digits: int | None = 2) -> dict[str, Any]:
    """A result as plain JSON-compatible data (dates ISO, categories as their RECIST labels, numbers rounded
    to ``digits`` decimals; None keeps full precision)."""
    best = result.best
    return {
        "baseline": {"date": result.baseline_date.isoformat(), "sum_mm": _round(result.baseline_sum_mm, digits)},
        "timepoints": [
            {
                "date": tp.date.isoformat(),
                "sum_mm": _round(tp.sum_mm, digits),
                "nadir_mm": _round(tp.nadir_mm, digits),
                "pct_from_baseline": _round(tp.pct_from_baseline, digits),
                "pct_from_nadir": _round(tp.pct_from_nadir, digits),
                "target": None if tp.target is None else tp.target.value,
                "non_target": None if tp.non_target is None else tp.non_target.value,
                "new_lesions": tp.new_lesions,
                "overall": tp.overall.value,
            }
            for tp in result.timepoints
        ],
        "best_overall_response": best.response.value,
        "response_date": None if best.response_date is None else best.response_date.isoformat(),
        "confirmation_date": None if best.confirmation_date is None else best.confirmation_date.isoformat(),
        "progression_date": None if best.progression_date is None else best.progression_date.isoformat(),
        "best_pct_change": _round(best.best_pct_change, digits),
    }
