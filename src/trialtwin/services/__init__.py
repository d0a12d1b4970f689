"""Use cases of the real trial service: one transaction each (load → engine → save + audit).

May import only ``trialtwin.protocol``, ``trialtwin.engine`` and ``trialtwin.store`` (DESIGN.md layer
table). Every use case takes the database, its data, then keyword-only ``actor`` (user id) and ``clock``
(a callable giving the server's timezone-aware time), and runs in its own transaction. The ``*_in``
variants take a :class:`UnitOfWork` instead, to compose several steps in one transaction.
See docs/service/store-and-audit.md.
"""

from trialtwin.services.errors import AlreadyRandomized, PermissionDenied, ServiceError, WorkflowError
from trialtwin.services.randomize import RandomizationResult, get_randomization, randomize, randomize_in
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

__all__ = [
    "AlreadyRandomized",
    "Clock",
    "EligibilityRecord",
    "PermissionDenied",
    "RandomizationResult",
    "ScreeningRecord",
    "ServiceError",
    "StudyInfo",
    "UnitOfWork",
    "UserInfo",
    "WorkflowError",
    "authenticate",
    "bootstrap_admin",
    "create_user",
    "deactivate_user",
    "enter_eligibility",
    "enter_eligibility_in",
    "get_eligibility",
    "get_randomization",
    "get_screening",
    "grant_role",
    "load_study",
    "randomize",
    "randomize_in",
    "record_consent",
    "record_consent_in",
    "register_screening",
    "register_screening_in",
    "revoke_role",
    "study_protocol",
    "system_clock",
]
