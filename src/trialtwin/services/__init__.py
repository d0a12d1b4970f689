"""Use cases of the real trial service: one transaction each (load → engine → save + audit).

May import only ``trialtwin.protocol``, ``trialtwin.engine`` and ``trialtwin.store`` (DESIGN.md layer
table). Every use case takes the database, its data, then keyword-only ``actor`` (user id) and ``clock``
(a callable giving the server's timezone-aware time), and runs in its own transaction. The ``*_in``
variants take a :class:`UnitOfWork` instead, to compose several steps in one transaction.
See docs/service/store-and-audit.md.
"""

from trialtwin.services.assessments import (
    NewLesion,
    NonTargetFinding,
    TargetMeasurement,
    TimepointResult,
    TumourAssessmentIn,
    get_assessments,
    record_tumour_assessment,
    record_tumour_assessment_in,
)
from trialtwin.services.clinical_common import FieldError
from trialtwin.services.corrections import CorrectionResult, correct_record, correct_record_in
from trialtwin.services.errors import AlreadyRandomized, PermissionDenied, ServiceError, WorkflowError
from trialtwin.services.events import (
    AdverseEventIn,
    AdverseEventRecord,
    DispositionRecord,
    record_adverse_event,
    record_adverse_event_in,
    record_death,
    record_end_of_treatment,
    record_new_anticancer_therapy,
    record_survival_contact,
    record_withdrawal,
    resolve_adverse_event,
)
from trialtwin.services.export import export_frames
from trialtwin.services.labs import LabResult, record_labs, record_labs_in
from trialtwin.services.randomize import RandomizationResult, get_randomization, randomize, randomize_in
from trialtwin.services.records import ClinicalRecordView, FactsRecord, get_clinical_record, get_facts
from trialtwin.services.schedule import PlannedDose, PlannedScan, ScheduleView, get_schedule
from trialtwin.services.studies import StudyInfo, load_study, study_protocol
from trialtwin.services.subjects import (
    EligibilityRecord,
    ScreeningRecord,
    enter_eligibility,
    enter_eligibility_in,
    get_eligibility,
    get_screening,
    record_consent,
    record_consent_in,
    register_screening,
    register_screening_in,
)
from trialtwin.services.uow import Clock, UnitOfWork, system_clock
from trialtwin.services.users import (
    UserInfo,
    authenticate,
    bootstrap_admin,
    create_user,
    deactivate_user,
    grant_role,
    revoke_role,
)
from trialtwin.services.visits import (
    BaselineIn,
    BaselineRecord,
    DosingVisitIn,
    DosingVisitResult,
    record_baseline,
    record_baseline_in,
    record_dosing_visit,
    record_dosing_visit_in,
)
from trialtwin.store.db import Database  # re-exported for the web layer, which may not import the store
from trialtwin.store.errors import RecordNotFound, StoreError

__all__ = [
    "AdverseEventIn",
    "AdverseEventRecord",
    "AlreadyRandomized",
    "BaselineIn",
    "BaselineRecord",
    "ClinicalRecordView",
    "Clock",
    "CorrectionResult",
    "Database",
    "DispositionRecord",
    "DosingVisitIn",
    "DosingVisitResult",
    "EligibilityRecord",
    "FactsRecord",
    "FieldError",
    "LabResult",
    "NewLesion",
    "NonTargetFinding",
    "PermissionDenied",
    "PlannedDose",
    "PlannedScan",
    "RandomizationResult",
    "RecordNotFound",
    "ScheduleView",
    "ScreeningRecord",
    "ServiceError",
    "StoreError",
    "StudyInfo",
    "TargetMeasurement",
    "TimepointResult",
    "TumourAssessmentIn",
    "UnitOfWork",
    "UserInfo",
    "WorkflowError",
    "authenticate",
    "bootstrap_admin",
    "correct_record",
    "correct_record_in",
    "create_user",
    "deactivate_user",
    "enter_eligibility",
    "enter_eligibility_in",
    "export_frames",
    "get_assessments",
    "get_clinical_record",
    "get_eligibility",
    "get_facts",
    "get_randomization",
    "get_schedule",
    "get_screening",
    "grant_role",
    "load_study",
    "randomize",
    "randomize_in",
    "record_adverse_event",
    "record_adverse_event_in",
    "record_baseline",
    "record_baseline_in",
    "record_consent",
    "record_consent_in",
    "record_death",
    "record_dosing_visit",
    "record_dosing_visit_in",
    "record_end_of_treatment",
    "record_labs",
    "record_labs_in",
    "record_new_anticancer_therapy",
    "record_survival_contact",
    "record_tumour_assessment",
    "record_tumour_assessment_in",
    "record_withdrawal",
    "register_screening",
    "register_screening_in",
    "resolve_adverse_event",
    "revoke_role",
    "study_protocol",
    "system_clock",
]
