"""The service's tables (SQLAlchemy 2 typed declarative).

Nothing is physically deleted (21 CFR 11.10(e); ICH E6(R3) 4.2.2; requirement A3): a correction is a new
version (screening facts) or an audited update whose old value stays in the audit trail; "deleting" a user or
a role is setting ``active`` false. Database triggers (see the migrations) refuse ``DELETE`` on every table
here and any ``UPDATE`` of the audit log and the randomization ledger.

Every timestamp is timezone-aware UTC (:class:`UTCDateTime`, requirement A4/G21): it comes from the clock
the use case was given, never from the client. Dates that are clinical facts (consent date, lab date) are
plain ``Date`` values entered by the site.

The clinical tables at the end (exposure, labs, adverse events, lesions, responses, disposition, deaths)
mirror the columns of ``trialtwin.analysis.frames`` so the service's export can produce the same frames as
the twin; their use cases are in ``trialtwin.services`` (visits, assessments, events, corrections).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    Naive datetimes are refused on write (a timestamp without an offset is ambiguous; ICH E6(R3) 4.2.2(d));
    aware ones are stored in UTC. SQLite keeps no offset, so values read back are tagged UTC; PostgreSQL's
    ``timestamptz`` values are converted to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes (got {value!r})")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


# ---- enumerations stored as strings ----------------------------------------------------------------------------


class Role(StrEnum):
    """Roles of the access matrix (trial-system-requirements.md G10). Site roles are scoped to one site (or
    all sites when the assignment has no site)."""

    ADMIN = "admin"
    INVESTIGATOR = "investigator"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"
    DATA_MANAGER = "data_manager"
    STATISTICIAN = "statistician"
    SPONSOR = "sponsor"


class SubjectStatus(StrEnum):
    """Where a screened person is in the operational order consent → eligibility → randomize (B8)."""

    REGISTERED = "registered"
    CONSENTED = "consented"
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    INCOMPLETE = "incomplete"
    RANDOMIZED = "randomized"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"


# ---- reference data: studies, sites, users ------------------------------------------------------------------


class Study(Base):
    """A study loaded from a protocol file; ``protocol`` is the file's data, ``protocol_sha256`` its digest."""

    __tablename__ = "studies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nct_id: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    protocol: Mapped[dict[str, Any]]
    protocol_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime]
    loaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    code: Mapped[str] = mapped_column(String(64))
    facility: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    """A person's account. ``username`` is unique and, since rows are never deleted, never reused
    (21 CFR 11.100(a), 11.300(a))."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    #: Set by an administrator's password reset; cleared when the user changes it (migration 0005).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RoleAssignment(Base):
    """A role granted to a user, at one site (``site_id``) or at every site (``None``). Revoking sets
    ``active`` false."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    granted_at: Mapped[dt.datetime]
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


# ---- screening -----------------------------------------------------------------------------------------------


class Subject(Base):
    """A screened person. ``screening_id`` is given at registration; ``subject_number`` at randomization."""

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("study_id", "screening_id"), UniqueConstraint("study_id", "subject_number"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    screening_id: Mapped[str] = mapped_column(String(64))
    subject_number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    registered_at: Mapped[dt.datetime]
    registered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Consent(Base):
    """Informed consent: the date the subject signed (a clinical date) and the form version."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    consent_date: Mapped[dt.date] = mapped_column(Date)
    form_version: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ScreeningFacts(Base):
    """One version of a subject's eligibility facts, as entered (a correction is the next version)."""

    __tablename__ = "screening_facts"
    __table_args__ = (UniqueConstraint("subject_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    version: Mapped[int] = mapped_column(Integer)
    facts: Mapped[dict[str, Any]]
    entered_at: Mapped[dt.datetime]
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class EligibilityVerdict(Base):
    """The engine's verdict on one facts version: status, one result per criterion (id, kind, result,
    reason) and the derived stratification levels."""

    __tablename__ = "eligibility_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    facts_id: Mapped[int] = mapped_column(ForeignKey("screening_facts.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    criteria: Mapped[list[Any]]
    strata: Mapped[dict[str, Any]]
    evaluated_at: Mapped[dt.datetime]


# ---- randomization (IRT) ---------------------------------------------------------------------------------------


class RandomizationStateRow(Base):
    """The study's randomization state (``RandomizationState.to_dict()``), one row per study.

    ``version`` increases by one per allocation; SQLAlchemy checks it on every update (optimistic check
    on top of the row lock). ``seed`` is secret (allocation concealment, ICH E9 §2.3); ``seed_ref`` names it
    in the ledger.
    """

    __tablename__ = "randomization_state"

    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(BigInteger)
    seed_ref: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]]
    allocated: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it from the class)


