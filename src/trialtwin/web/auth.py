"""Log in and out for the pages: start a session, set or clear the cookie.

The cookie (ASVS 3.3.1-3.3.4; trial-system-requirements G15): ``HttpOnly``, ``SameSite=Lax``, ``Path=/``; behind
TLS also ``Secure`` with the ``__Host-`` name prefix. It carries only the random session id; the database keeps
its SHA-256. A login always issues a new id (session fixation, ASVS 7.2.4) and ends the session the browser
had before, if any.
"""

from __future__ import annotations

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from trialtwin.services.sessions import SessionTicket, end_session, start_session
from trialtwin.web.deps import get_clock, get_db, get_settings


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


async def login(request: Request, response: Response, username: str, password: str) -> SessionTicket:
    """Start a session and set its cookie on ``response``; raises ``LoginFailed``/``AccountLocked``
    (handled as 401/429) on failure. Any previous session of this browser is ended first."""
    settings, db, clock = get_settings(request), get_db(request), get_clock(request)
    old = request.cookies.get(settings.cookie_name)
    if old:
        await run_in_threadpool(end_session, db, old, clock=clock)
    ticket = await run_in_threadpool(start_session, db, username, password, clock=clock, client=_client(request))
    set_session_cookie(request, response, ticket.session_id)
    return ticket


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    settings = get_settings(request)
    response.set_cookie(
        settings.cookie_name,
        session_id,
        max_age=settings.absolute_timeout_hours * 3600,
        path="/",
        secure=settings.secure,
        httponly=True,
        samesite="lax",
    )


async def logout(request: Request, response: Response) -> bool:
    """End the browser's session (a replayed cookie is refused afterwards) and clear the cookie."""
    settings = get_settings(request)
    cookie = request.cookies.get(settings.cookie_name)
    ended = False
    if cookie:
        ended = await run_in_threadpool(end_session, get_db(request), cookie, clock=get_clock(request))
    response.delete_cookie(settings.cookie_name, path="/", secure=settings.secure, httponly=True, samesite="lax")
    return ended
