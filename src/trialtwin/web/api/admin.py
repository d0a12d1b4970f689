"""Account administration and the access review (policy action ``admin.users``: administrators only).

* ``GET  /studies/{study_id}/admin/users``: the access review, every account with every role it was ever
  granted at this study's sites or at every site (active or revoked), who granted it and when, the account's
  active flag and last successful login (ICH E6(R3) 4.3.8(c); 21 CFR 11.300(b); requirements B6, C6);
* ``POST /studies/{study_id}/admin/users``: create an account (password policy of
  :mod:`trialtwin.services.passwords`, G17; an existing or former username is 409, never reused: 21 CFR
  11.300(a), C4);
* ``POST /studies/{study_id}/admin/users/{username}/roles``: grant a role at one site of the study or at every
  site; ``POST /studies/{study_id}/admin/roles/{assignment_id}/revoke``: revoke it (reason required);
* ``POST /studies/{study_id}/admin/users/{username}/password``: set another user's password (a forgotten
  password, a suspected compromise; reason required; password policy as for a new account): every session of
  the user ends and every API token is revoked (ASVS 7.4.3); one's own password is changed at ``/me/password``
  with the current one (409 here);
* ``POST /studies/{study_id}/admin/users/{username}/disable`` and ``…/enable`` (reason required). Disabling
  ends the user's sessions and revokes their API tokens; a revoked role is gone at the user's next request
  (roles are read at every request; ICH E6(R3) 4.3.8(b); ASVS 8.3.2, 7.4.2; B5);
* ``GET  /studies/{study_id}/admin/security-log``: logins (success and failure), locks, session ends, token
  issue and revocation, and the account changes above (ASVS 16.3.1-16.3.2; A6).

Every change is written to the audit trail and the security log by the services (A6).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from trialtwin.services.sessions import security_events
from trialtwin.services.users import (
    access_review,
    create_user,
    deactivate_user,
    grant_role,
    reactivate_user,
    reset_password,
    revoke_role,
)
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import Request

router = APIRouter(tags=["admin"])

Admin = Annotated[Access, Depends(authorize("admin.users"))]
Username = Annotated[str, Path(min_length=1, max_length=150)]
PREFIX = "/studies/{study_id}/admin"


class _Request(Request):
    """Admin request bodies (the JSON API's base: unknown fields and NUL characters refused)."""


class CreateUserRequest(_Request):
    username: str = Field(min_length=1, max_length=150, description="3-150 letters, digits and . _ @ -")
    display_name: str = Field(min_length=1, max_length=200, description="printed name on signatures")
    password: str = Field(
        min_length=1, max_length=1024, description="12-1024 characters, not common or breached, not the username"
    )


class GrantRequest(_Request):
    role: str = Field(min_length=1, max_length=32, description="admin, investigator, coordinator, monitor, …")
    site: str | None = Field(default=None, min_length=1, max_length=64, description="site code; null: every site")


class ReasonRequest(_Request):
    reason: str = Field(min_length=1, max_length=2000, description="goes into the audit trail")


class PasswordResetRequest(_Request):
    password: str = Field(
        min_length=1, max_length=1024, description="12-1024 characters, not common or breached, not the username"
    )
    reason: str = Field(min_length=1, max_length=2000, description="goes into the audit trail and security log")


class PasswordResetOut(BaseModel):
    username: str
    reset_at: dt.datetime
    sessions_ended: int = Field(description="the user's browser sessions ended by the reset")
    tokens_revoked: int = Field(description="the user's API tokens revoked by the reset")


class GrantOut(BaseModel):
    id: int
    role: str
    study_id: str | None
    site: str | None = Field(description="site code; null: every site")
    active: bool
    granted_at: dt.datetime
    granted_by: str = Field(description="username of the administrator who granted it")
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = Field(default=None, description="username of the administrator who revoked it")
    revoke_reason: str | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    grants: list[GrantOut]


class SecurityEventOut(BaseModel):
    at: dt.datetime
    event: str
    username: str
    user_id: int | None
    detail: str


def _grant(g: object) -> GrantOut:
    return GrantOut.model_validate(g, from_attributes=True)


def _users(db: DbDep, study_id: str) -> list[UserOut]:
    return [
        UserOut(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            active=u.active,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            grants=[_grant(g) for g in u.grants],
        )
        for u in access_review(db, study_id=study_id)
    ]


@router.get(PREFIX + "/users", response_model=list[UserOut])
def users(study_id: str, _: Admin, db: DbDep) -> list[UserOut]:
    """The access review: every account, every grant (active or revoked) with who granted it and when, the
    active flag and the last successful login."""
    return _users(db, study_id)


@router.post(PREFIX + "/users", response_model=UserOut, status_code=201)
def create(study_id: str, body: CreateUserRequest, access: Admin, db: DbDep, clock: ClockDep) -> UserOut:
    """Create an account without roles (grant them next). 409 when the username exists or existed."""
    info = create_user(db, body.username, body.display_name, body.password, actor=access.who.user_id, clock=clock)
    return _one(db, study_id, info.username)


@router.post(PREFIX + "/users/{username}/roles", response_model=GrantOut, status_code=201)
def grant(study_id: str, username: Username, body: GrantRequest, access: Admin, db: DbDep, clock: ClockDep) -> GrantOut:
    """Grant ``role`` at ``site`` of this study, or at every site when ``site`` is null."""
    assignment = grant_role(
        db, username, body.role, study_id=study_id, site=body.site, actor=access.who.user_id, clock=clock
    )
    found = [g for g in _one(db, study_id, username).grants if g.id == assignment]
    return found[0]


@router.post(PREFIX + "/roles/{assignment_id}/revoke", response_model=UserOut)
def revoke(
    study_id: str,
    assignment_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ReasonRequest,
    access: Admin,
    db: DbDep,
    clock: ClockDep,
) -> UserOut:
    """Revoke a role assignment (kept on record, inactive); the user's next request is judged without it."""
    username = revoke_role(
        db, assignment_id, reason=body.reason, study_id=study_id, actor=access.who.user_id, clock=clock
    )
    return _one(db, study_id, username)


@router.post(PREFIX + "/users/{username}/password", response_model=PasswordResetOut)
def password_reset(
    study_id: str, username: Username, body: PasswordResetRequest, access: Admin, db: DbDep, clock: ClockDep
) -> PasswordResetOut:
    """Set another user's password (reason required): their sessions end and their API tokens are revoked.
    422 naming ``password`` when it breaks the policy; 409 for one's own account or a disabled one."""
    done = reset_password(db, username, body.password, reason=body.reason, actor=access.who.user_id, clock=clock)
    return PasswordResetOut(
        username=done.username,
        reset_at=done.reset_at,
        sessions_ended=done.sessions_ended,
        tokens_revoked=done.tokens_revoked,
    )


@router.post(PREFIX + "/users/{username}/disable", response_model=UserOut)
def disable(
    study_id: str, username: Username, body: ReasonRequest, access: Admin, db: DbDep, clock: ClockDep
) -> UserOut:
    """Disable an account: its sessions end and its API tokens are revoked at once."""
    deactivate_user(db, username, reason=body.reason, actor=access.who.user_id, clock=clock)
    return _one(db, study_id, username)


@router.post(PREFIX + "/users/{username}/enable", response_model=UserOut)
def enable(
    study_id: str, username: Username, body: ReasonRequest, access: Admin, db: DbDep, clock: ClockDep
) -> UserOut:
    """Enable a disabled account again (the user logs in afresh)."""
    reactivate_user(db, username, reason=body.reason, actor=access.who.user_id, clock=clock)
    return _one(db, study_id, username)


@router.get(PREFIX + "/security-log", response_model=list[SecurityEventOut])
def security_log(
    study_id: str,
    _: Admin,
    db: DbDep,
    username: Annotated[str | None, Query(min_length=1, max_length=150)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SecurityEventOut]:
    """The latest security-log entries, newest first (optionally for one username)."""
    return [SecurityEventOut.model_validate(e) for e in security_events(db, username=username, limit=limit)]


def _one(db: DbDep, study_id: str, username: str) -> UserOut:
    for user in _users(db, study_id):
        if user.username == username:
            return user
    raise AssertionError(f"user {username!r} vanished")  # pragma: no cover - rows are never deleted
