"""Log in, look up and end browser sessions; throttle password guessing; the security log.

Rules and their sources:

* a login creates a **new random session id** (256 bits; ASVS 7.2.4, session fixation) and stores only its
  SHA-256; the browser gets the id;
* a session ends after **30 minutes idle** or **12 hours** after login, whichever comes first (ASVS 7.3.1,
  7.3.2; trial-system-requirements G16), measured on the injected server clock;
* a session of a **disabled user** is refused at the next request, and roles are read afresh at every
  request, so a revoked role applies at once (ICH E6(R3) 4.3.8(b); ASVS 8.3.2, 7.4.2; requirement B5);
* after **10 failed attempts** for one username within 15 minutes, further attempts are refused without
  checking the password until the window has passed (as OpenClinica does; ASVS 6.3.1; 21 CFR 11.300(d);
  requirement G17), and each failure and lock is written to the security log (ICH E6(R3) 4.2.2(a)(i); A6).

The security log (:class:`SecurityEvent`) is append-only; it is separate from the audit chain because a failed
login may name no user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialtwin.services.errors import ServiceError
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.repositories import active_grants
from trialtwin.store.tables import User
from trialtwin.store.tables_access import SecurityEvent, WebSession

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
#: Failed attempts for one username within :data:`LOCK_WINDOW` after which attempts are refused.
MAX_FAILURES = 10
LOCK_WINDOW = dt.timedelta(minutes=15)
#: Last-activity updates closer together than this are skipped (fewer writes; the idle timeout is 30 min).
TOUCH_INTERVAL = dt.timedelta(seconds=30)


class LoginFailed(ServiceError):
    """Wrong username or password, or a disabled account (one message for all, so usernames don't leak)."""


class AccountLocked(LoginFailed):
    """Too many failed attempts recently; try again later."""


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """One active role: the role name, the site code and site id (``None``: every site), the site's study."""

    role: str
    site: str | None
    site_id: int | None
    study_id: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated user with their current roles."""

    user_id: int
    username: str
    display_name: str
    roles: tuple[RoleGrant, ...]
    #: An administrator reset the password: the user must choose their own before anything else.
    must_change_password: bool = False


@dataclass(frozen=True, slots=True)
class SessionTicket:
    """A new session: the secret id for the cookie, the CSRF token, the user and the absolute expiry."""

    session_id: str
    csrf_token: str
    identity: Identity
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionState:
    """A live session as seen by one request."""

    session_pk: int
    csrf_token: str
    identity: Identity
    created_at: dt.datetime
    expires_at: dt.datetime
    signer_verified_at: dt.datetime | None


def secret_digest(secret: str) -> str:
    """SHA-256 (hex) of a session id or token: what the database keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def log_event(uow: UnitOfWork, event: str, username: str, user_id: int | None, detail: str = "") -> None:
    """Append one security-log entry in the unit of work's transaction (A6)."""
    uow.session.add(
        SecurityEvent(at=uow.now, event=event, username=username[:150], user_id=user_id, detail=detail[:2000])
    )


_hasher = PasswordHasher()
#: Verified against when the username is unknown, so that the answer takes as long as for a known one (no
#: username enumeration by timing; ASVS 6.3.8).
_DUMMY_HASH = _hasher.hash("trialtwin: no such user")


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the Argon2id ``password_hash`` (ASVS 6.2; 21 CFR 11.300)."""
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def identity_of(uow_session: Session, user: User) -> Identity:
    """The user with their active roles (read now, so a revoked role is gone at once; B5)."""
    grants = tuple(RoleGrant(*grant) for grant in active_grants(uow_session, user.id))
    return Identity(user.id, user.username, user.display_name, grants, bool(user.must_change_password))


def _recent_failures(uow: UnitOfWork, username: str) -> int:
    since = uow.now - LOCK_WINDOW
    last_ok = uow.session.execute(
        select(func.max(SecurityEvent.at)).where(
            SecurityEvent.username == username, SecurityEvent.event == "login_ok", SecurityEvent.at >= since
        )
    ).scalar_one_or_none()
    start = max(since, last_ok) if last_ok is not None else since
    query = select(func.count()).where(
        SecurityEvent.username == username,
        SecurityEvent.event.in_(("login_failed", "signature_failed")),
        SecurityEvent.at >= start,
    )
    return int(uow.session.execute(query.select_from(SecurityEvent)).scalar_one())


def check_credentials(uow: UnitOfWork, username: str, password: str, *, purpose: str) -> User | None:
    """The active user for ``username``/``password``, or ``None`` (logging the failure); raises nothing.

    Refuses without checking the password while the username is locked (:data:`MAX_FAILURES` recent
    failures), logging ``login_locked``. ``purpose`` goes into the log (``login``, ``token``, ``signature``).
    """
    username = username.strip()
    if _recent_failures(uow, username) >= MAX_FAILURES:
        log_event(uow, "login_locked", username, None, f"{purpose}: refused, {MAX_FAILURES} recent failures")
        return None
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    known = verify_password(user.password_hash if user is not None else _DUMMY_HASH, password)
    ok = user is not None and user.active and known
    if not ok:
        reason = "unknown user" if user is None else ("disabled" if not user.active else "wrong password")
        event = "signature_failed" if purpose == "signature" else "login_failed"
        log_event(uow, event, username, user.id if user else None, f"{purpose}: {reason}")
        return None
    return user


def is_locked(db: Database, username: str, *, clock: Clock) -> bool:
    """Whether ``username`` is currently locked by recent failures."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        return _recent_failures(uow, username.strip()) >= MAX_FAILURES


def start_session(db: Database, username: str, password: str, *, clock: Clock, client: str = "") -> SessionTicket:
    """Log in: a new session for the user, or :class:`LoginFailed` / :class:`AccountLocked` (the attempt is
    logged either way)."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        user = check_credentials(uow, username, password, purpose="login")
        if user is None:
            locked = _recent_failures(uow, username.strip()) >= MAX_FAILURES
            ticket = None
        else:
            locked = False
            session_id = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            row = WebSession(
                token_hash=secret_digest(session_id),
                user_id=user.id,
                csrf_token=csrf,
                created_at=uow.now,
                last_seen_at=uow.now,
                expires_at=uow.now + ABSOLUTE_TIMEOUT,
                ended_at=None,
                end_reason=None,
                signer_verified_at=None,
            )
            uow.session.add(row)
            log_event(uow, "login_ok", user.username, user.id, f"session started{f' from {client}' if client else ''}")
            ticket = SessionTicket(session_id, csrf, identity_of(uow.session, user), row.expires_at)
    if ticket is None:
        raise _refusal(locked)
    return ticket


def _refusal(locked: bool) -> LoginFailed:
    """What a failed login answers: locked after too many failures, else wrong credentials (no more said)."""
    if locked:
        minutes = int(LOCK_WINDOW.total_seconds() // 60)
        return AccountLocked(f"too many failed attempts: this account is locked for {minutes} minutes")
    return LoginFailed("wrong username or password")


def verify_credentials(db: Database, username: str, password: str, *, clock: Clock, purpose: str) -> int:
    """The id of the active user ``username`` with ``password``, for a command-line action by a person (no
    session is made); :class:`LoginFailed` / :class:`AccountLocked` otherwise. A failure is logged and counts
    toward the lock like a failed login (ASVS 6.3.1; G17); a success is logged as ``cli_verified`` with
    ``purpose``."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        user = check_credentials(uow, username, password, purpose=purpose)
        if user is None:
            locked = _recent_failures(uow, username.strip()) >= MAX_FAILURES
            user_id = None
        else:
            locked, user_id = False, user.id
            log_event(uow, "cli_verified", user.username, user.id, purpose)
    if user_id is None:
        raise _refusal(locked)
    return user_id


def resolve_session(
    db: Database,
    session_id: str,
    *,
    clock: Clock,
    idle: dt.timedelta = IDLE_TIMEOUT,
    absolute: dt.timedelta = ABSOLUTE_TIMEOUT,
) -> SessionState | None:
    """The live session for ``session_id``; ``None`` when unknown, ended, idle for 30 minutes, older than 12
    hours, or its user is disabled (an expiring session is ended and logged)."""
    if not session_id or len(session_id) > 200:
        return None
    digest = secret_digest(session_id)
    with db.read_session() as session:
        found = session.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.token_hash == digest)
        ).one_or_none()
        if found is None or found[0].ended_at is not None:
            return None
        row, user = found
        now = clock()
        reason = _end_reason(row, user, now, min(idle, IDLE_TIMEOUT), min(absolute, ABSOLUTE_TIMEOUT))
        if reason is None:
            assert user is not None
            state = SessionState(
                row.id,
                row.csrf_token,
                identity_of(session, user),
                row.created_at,
                row.expires_at,
                row.signer_verified_at,
            )
            touch = now - row.last_seen_at >= TOUCH_INTERVAL
        pk = row.id
    if reason is not None:
        _end(db, pk, reason, clock=clock)
        return None
    if touch:
        with UnitOfWork(db, actor=None, clock=clock) as uow:
            live = uow.session.get(WebSession, pk)
            if live is not None and live.ended_at is None:
                live.last_seen_at = uow.now
    return state


