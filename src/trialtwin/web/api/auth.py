"""Health, API tokens, the caller's identity, and logout (API side)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from trialtwin.services.tokens import issue_token, revoke_token
from trialtwin.web import auth as web_auth
from trialtwin.web.deps import Access, ClockDep, DbDep, SettingsDep, _bearer, authorize
from trialtwin.web.schemas import Health, LoginRequest, MeOut, SessionOut, TokenOut, TokenRequest

router = APIRouter(tags=["auth"])

Public = Annotated[Access, Depends(authorize("public"))]
Self = Annotated[Access, Depends(authorize("self"))]


@router.get("/health", response_model=Health)
def health(_: Public) -> Health:
    """Liveness (no login)."""
    return Health(status="ok")


@router.post("/tokens", response_model=TokenOut, status_code=201)
def create_token(body: TokenRequest, _: Public, db: DbDep, clock: ClockDep, settings: SettingsDep) -> TokenOut:
    """An API token for ``username`` bound to ``study_id`` (B7). 401 for wrong credentials, 429 when locked."""
    issued = issue_token(
        db,
        body.username,
        body.password,
        body.study_id,
        clock=clock,
        lifetime=dt.timedelta(hours=settings.token_lifetime_hours),
    )
    return TokenOut(token=issued.token, expires_at=issued.expires_at, study_id=issued.study_id)


@router.delete("/tokens/current", status_code=204)
def delete_token(request: Request, access: Self, db: DbDep, clock: ClockDep) -> Response:
    """Revoke the token this request carries (later use gives 401)."""
    token = _bearer(request)
    if token is None:
        raise HTTPException(400, "this request carries no API token (send Authorization: Bearer <token>)")
    revoke_token(db, token, clock=clock)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
def me(access: Self) -> MeOut:
    """Who is calling, with their roles (and, for a browser session, its CSRF token)."""
    p = access.who
    return MeOut(
        user_id=p.user_id,
        username=p.username,
        display_name=p.display_name,
        roles=[(r, s) for r, s in p.roles],
        via=p.via,
        study_id=p.study_id,
        csrf_token=p.csrf_token,
        must_change_password=p.must_change_password,
    )


@router.post("/session", response_model=SessionOut)
async def create_session(body: LoginRequest, request: Request, response: Response, _: Public) -> SessionOut:
    """Log in with a browser session: sets the HttpOnly session cookie and returns the CSRF token to send
    with every state-changing request (header ``X-CSRF-Token``). 401 wrong credentials, 429 locked."""
    ticket = await web_auth.login(request, response, body.username, body.password)
    return SessionOut(
        csrf_token=ticket.csrf_token,
        expires_at=ticket.expires_at,
        username=ticket.identity.username,
        display_name=ticket.identity.display_name,
    )


@router.delete("/session", status_code=204)
async def delete_session(request: Request, _: Self) -> Response:
    """Log out (needs the CSRF token): the session ends and a replayed cookie gives 401."""
    response = Response(status_code=204)
    await web_auth.logout(request, response)
    return response
