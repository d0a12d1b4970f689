"""API tokens: issued for one user and one study after the user's password, used as ``Bearer`` tokens.

A token is tied to one person and one study, never a shared secret (21 CFR 11.10(h); ASVS 7.2.2;
trial-system-requirements B7): used on another study it is refused (403, the web layer's job), revoked or
expired it is unknown (401). The database keeps only the token's SHA-256. Issuing counts toward the same
failed-attempt lock as logging in (ASVS 6.3.1; G17) and is written to the security log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from trialtwin.services.errors import PermissionDenied
from trialtwin.services.sessions import (
    MAX_FAILURES,
    AccountLocked,
    Identity,
    LoginFailed,
    RoleGrant,
    _recent_failures,
    check_credentials,
    identity_of,
    log_event,
    secret_digest,
)
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.errors import RecordNotFound
from trialtwin.store.repositories import get_study, token_rows
from trialtwin.store.tables import User
from trialtwin.store.tables_access import ApiToken

#: Lifetime of an API token (a client logs in again after it).
TOKEN_LIFETIME = dt.timedelta(hours=12)
TOKEN_PREFIX = "tt_"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    user_id: int
    study_id: str


@dataclass(frozen=True, slots=True)
class TokenState:
    token_pk: int
    study_id: str
    identity: Identity
    expires_at: dt.datetime


def issue_token(
    db: Database,
    username: str,
    password: str,
    study_id: str,
    *,
    clock: Clock,
    lifetime: dt.timedelta = TOKEN_LIFETIME,
) -> IssuedToken:
    """A new token for ``username`` bound to ``study_id``; :class:`LoginFailed` for bad credentials,
    :class:`PermissionDenied` for a user without any role, ``RecordNotFound`` for an unknown study."""
    failure: LoginFailed | None = None
    issued: IssuedToken | None = None
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        user = check_credentials(uow, username, password, purpose="token")
        if user is None:
            if _recent_failures(uow, username.strip()) >= MAX_FAILURES:
                failure = AccountLocked("too many failed attempts: this account is locked for 15 minutes")
            else:
                failure = LoginFailed("wrong username or password")
        else:
            identity = identity_of(uow.session, user)
            if not identity.roles:
                log_event(uow, "token_refused", user.username, user.id, f"no role; study {study_id}")
            else:
                get_study(uow.session, study_id)
                token = TOKEN_PREFIX + secrets.token_urlsafe(32)
                uow.session.add(
                    ApiToken(
                        token_hash=secret_digest(token),
                        user_id=user.id,
                        study_id=study_id,
                        created_at=uow.now,
                        expires_at=uow.now + lifetime,
                        revoked_at=None,
                    )
                )
                log_event(uow, "token_issued", user.username, user.id, f"study {study_id}")
                issued = IssuedToken(token, uow.now + lifetime, user.id, study_id)
    if failure is not None:
        raise failure
    if issued is None:
        raise PermissionDenied(f"user {username.strip()!r} has no role; ask an administrator")
    return issued


def resolve_token(db: Database, token: str, *, clock: Clock) -> TokenState | None:
    """The live token: ``None`` when unknown, revoked, expired, or its user is disabled."""
    return resolve_token_at(db, token, clock=clock)[0]


def resolve_token_at(
    db: Database, token: str, *, clock: Clock, subject: tuple[str, str] | None = None
) -> tuple[TokenState | None, str | RecordNotFound | None]:
    """:func:`resolve_token` and, for ``subject`` = (study, screening id), the code of that subject's site
    (the :class:`RecordNotFound` to answer with when there is none; ``None`` without ``subject``): the reads
    of every request made with a token, in one statement (roles read afresh each time; B5)."""
    if not token or len(token) > 200:
        return None, None
    with db.read_connection() as connection:
        rows = token_rows(connection, secret_digest(token), subject)
    if not rows:
        return None, None
    first = rows[0]
    if first["revoked_at"] is not None or clock() >= first["expires_at"] or not first["active"]:
        return None, None
    grants = tuple(
        RoleGrant(row["role"], row["site"], row["site_id"], row["site_study"])
        for row in rows
        if row["role"] is not None
    )
    identity = Identity(
        first["user_id"], first["username"], first["display_name"], grants, bool(first["must_change_password"])
    )
    state = TokenState(first["token_pk"], first["token_study"], identity, first["expires_at"])
    if subject is None:
        return state, None
    site: str | None = first["subject_site"]
    if site is None:
        return state, RecordNotFound(f"study {subject[0]!r} has no subject with screening id {subject[1]!r}")
    return state, site


def revoke_token(db: Database, token: str, *, clock: Clock) -> bool:
    """Revoke a token (later use gives 401). False when it was not live."""
    with UnitOfWork(db, actor=None, clock=clock) as uow:
        row = uow.session.execute(
            select(ApiToken).where(ApiToken.token_hash == secret_digest(token))
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = uow.now
        user = uow.session.get(User, row.user_id)
        log_event(uow, "token_revoked", user.username if user else "?", row.user_id, f"study {row.study_id}")
        return True