class LedgerEntry(Base):
    """One allocation, never changed: subject, arm, stratum and its levels, global ``sequence`` (1, 2, …
    without gaps) and ``stratum_sequence`` (position in the stratum's list), block details, the seed
    reference, the state after the allocation with its version, and its ``source`` (see
    :mod:`trialtwin.store.tables_irt`)."""

    __tablename__ = "randomization_ledger"
    __table_args__ = (
        UniqueConstraint("study_id", "sequence"),
        UniqueConstraint("study_id", "stratum", "stratum_sequence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), unique=True)
    arm: Mapped[str] = mapped_column(String(64))
    stratum: Mapped[str] = mapped_column(String(255))
    stratum_sequence: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    block: Mapped[int | None] = mapped_column(Integer)
    block_size: Mapped[int | None] = mapped_column(Integer)
    block_position: Mapped[int | None] = mapped_column(Integer)
    levels: Mapped[dict[str, Any]]
    seed_ref: Mapped[str] = mapped_column(String(64))
    state_version: Mapped[int] = mapped_column(Integer)
    state_after: Mapped[dict[str, Any]]
    randomized_at: Mapped[dt.datetime]
    randomized_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: ``irt`` (allocated by the service) or ``manual`` (emergency list, reconciled; E9); migration 0004.
    source: Mapped[str] = mapped_column(String(16), default="irt", server_default="irt")


# ---- audit trail -----------------------------------------------------------------------------------------------


class AuditLog(Base):
    """One audit entry (21 CFR 11.10(e); ICH E6(R3) 4.2.2): who, when (server UTC), what record and fields,
    old and new values as canonical JSON, the reason, and the hash chain (see :mod:`trialtwin.store.audit`)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "table_name", "record_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    fields: Mapped[str] = mapped_column(Text)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last sequence number and hash (one row, ``id`` 1). Writers lock it to append; the
    verifier compares it with the chain's end (a truncation that forgot it is caught without a checkpoint)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed (sequence, head hash, timestamp): proof of the chain's state at a moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    algorithm: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


# ---- clinical data (columns of trialtwin.analysis.frames; use cases in trialtwin.services) -------------------------


class _Recorded:
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Visit(_Recorded, Base):
    """A dosing visit (``C<cycle>D<day>``) as entered: date, weight, the regimen dosed and, for a re-evaluated
    dose after a hold, the days since the scheduled day (``delay_days``)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    visit: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    cycle: Mapped[int | None] = mapped_column(Integer)
    cycle_day: Mapped[int | None] = mapped_column(Integer)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    regimen: Mapped[str | None] = mapped_column(String(64))
    delay_days: Mapped[int | None] = mapped_column(Integer)


class Exposure(_Recorded, Base):
    """Frame ``exposure``: one planned dosing day and the engine's decision, with the rules it cites
    (``source``) and the visit it was decided at (``visit_id``, a visits id)."""

    __tablename__ = "exposure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    cycle: Mapped[int] = mapped_column(Integer)
    cycle_day: Mapped[int] = mapped_column(Integer)
    drug: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(16))
    dose_level: Mapped[int] = mapped_column(Integer)
    planned_dose: Mapped[float] = mapped_column(Float)
    dose: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    dose_mg: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    visit_id: Mapped[int | None] = mapped_column(Integer)
    regimen: Mapped[str | None] = mapped_column(String(64))
    percent: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)