def _end_reason(
    row: WebSession, user: User | None, now: dt.datetime, idle: dt.timedelta, absolute: dt.timedelta
) -> str | None:
    if user is None or not user.active:
        return "user_disabled"
    if now >= row.expires_at or now - row.created_at >= absolute:
        return "absolute_timeout"
    if now - row.last_seen_at >= idle:
        return "idle_timeout"
    return None


def _end(db: Database, session_pk: int, reason: str, *, clock: Clock) -> None:
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        row = uow.session.get(WebSession, session_pk)
        if row is None or row.ended_at is not None:
            return
        row.ended_at = uow.now
        row.end_reason = reason
        user = uow.session.get(User, row.user_id)
        log_event(uow, "session_end", user.username if user else "?", row.user_id, reason)


def end_session(db: Database, session_id: str, *, clock: Clock) -> bool:
    """Log out: end the session (a replayed cookie is refused afterwards). False when it was not live."""
    digest = secret_digest(session_id)
    with db.read_session() as session:
        pk = session.execute(
            select(WebSession.id).where(WebSession.token_hash == digest, WebSession.ended_at.is_(None))
        ).scalar_one_or_none()
    if pk is None:
        return False
    _end(db, pk, "logout", clock=clock)
    return True


def mark_signer_verified(db: Database, session_pk: int, *, clock: Clock) -> None:
    """Record that both signature components were entered in this session (21 CFR 11.200(a)(1)(i))."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        row = uow.session.get(WebSession, session_pk)
        if row is not None:
            row.signer_verified_at = uow.now


def identity_for_user(db: Database, user_id: int) -> Identity | None:
    """The active user ``user_id`` with their roles, or ``None`` when unknown or disabled."""
    with db.read_session() as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            return None
        return identity_of(session, user)


def security_events(db: Database, *, username: str | None = None, limit: int = 200) -> list[dict[str, object]]:
    """The latest security-log entries, newest first (for the access review, ICH E6(R3) 4.3.8(c))."""
    with db.read_session() as session:
        query = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
        if username is not None:
            query = query.where(SecurityEvent.username == username)
        return [
            {"at": e.at, "event": e.event, "username": e.username, "user_id": e.user_id, "detail": e.detail}
            for e in session.execute(query).scalars()
        ]


__all__ = [
    "ABSOLUTE_TIMEOUT",
    "IDLE_TIMEOUT",
    "MAX_FAILURES",
    "AccountLocked",
    "Identity",
    "LoginFailed",
    "RoleGrant",
    "SessionState",
    "SessionTicket",
    "check_credentials",
    "end_session",
    "identity_for_user",
    "resolve_session",
    "start_session",
]
