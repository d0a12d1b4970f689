"""Error responses: every user error is a 4xx naming the field or the reason, never a 500 or a traceback
(trial-system-requirements issue 7 item 9; ASVS 16.5.1).

JSON (paths under ``/api``): ``{"detail": "message"}``, or for validation (422)
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``. Pages get an HTML page (the pages package's
``render_error`` when it provides one) and an unauthenticated page request is redirected to the login page.

===========================================  ======
error                                        status
===========================================  ======
request validation (pydantic)                422
bad data for the engine (facts, doses, …)    422 (``loc`` from the field the error names)
unknown study/site/subject                   404
PermissionDenied                             403
WorkflowError, AlreadyRandomized             409
LoginFailed                                  401
AccountLocked                                429
other ServiceError / TrialtwinError          422
write conflict in the database               409
client disconnected while sending the body   400 (no one reads it; logged at debug level only)
===========================================  ======
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import ClientDisconnect

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import PermissionDenied, RecordNotFound, WorkflowError
from trialtwin.services.sessions import AccountLocked, LoginFailed
from trialtwin.web.deps import AuthRequired, PasswordChangeRequired

log = logging.getLogger("trialtwin.web")

ErrorRenderer = Callable[[Request, int, str], Response]


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _problems(exc: Exception) -> list[dict[str, Any]] | None:
    """Field-level problems of an engine or service error: ``problems`` pairs or a ``field`` attribute."""
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and problems:
        return [
            {"loc": ["body", *str(f).split(".")] if f else ["body"], "msg": str(m), "type": "value_error"}
            for f, m in problems
        ]
    field = getattr(exc, "field", None)
    if isinstance(field, str) and field:
        message = getattr(exc, "message", None) or str(exc)
        return [{"loc": ["body", *field.split(".")], "msg": str(message), "type": "value_error"}]
    return None


def status_for(exc: Exception) -> int:
    if isinstance(exc, RecordNotFound):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, AccountLocked):
        return 429
    if isinstance(exc, LoginFailed):
        return 401
    if isinstance(exc, WorkflowError):
        return 409
    return 422


def install(app: FastAPI, *, render_page_error: ErrorRenderer | None = None) -> None:
    """Register the handlers on ``app``."""

    def respond(request: Request, status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
        if is_api(request) or render_page_error is None:
            if not is_api(request) and render_page_error is None and isinstance(detail, str):
                body = f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{html.escape(detail)}</p>"
                return HTMLResponse(body, status_code=status, headers=headers)
            return JSONResponse({"detail": detail}, status_code=status, headers=headers)
        message = (
            detail
            if isinstance(detail, str)
            else "; ".join(f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: {d.get('msg')}" for d in detail)
        )
        response = render_page_error(request, status, message)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(AuthRequired)
    async def _auth(request: Request, exc: AuthRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": exc.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_change(request: Request, exc: PasswordChangeRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": exc.message}, status_code=403)
        return RedirectResponse("/account/password?required=1", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return respond(request, 422, errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return respond(request, exc.status_code, exc.detail, dict(exc.headers or {}))

    @app.exception_handler(TrialtwinError)
    async def _trialtwin(request: Request, exc: TrialtwinError) -> Response:
        status = status_for(exc)
        problems = _problems(exc)
        if status == 422 and problems:
            return respond(request, 422, problems)
        headers = {"Retry-After": "900"} if status == 429 else None
        if status == 401 and is_api(request):
            headers = {"WWW-Authenticate": "Bearer"}
        return respond(request, status, str(exc), headers)

    @app.exception_handler(ClientDisconnect)
    async def _disconnect(request: Request, exc: ClientDisconnect) -> Response:
        """The browser went away while its request body was being read (a closed tab, a reload during a
        post): nothing was written and nobody reads the answer, so it is not an application error."""
        log.debug("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> Response:
        log.warning("write conflict: %s", exc.orig)
        return respond(request, 409, "the record was changed by another request; reload and try again")

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> Response:
        log.error("database error: %s", exc.orig)
        return respond(request, 503, "the database is busy or unavailable; try again", {"Retry-After": "5"})
