"""The clinical part of the subject overview, read through the services: the record as stored
(``services.get_clinical_record``: dosing visits with the engine's decisions, tumour assessments with the
RECIST 1.1 responses per reader, adverse events, disposition, death), the schedule from the protocol
(``services.schedule``); and the e-signatures with their status (``services.signatures``), shown at every
stage."""

from __future__ import annotations

from dataclasses import dataclass

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import ClinicalRecordView, Database, get_clinical_record
from trialtwin.services.schedule import ScheduleView, get_schedule
from trialtwin.services.signatures import SignatureView, list_signatures

SCHEDULE_WEEKS = 24
#: How the overview names the disposition events and codes.
EVENT_LABELS = {
    "end_of_treatment": "End of treatment",
    "new_anticancer_therapy": "New anticancer therapy",
    "end_of_study": "End of study",
}


@dataclass(frozen=True, slots=True)
class ClinicalRecord:
    schedule: ScheduleView | None
    schedule_note: str | None
    record: ClinicalRecordView

    @property
    def any_scan(self) -> bool:
        return any(self.record.assessments.values())


def clinical_record(db: Database, study_id: str, screening_id: str) -> ClinicalRecord:
    """What the overview shows of a randomized subject (a schedule that cannot be built yet, e.g. a
    physician's-choice arm before the first dosing visit, is explained instead of shown)."""
    schedule: ScheduleView | None
    note = None
    try:
        schedule = get_schedule(db, study_id, screening_id, weeks=SCHEDULE_WEEKS)
    except TrialtwinError as exc:
        schedule, note = None, str(exc)
    return ClinicalRecord(schedule, note, get_clinical_record(db, study_id, screening_id))


def signatures_of(db: Database, study_id: str, screening_id: str) -> list[SignatureView]:
    return list_signatures(db, study_id, screening_id)
