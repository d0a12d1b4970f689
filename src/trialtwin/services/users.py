"""User accounts and roles: create, grant, revoke, disable, enable, check a password, the access review.

Every change is audited (the audit trail records creation and every role or account change with who, when and
the reason) and also written to the security log (ICH E6(R3) 4.2.2(a)(i); ASVS 16.3.1-16.3.2; requirement A6).

Passwords are hashed with Argon2id (RFC 9106; argon2-cffi's default low-memory profile) and must pass the
password policy of :mod:`trialtwin.services.passwords` (12-1024 characters, not common, not breached, not the
username; OWASP ASVS 5.0 6.2.1, 6.2.4, 6.2.9, 6.2.11, 6.2.12; requirement G17). Usernames are unique and, since
no row is ever deleted, never reused (21 CFR 11.100(a), 11.300(a); requirement C4); "deleting" a user disables
the account. Disabling ends the user's sessions and revokes their API tokens at once (ICH E6(R3) 4.3.8(b);
ASVS 7.4.2; requirement B5), so re-enabling the account later does not bring an old session back.

A user changes their own password with :func:`change_password` (21 CFR 11.300(b), passwords periodically
revised; ASVS 6.2.2-6.2.3: the current and the new password are both required): a wrong current password is
counted and logged like a failed login (the same lock after 10 failures; ASVS 6.3.1; G17), and a change ends the
user's other sessions and revokes their API tokens (ASVS 7.4.3) through the same step that disabling uses.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from trialtwin.services.access import ADMINS, require_role
from trialtwin.services.errors import PermissionDenied, ServiceError, WorkflowError
from trialtwin.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, WeakPassword, check_password
from trialtwin.services.sessions import (
    LOCK_WINDOW,
    MAX_FAILURES,
    AccountLocked,
    _recent_failures,
    check_credentials,
    log_event,
)
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.errors import RecordNotFound
from trialtwin.store.repositories import count_users, get_site, get_user_by_username
from trialtwin.store.tables import AuditLog, Role, RoleAssignment, Site, User
from trialtwin.store.tables_access import ApiToken, SecurityEvent, WebSession

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "AccountFieldError",
    "GrantReview",
    "PasswordChanged",
    "PasswordReset",
    "UserInfo",
    "UserReview",
    "UsernameTaken",
    "WrongPassword",
    "access_review",
    "authenticate",
    "bootstrap_admin",
    "change_password",
    "create_user",
    "deactivate_user",
    "end_sessions_and_tokens",
    "grant_role",
    "hash_password",
    "reactivate_user",
    "reset_password",
    "revoke_role",
]
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{2,149}$")
_hasher = PasswordHasher()


class AccountFieldError(ServiceError):
    """Bad account data; ``field`` names the request field (the web layer answers 422 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UsernameTaken(WorkflowError):
    """The username exists or existed (answered 409): usernames are never reused (21 CFR 11.300(a); C4)."""

    field = "username"


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    active: bool


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.display_name, user.active)


def hash_password(password: str, *, username: str | None = None) -> str:
    """The Argon2id hash of ``password`` after the password policy (:class:`~trialtwin.services.passwords.
    WeakPassword` when it fails; the message never repeats the password)."""
    check_password(password, username=username)
    return _hasher.hash(password)


def _check_username(session_username: str) -> None:
    if not _USERNAME.match(session_username):
        raise AccountFieldError(
            "username",
            f"username {session_username[:160]!r}: 3-150 characters, letters, digits and . _ @ - (starting with a "
            "letter or digit)",
        )


def _new_user(uow: UnitOfWork, username: str, display_name: str, password: str) -> User:
    _check_username(username)
    if not display_name.strip():
        raise AccountFieldError("display_name", "a user needs a display name (the printed name of their signatures)")
    if len(display_name.strip()) > 200:
        raise AccountFieldError("display_name", "a display name has at most 200 characters")
    taken = uow.session.execute(select(User.id).where(func.lower(User.username) == username.lower())).first()
    if taken is not None:
        raise UsernameTaken(f"username {username!r} exists or existed; usernames are never reused")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password, username=username),
        active=True,
        created_at=uow.now,
    )
    uow.audit.create(user)
    log_event(uow, "user_created", username, user.id, f"by user id {uow.actor}" if uow.actor else "first administrator")
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
        log_event(uow, "role_granted", user.username, user.id, "admin at every site (first administrator)")
        return _info(user)


