"""Look-ups by business key (study id, site code, screening id, username), optionally locking the row.

Writes go through :class:`trialtwin.store.audit.AuditRecorder` so that each one is audited; these functions
only read. ``for_update`` adds ``FOR UPDATE`` (PostgreSQL row lock; a no-op on SQLite, whose write
transactions already hold the database lock).
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, bindparam, func, select
from sqlalchemy.orm import Session

from trialtwin.store.errors import RecordNotFound
from trialtwin.store.tables import (
    Consent,
    EligibilityVerdict,
    LedgerEntry,
    RoleAssignment,
    ScreeningFacts,
    Site,
    Study,
    Subject,
    User,
)
from trialtwin.store.tables_access import ApiToken


def get_study(session: Session, study_id: str) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        known = ", ".join(session.execute(select(Study.id).order_by(Study.id)).scalars()) or "none loaded"
        raise RecordNotFound(f"study {study_id!r} is not loaded (studies: {known})")
    return study


def get_site(session: Session, study_id: str, code: str, *, for_update: bool = False) -> Site:
    query = select(Site).where(Site.study_id == study_id, Site.code == code)
    if for_update:
        query = query.with_for_update()
    site = session.execute(query).scalar_one_or_none()
    if site is None:
        raise RecordNotFound(f"study {study_id!r} has no site {code!r}")
    return site


def count_subjects_at_site(session: Session, site_pk: int) -> int:
    return session.execute(select(func.count()).select_from(Subject).where(Subject.site_id == site_pk)).scalar_one()


def get_subject(session: Session, study_id: str, screening_id: str, *, for_update: bool = False) -> Subject:
    query = select(Subject).where(Subject.study_id == study_id, Subject.screening_id == screening_id)
    if for_update:
        query = query.with_for_update()
    subject = session.execute(query).scalar_one_or_none()
    if subject is None:
        raise RecordNotFound(f"study {study_id!r} has no subject with screening id {screening_id!r}")
    return subject


def consent_of(session: Session, subject_pk: int) -> Consent | None:
    """The subject's latest consent, if any."""
    query = select(Consent).where(Consent.subject_id == subject_pk).order_by(Consent.id.desc()).limit(1)
    return session.execute(query).scalar_one_or_none()


def latest_facts(session: Session, subject_pk: int) -> ScreeningFacts | None:
    """The subject's latest facts version, if any."""
    query = (
        select(ScreeningFacts)
        .where(ScreeningFacts.subject_id == subject_pk)
        .order_by(ScreeningFacts.version.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def facts_history(session: Session, subject_pk: int) -> list[ScreeningFacts]:
    """Every facts version of the subject, oldest first (corrections never overwrite)."""
    query = select(ScreeningFacts).where(ScreeningFacts.subject_id == subject_pk).order_by(ScreeningFacts.version)
    return list(session.execute(query).scalars())


def verdict_for(session: Session, facts_pk: int) -> EligibilityVerdict | None:
    query = select(EligibilityVerdict).where(EligibilityVerdict.facts_id == facts_pk)
    return session.execute(query).scalar_one_or_none()


def ledger_entry_for(session: Session, subject_pk: int) -> LedgerEntry | None:
    return session.execute(select(LedgerEntry).where(LedgerEntry.subject_id == subject_pk)).scalar_one_or_none()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise RecordNotFound(f"no user with id {user_id}")
    return user


def get_user_by_username(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise RecordNotFound(f"no user {username!r}")
    return user


def count_users(session: Session) -> int:
    return session.execute(select(func.count()).select_from(User)).scalar_one()


def active_grants(session: Session, user_id: int) -> list[tuple[str, str | None, int | None, str | None]]:
    """The user's active roles as ``(role, site code, site id, study id)`` (site fields ``None`` for a role at
    every site), in grant order: one query, for the identity read on every request."""
    query = (
        select(RoleAssignment.role, Site.code, Site.id, Site.study_id)
        .outerjoin(Site, Site.id == RoleAssignment.site_id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.active.is_(True))
        .order_by(RoleAssignment.id)
    )
    return [(role, code, site_id, study_id) for role, code, site_id, study_id in session.execute(query)]


#: The rows of an API token: the token, its user and one row per active role of the user (``role`` is NULL
#: when there is none), in grant order. Core, one statement: it runs on every request made with a token.
_TOKEN_ROWS = (
    select(
        ApiToken.id.label("token_pk"),
        ApiToken.study_id.label("token_study"),
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.id.label("user_id"),
        User.username,
        User.display_name,
        User.active,
        User.must_change_password,
        RoleAssignment.role,
        Site.code.label("site"),
        Site.id.label("site_id"),
        Site.study_id.label("site_study"),
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(RoleAssignment, (RoleAssignment.user_id == User.id) & RoleAssignment.active.is_(True))
    .outerjoin(Site, Site.id == RoleAssignment.site_id)
    .where(ApiToken.token_hash == bindparam("digest"))
    .order_by(RoleAssignment.id)
)
_SUBJECT_SITE = (
    select(Site.code)
    .join(Subject, Subject.site_id == Site.id)
    .where(Subject.study_id == bindparam("study"), Subject.screening_id == bindparam("screening_id"))
)
_TOKEN_ROWS_AT_SUBJECT = _TOKEN_ROWS.add_columns(_SUBJECT_SITE.scalar_subquery().label("subject_site"))


def token_rows(connection: Connection, digest: str, subject: tuple[str, str] | None = None) -> list[RowMapping]:
    """The rows of the API token whose SHA-256 is ``digest`` (none: unknown): token, user and one row per active
    role (see :data:`_TOKEN_ROWS`); with ``subject`` = (study, screening id), each row also gives the code of
    that subject's site as ``subject_site`` (``None``: no such subject). One statement."""
    if subject is None:
        return list(connection.execute(_TOKEN_ROWS, {"digest": digest}).mappings())
    params = {"digest": digest, "study": subject[0], "screening_id": subject[1]}
    return list(connection.execute(_TOKEN_ROWS_AT_SUBJECT, params).mappings())


def subject_site_code(session: Session, study_id: str, screening_id: str) -> str:
    """The code of the site a subject belongs to (one query; the access check of every subject route).
    :class:`RecordNotFound` as :func:`get_subject` for an unknown subject."""
    code = session.execute(
        select(Site.code)
        .join(Subject, Subject.site_id == Site.id)
        .where(Subject.study_id == study_id, Subject.screening_id == screening_id)
    ).scalar_one_or_none()
    if code is None:
        raise RecordNotFound(f"study {study_id!r} has no subject with screening id {screening_id!r}")
    return code


def active_roles(session: Session, user_id: int) -> list[RoleAssignment]:
    query = (
        select(RoleAssignment)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.active.is_(True))
        .order_by(RoleAssignment.id)
    )
    return list(session.execute(query).scalars())
