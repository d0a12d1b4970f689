"""The clinical part of the subject overview, read through the services: the schedule from the protocol
(``services.schedule``), the tumour assessments (``services.assessments``); and the e-signatures with their status
(``services.signatures``), shown at every stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import Database
from trialtwin.services.assessments import get_assessments
from trialtwin.services.schedule import ScheduleView, get_schedule
from trialtwin.services.signatures import SignatureView, list_signatures

SCHEDULE_WEEKS = 24


@dataclass(frozen=True, slots=True)
class ClinicalRecord:
    schedule: ScheduleView | None
    schedule_note: str | None
    assessments: dict[str, list[Any]]


def clinical_record(db: Database, study_id: str, screening_id: str) -> ClinicalRecord:
    """What the overview shows of a randomized subject (a schedule that cannot be built yet, e.g. a
    physician's-choice arm before the first dosing visit, is explained instead of shown)."""
    schedule: ScheduleView | None
    note = None
    try:
        schedule = get_schedule(db, study_id, screening_id, weeks=SCHEDULE_WEEKS)
    except TrialtwinError as exc:
        schedule, note = None, str(exc)
    assessments = {reader: list(items) for reader, items in get_assessments(db, study_id, screening_id).items()}
    return ClinicalRecord(schedule, note, assessments)


def signatures_of(db: Database, study_id: str, screening_id: str) -> list[SignatureView]:
    return list_signatures(db, study_id, screening_id)