def create_user(db: Database, username: str, display_name: str, password: str, *, actor: int, clock: Clock) -> UserInfo:
    """Create an account (administrators only). It has no role until one is granted."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        return _info(_new_user(uow, username, display_name, password))


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise AccountFieldError("reason", "a reason is required (it goes into the audit trail)")
    if len(text) > 2000:
        raise AccountFieldError("reason", "a reason has at most 2000 characters")
    return text


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
    assignment id (administrators only). Audited and security-logged (A6); recorded with who granted it and
    when (B6)."""
    try:
        role = Role(role)
    except ValueError:
        raise AccountFieldError(
            "role", f"unknown role {str(role)[:40]!r} (roles: {', '.join(r.value for r in Role)})"
        ) from None
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        user = get_user_by_username(uow.session, username)
        site_pk = None
        if site is not None:
            if study_id is None:
                raise AccountFieldError("site", "a site-scoped role needs the study id of the site")
            try:
                site_pk = get_site(uow.session, study_id, site).id
            except RecordNotFound as exc:
                raise AccountFieldError("site", str(exc)) from None
        assignment = RoleAssignment(
            user_id=user.id, role=role.value, site_id=site_pk, active=True, granted_at=uow.now, granted_by=actor
        )
        uow.audit.create(assignment)
        where = f"site {study_id}/{site}" if site is not None else "every site"
        log_event(uow, "role_granted", user.username, user.id, f"{role.value} at {where} by user id {actor}")
        return assignment.id


def revoke_role(
    db: Database, assignment_id: int, *, reason: str, actor: int, clock: Clock, study_id: str | None = None
) -> str:
    """Revoke a role assignment (it stays on record, inactive; administrators only); returns the username.
    Roles are read afresh at every request, so the user's next request is judged without it (B5). With
    ``study_id``, an assignment at another study's site is not found."""
    reason = _reason(reason)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        assignment = uow.session.get(RoleAssignment, assignment_id)
        site = uow.session.get(Site, assignment.site_id) if assignment and assignment.site_id is not None else None
        if assignment is None or (study_id is not None and site is not None and site.study_id != study_id):
            raise RecordNotFound(
                f"no role assignment {assignment_id}" + (f" in study {study_id!r}" if study_id else "")
            )
        if not assignment.active:
            raise WorkflowError(f"role assignment {assignment_id} is revoked already")
        uow.audit.update(assignment, {"active": False}, reason=reason)
        user = uow.session.get(User, assignment.user_id)
        log_event(
            uow,
            "role_revoked",
            user.username if user else "?",
            assignment.user_id,
            f"{assignment.role} (assignment {assignment_id}) by user id {actor}: {reason}",
        )
        return user.username if user else "?"


