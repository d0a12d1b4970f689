"""Log in, log out and the start page.

The login form has no session yet, so its CSRF defence is a double-submit token: a random value in a
``SameSite=Strict``, ``HttpOnly`` cookie that the form must echo (OWASP CSRF Prevention Cheat Sheet, "signed
double-submit cookie"; ASVS 3.5.1). A failed login re-renders the form with 401 (423/429 when locked, the
service's message) and never says which of username or password was wrong (ASVS 6.3.8).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from trialtwin.services.browse import list_studies
from trialtwin.services.sessions import AccountLocked, LoginFailed
from trialtwin.web import auth
from trialtwin.web.deps import Access, DbDep, SettingsDep, authorize
from trialtwin.web.pages._forms import read_form
from trialtwin.web.pages._render import render
from trialtwin.web.settings import Settings

router = APIRouter()

Public = Annotated[Access, Depends(authorize("public"))]
Self = Annotated[Access, Depends(authorize("self"))]
StudyRead = Annotated[Access, Depends(authorize("study.read"))]


def login_cookie_name(settings: Settings) -> str:
    return "__Host-tt_login_csrf" if settings.secure else "tt_login_csrf"


def safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site: ``//host`` or ``\\host`` are refused)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    context = {
        "title": "Sign in",
        "next_url": next_url,
        "errors": errors or {},
        "values": values or {},
        "message": message,
        "login_csrf": token,
    }
    response = render(request, "login.html", context, principal=None, status_code=status_code)
    response.set_cookie(
        login_cookie_name(settings),
        token,
        max_age=3600,
        path="/",
        secure=settings.secure,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_form(request: Request, access: Public, settings: SettingsDep, next: str = "/") -> Response:
    if access.principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    message = None if next == "/" else "Please sign in to continue."
    return _login_page(request, settings, next_url=safe_next(next), message=message)


@router.post("/login")
async def login_submit(request: Request, _: Public, settings: SettingsDep) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    username = form.get("username", "").strip()
    password = form.get("password", "")
    values = {"username": username}
    cookie = request.cookies.get(login_cookie_name(settings), "")
    sent = form.get("csrf_token", "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return _login_page(
            request,
            settings,
            next_url=next_url,
            values=values,
            status_code=403,
            errors={"csrf_token": "the sign-in form expired or was not sent from this site; please try again"},
        )
    errors = {}
    if not username:
        errors["username"] = "is required"
    if not password:
        errors["password"] = "is required"
    if errors:
        return _login_page(request, settings, next_url=next_url, values=values, errors=errors, status_code=422)
    response = RedirectResponse(next_url, status_code=303)
    try:
        await auth.login(request, response, username, password)
    except AccountLocked as exc:
        return _login_page(request, settings, next_url=next_url, values=values, errors={"": str(exc)}, status_code=429)
    except LoginFailed as exc:
        return _login_page(request, settings, next_url=next_url, values=values, errors={"": str(exc)}, status_code=401)
    response.delete_cookie(login_cookie_name(settings), path="/", secure=settings.secure, httponly=True)
    return response


@router.post("/logout")
async def logout(request: Request, _: Self) -> Response:
    response = RedirectResponse("/login", status_code=303)
    await auth.logout(request, response)
    return response


@router.get("/")
async def start(request: Request, access: StudyRead, db: DbDep) -> Response:
    """The studies the user works on; straight to the study when there is one."""
    studies = await run_in_threadpool(list_studies, db)
    study_ids = {g.study_id for g in access.who.grants}
    if None not in study_ids:
        studies = [s for s in studies if s.id in study_ids]
    if len(studies) == 1:
        return RedirectResponse(f"/studies/{studies[0].id}", status_code=303)
    return render(request, "studies.html", {"title": "Studies", "studies": studies}, principal=access.who)