class Lab(_Recorded, Base):
    """Frame ``labs``: a result in the frame's unit with its CTCAE v5.0 grade, and the value and unit as
    entered with the normal limit used for grading."""

    __tablename__ = "labs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    test: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    grade: Mapped[int] = mapped_column(Integer)
    visit_id: Mapped[int | None] = mapped_column(Integer)
    entered_value: Mapped[float | None] = mapped_column(Float)
    entered_unit: Mapped[str | None] = mapped_column(String(32))
    lln: Mapped[float | None] = mapped_column(Float)
    uln: Mapped[float | None] = mapped_column(Float)


class AdverseEvent(_Recorded, Base):
    """Frame ``adverse_events``, plus what the dose-modification rules read (the administration the event
    follows, ``cycle``/``cycle_day``; fever, infection, control by supportive care, days at worst grade)."""

    __tablename__ = "adverse_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    term: Mapped[str] = mapped_column(String(200))
    grade: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    serious: Mapped[bool] = mapped_column(Boolean)
    related: Mapped[bool | None] = mapped_column(Boolean)
    cycle: Mapped[int | None] = mapped_column(Integer)
    cycle_day: Mapped[int | None] = mapped_column(Integer)
    febrile: Mapped[bool | None] = mapped_column(Boolean)
    infection: Mapped[bool | None] = mapped_column(Boolean)
    controlled: Mapped[bool | None] = mapped_column(Boolean)
    duration_days: Mapped[int | None] = mapped_column(Integer)
    lab_test: Mapped[str | None] = mapped_column(String(32))
    lab_value: Mapped[float | None] = mapped_column(Float)


class Lesion(_Recorded, Base):
    """Frame ``lesions``: one lesion measurement at one assessment (``too_small``: RECIST 1.1 "too small to
    measure", exported as 5 mm)."""

    __tablename__ = "lesions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    assessor: Mapped[str] = mapped_column(String(16))
    lesion_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    organ: Mapped[str] = mapped_column(String(64))
    nodal: Mapped[bool] = mapped_column(Boolean)
    diameter_mm: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(32))
    too_small: Mapped[bool | None] = mapped_column(Boolean)


class Response(_Recorded, Base):
    """Frame ``responses``: a RECIST 1.1 time-point response."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    assessor: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(16))
    non_target: Mapped[str | None] = mapped_column(String(16))
    new_lesions: Mapped[bool] = mapped_column(Boolean)
    overall: Mapped[str] = mapped_column(String(16))
    sum_mm: Mapped[float | None] = mapped_column(Float)
    pct_from_baseline: Mapped[float | None] = mapped_column(Float)


class Disposition(_Recorded, Base):
    """Frame ``disposition``: end of treatment / new anticancer therapy / end of study (``reason`` a code,
    ``detail`` free text)."""

    __tablename__ = "disposition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    event: Mapped[str] = mapped_column(String(32))
    date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class Death(_Recorded, Base):
    """Frame ``deaths``."""

    __tablename__ = "deaths"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), unique=True)
    date: Mapped[dt.date] = mapped_column(Date)
    cause: Mapped[str] = mapped_column(String(64))


class SubjectBaseline(_Recorded, Base):
    """Baseline measurements for the ``subjects`` frame and dosing: weight, height, ECOG performance status."""

    __tablename__ = "subject_baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), unique=True)
    weight_kg: Mapped[float] = mapped_column(Float)
    height_cm: Mapped[float] = mapped_column(Float)
    ecog: Mapped[int] = mapped_column(Integer)


class SurvivalContact(_Recorded, Base):
    """Frame ``survival_followup``: a contact after treatment at which the subject was known alive."""

    __tablename__ = "survival_followup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))


#: Tables whose rows are never deleted (database triggers enforce it): all of them.
GXP_TABLES: tuple[str, ...] = tuple(Base.metadata.tables)
#: Tables whose rows are never updated either.
APPEND_ONLY_TABLES: tuple[str, ...] = ("audit_log", "randomization_ledger", "audit_checkpoints")