def end_sessions_and_tokens(
    uow: UnitOfWork, user: User, reason: str, *, keep_session: int | None = None
) -> tuple[int, int]:
    """End ``user``'s live browser sessions (all but the session with primary key ``keep_session``) and revoke
    all their live API tokens, in ``uow``'s transaction; each ended session is security-logged with ``reason``.
    Returns ``(sessions ended, tokens revoked)``. The one place that cuts a user's access: disabling an account
    (ICH E6(R3) 4.3.8(b); ASVS 7.4.2; B5) and a password change (ASVS 7.4.3) both use it."""
    query = select(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
    if keep_session is not None:
        query = query.where(WebSession.id != keep_session)
    ended = 0
    for row in uow.session.execute(query).scalars():
        row.ended_at, row.end_reason = uow.now, reason
        log_event(uow, "session_end", user.username, user.id, reason)
        ended += 1
    revoked = 0
    for token in uow.session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars():
        token.revoked_at = uow.now
        revoked += 1
    return ended, revoked


def _another_active_account(uow: UnitOfWork, username: str, *, own: str, disabled: str) -> User:
    """The account ``username`` that an administrator (the unit of work's actor) acts on: not their own
    (:class:`WorkflowError` ``own``) and active (``disabled``); administrators only."""
    assert uow.actor is not None
    require_role(uow.session, uow.actor, ADMINS)
    user = get_user_by_username(uow.session, username)
    if user.id == uow.actor:
        raise WorkflowError(own)
    if not user.active:
        raise WorkflowError(disabled)
    return user


def deactivate_user(db: Database, username: str, *, reason: str, actor: int, clock: Clock) -> None:
    """Disable an account (it stays on record and its username is never reused; administrators only). Its live
    sessions end and its API tokens are revoked in the same transaction (B5)."""
    reason = _reason(reason)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        user = _another_active_account(
            uow,
            username,
            own="an administrator cannot disable their own account; ask another administrator",
            disabled=f"user {username!r} is disabled already",
        )
        uow.audit.update(user, {"active": False}, reason=reason)
        ended, revoked = end_sessions_and_tokens(uow, user, "user_disabled")
        log_event(
            uow,
            "user_disabled",
            user.username,
            user.id,
            f"by user id {actor}: {reason}; {ended} session(s) ended, {revoked} token(s) revoked",
        )


@dataclass(frozen=True, slots=True)
class PasswordReset:
    """A done password reset: whose, when, and how many sessions ended and API tokens were revoked."""

    username: str
    reset_at: dt.datetime
    sessions_ended: int
    tokens_revoked: int


def reset_password(
    db: Database, username: str, new_password: str, *, reason: str, actor: int, clock: Clock
) -> PasswordReset:
    """An administrator sets another user's password (a forgotten password, a suspected compromise), with a
    reason; administrators only. The same rules as a new account's password (the password policy of
    :mod:`trialtwin.services.passwords`: :class:`WeakPassword` naming ``password``); the new Argon2id
    hash is audited (it reads ``[redacted]`` in the trail), every session of the user ends and every API token
    is revoked (ASVS 7.4.3; B5), and a ``password_reset`` security-log entry names the administrator and the
    reason (A6), all in one transaction. The new password is good for one use: the account must choose its own
    before anything else (``must_change_password``; ASVS 5.0 6.4.1). One's own password is changed with the
    current one instead (:func:`change_password`; 21 CFR 11.300(b), ASVS 6.2.3), so an administrator's own
    reset is refused. The
    administrator tells the user the new password out of band, as for a new account."""
    reason = _reason(reason)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        user = _another_active_account(
            uow,
            username,
            own="change your own password with your current one (POST /api/v1/me/password)",
            disabled=f"user {username!r} is disabled; enable the account first",
        )
        new_hash = hash_password(new_password, username=user.username)
        uow.audit.update(user, {"password_hash": new_hash, "must_change_password": True}, reason=reason)
        ended, revoked = end_sessions_and_tokens(uow, user, "password_reset")
        log_event(
            uow,
            "password_reset",
            user.username,
            user.id,
            f"by user id {actor}: {reason}; {ended} session(s) ended, {revoked} token(s) revoked",
        )
        return PasswordReset(user.username, uow.now, ended, revoked)


def reactivate_user(db: Database, username: str, *, reason: str, actor: int, clock: Clock) -> None:
    """Enable a disabled account again (administrators only; audited). Its old sessions and tokens stay ended:
    the user logs in afresh."""
    reason = _reason(reason)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        user = get_user_by_username(uow.session, username)
        if user.active:
            raise WorkflowError(f"user {username!r} is active already")
        uow.audit.update(user, {"active": True}, reason=reason)
        log_event(uow, "user_enabled", user.username, user.id, f"by user id {actor}: {reason}")


@dataclass(frozen=True, slots=True)
class GrantReview:
    """One role assignment as the access review shows it (B6, C6): granted by whom and when; active, or revoked
    by whom, when and why (read from the audit trail)."""

    id: int
    role: str
    study_id: str | None
    site: str | None
    active: bool
    granted_at: dt.datetime
    granted_by: str
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


@dataclass(frozen=True, slots=True)
class UserReview:
    """One account in the access review: its state, last successful login and every grant."""

    id: int
    username: str
    display_name: str
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    grants: tuple[GrantReview, ...]


def access_review(db: Database, *, study_id: str | None = None) -> list[UserReview]:
    """Every account with every role it was ever granted (active or revoked), who granted it and when, and the
    last successful login (ICH E6(R3) 4.3.8(c); 21 CFR 11.300(b); requirements B6, C6). With ``study_id``,
    only the grants at that study's sites and those at every site are listed (accounts are service-wide, so
    every account is listed)."""
    with db.read_session() as session:
        users = list(session.execute(select(User).order_by(User.id)).scalars())
        names = {u.id: u.username for u in users}
        sites = {s.id: s for s in session.execute(select(Site)).scalars()}
        logins = dict(
            session.execute(
                select(SecurityEvent.user_id, func.max(SecurityEvent.at))
                .where(SecurityEvent.event == "login_ok", SecurityEvent.user_id.is_not(None))
                .group_by(SecurityEvent.user_id)
            ).all()
        )
        revocations = {  # from the audit trail: the update that set ``active`` false (the last one wins)
            row.record_id: (row.at, names.get(row.user_id, f"#{row.user_id}"), row.reason)
            for row in session.execute(
                select(AuditLog)
                .where(AuditLog.table_name == RoleAssignment.__tablename__, AuditLog.action == "update")
                .order_by(AuditLog.seq)
            ).scalars()
        }
        by_user: dict[int, list[GrantReview]] = {}
        for a in session.execute(select(RoleAssignment).order_by(RoleAssignment.id)).scalars():
            site = sites.get(a.site_id) if a.site_id is not None else None
            if study_id is not None and site is not None and site.study_id != study_id:
                continue
            by_user.setdefault(a.user_id, []).append(
                GrantReview(
                    a.id,
                    a.role,
                    site.study_id if site else None,
                    site.code if site else None,
                    a.active,
                    a.granted_at,
                    names.get(a.granted_by, f"#{a.granted_by}"),
                    *(revocations.get(str(a.id), (None, None, None)) if not a.active else (None, None, None)),
                )
            )
        return [
            UserReview(
                u.id,
                u.username,
                u.display_name,
                u.active,
                u.created_at,
                logins.get(u.id),
                tuple(by_user.get(u.id, ())),
            )
            for u in users
        ]


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


class WrongPassword(PermissionDenied):
    """The current password given with a password change is wrong (answered 403 naming ``current_password``;
    the attempt counts toward the login lock like a failed login; ASVS 6.2.3, 6.3.1; G17)."""

    field = "current_password"

    def __init__(self, message: str = "the current password is wrong") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """A done password change: when, and how many other sessions ended and API tokens were revoked."""

    user_id: int
    username: str
    changed_at: dt.datetime
    sessions_ended: int
    tokens_revoked: int


def change_password(
    db: Database,
    user_id: int,
    current_password: str,
    new_password: str,
    *,
    clock: Clock,
    keep_session: int | None = None,
) -> PasswordChanged:
    """The account holder changes their own password (21 CFR 11.300(b): passwords periodically revised; OWASP
    ASVS 5.0 6.2.2-6.2.3: the current and the new password are both required).

    * the current password is checked like a login (:func:`trialtwin.services.sessions.check_credentials`): a
      wrong one raises :class:`WrongPassword` and is logged as ``login_failed`` (``password_change: wrong
      password``), so it counts toward the lock after 10 failures in 15 minutes (ASVS 6.3.1; G17); while
      locked, :class:`~trialtwin.services.sessions.AccountLocked` without checking it. The failure is
      committed although the change is refused;
    * the new password must pass the password policy (:mod:`trialtwin.services.passwords`; ASVS 6.2.1,
      6.2.4, 6.2.9, 6.2.11, 6.2.12) and differ from the current one: :class:`AccountFieldError` naming
      ``new_password`` otherwise (nothing written);
    * the new Argon2id hash is stored with an audit entry (the hash itself reads ``[redacted]`` in the trail),
      the user's other sessions end (all but ``keep_session``, the session making the change) and all their
      API tokens are revoked (ASVS 7.4.3; B5), and a ``password_changed`` security-log entry is written
      (ASVS 16.3.1; A6) -- all in one transaction. No password appears in any message or log.
    """
    failure: PermissionDenied | AccountLocked | None = None
    done: PasswordChanged | None = None
    with UnitOfWork(db, actor=user_id, clock=clock) as uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active:
            raise PermissionDenied("this account is disabled or unknown")
        checked = check_credentials(uow, user.username, current_password, purpose="password_change")
        if checked is None:  # logged by check_credentials; committed below with nothing else
            if _recent_failures(uow, user.username) >= MAX_FAILURES:
                minutes = int(LOCK_WINDOW.total_seconds() // 60)
                failure = AccountLocked(f"too many failed attempts: this account is locked for {minutes} minutes")
            else:
                failure = WrongPassword()
        else:
            if new_password == current_password:
                raise AccountFieldError("new_password", "the new password must differ from the current one")
            try:
                new_hash = hash_password(new_password, username=user.username)
            except WeakPassword as exc:
                raise AccountFieldError("new_password", exc.message) from None
            changes: dict[str, object] = {"password_hash": new_hash}
            if user.must_change_password:
                changes["must_change_password"] = False  # the password an administrator set is used once
            uow.audit.update(user, changes, reason="password changed by the account holder")
            ended, revoked = end_sessions_and_tokens(uow, user, "password_changed", keep_session=keep_session)
            log_event(
                uow,
                "password_changed",
                user.username,
                user.id,
                f"by the account holder; {ended} other session(s) ended, {revoked} token(s) revoked",
            )
            done = PasswordChanged(user.id, user.username, uow.now, ended, revoked)
    if failure is not None or done is None:
        raise failure or ServiceError("the password was not changed")
    return done
