"""User accounts and roles: create, grant, revoke, disable, check a password. Every change is audited.

Passwords are hashed with Argon2id (RFC 9106; argon2-cffi's default low-memory profile) and must have at
least 12 characters (OWASP ASVS 5.0 6.2.1; requirement G17). Usernames are unique and, since no row is ever
deleted, never reused (21 CFR 11.100(a), 11.300(a)); "deleting" a user disables the account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from trialtwin.services.access import ADMINS, require_role
from trialtwin.services.errors import ServiceError
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.repositories import count_users, get_site, get_user_by_username
from trialtwin.store.tables import Role, RoleAssignment, User

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{2,149}$")
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    active: bool


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.display_name, user.active)


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` after the length policy (``ServiceError`` when it fails)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ServiceError(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters (got {len(password)})"
        )
    return _hasher.hash(password)


def _check_username(session_username: str) -> None:
    if not _USERNAME.match(session_username):
        raise ServiceError(
            f"username {session_username!r}: 3-150 characters, letters, digits and . _ @ - (starting with a "
            "letter or digit)"
        )


def _new_user(uow: UnitOfWork, username: str, display_name: str, password: str) -> User:
    _check_username(username)
    if not display_name.strip():
        raise ServiceError("a user needs a display name (the printed name of their signatures)")
    taken = uow.session.execute(select(User.id).where(User.username == username)).first()
    if taken is not None:
        raise ServiceError(f"username {username!r} exists or existed; usernames are never reused")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        active=True,
        created_at=uow.now,
    )
    uow.audit.create(user)
    return user


def bootstrap_admin(db: Database, username: str, display_name: str, password: str, *, clock: Clock) -> UserInfo:
    """Create the first account, an administrator at every site; refused once any account exists."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        if count_users(uow.session):
            raise ServiceError("the first administrator exists already; ask an administrator for an account")
        user = _new_user(uow, username, display_name, password)
        uow.actor = user.id
        uow.audit.create(
            RoleAssignment(
                user_id=user.id,
                role=Role.ADMIN.value,
                site_id=None,
                active=True,
                granted_at=uow.now,
                granted_by=user.id,
            )
        )
        return _info(user)


def create_user(db: Database, username: str, display_name: str, password: str, *, actor: int, clock: Clock) -> UserInfo:
    """Create an account (administrators only). It has no role until one is granted."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        return _info(_new_user(uow, username, display_name, password))


def grant_role(
    db: Database,
    username: str,
    role: Role | str,
    *,
    study_id: str | None = None,
    site: str | None = None,
    actor: int,
    clock: Clock,
) -> int:
    """Grant ``role`` at ``site`` of ``study_id`` (or at every site without ``site``); returns the
    assignment id (administrators only)."""
    try:
        role = Role(role)
    except ValueError:
        raise ServiceError(f"unknown role {role!r} (roles: {', '.join(r.value for r in Role)})") from None
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        user = get_user_by_username(uow.session, username)
        site_pk = None
        if site is not None:
            if study_id is None:
                raise ServiceError("a site-scoped role needs the study id of the site")
            site_pk = get_site(uow.session, study_id, site).id
        assignment = RoleAssignment(
            user_id=user.id, role=role.value, site_id=site_pk, active=True, granted_at=uow.now, granted_by=actor
        )
        uow.audit.create(assignment)
        return assignment.id


def revoke_role(db: Database, assignment_id: int, *, reason: str, actor: int, clock: Clock) -> None:
    """Revoke a role assignment (it stays on record, inactive; administrators only)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        assignment = uow.session.get(RoleAssignment, assignment_id)
        if assignment is None:
            raise ServiceError(f"no role assignment {assignment_id}")
        if not assignment.active:
            raise ServiceError(f"role assignment {assignment_id} is revoked already")
        uow.audit.update(assignment, {"active": False}, reason=reason)


def deactivate_user(db: Database, username: str, *, reason: str, actor: int, clock: Clock) -> None:
    """Disable an account (it stays on record and its username is never reused; administrators only)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        user = get_user_by_username(uow.session, username)
        if not user.active:
            raise ServiceError(f"user {username!r} is disabled already")
        uow.audit.update(user, {"active": False}, reason=reason)


def authenticate(db: Database, username: str, password: str) -> UserInfo | None:
    """The active user with this username and password, else ``None`` (logging the attempt is the web
    layer's job; nothing is written here)."""
    with db.read_session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or not user.active:
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return _info(user)
