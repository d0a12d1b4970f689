"""FastAPI dependencies shared by the API and the pages: database, clock, the logged-in principal, CSRF,
and the policy check.

* :func:`current_principal`: from the session cookie (``tt_session``; ``__Host-tt_session`` behind TLS) or an
  ``Authorization: Bearer`` API token. None → :class:`AuthRequired` (401 JSON under ``/api``, a 303 redirect
  to ``/login?next=…`` for pages; see :mod:`trialtwin.web.errors`). Roles are read afresh at each request, so
  a revoked role or a disabled account applies at once (B5).
* :func:`require_csrf`: a state-changing request authenticated by cookie must carry the session's CSRF token
  in the form field ``csrf_token`` or the header ``X-CSRF-Token`` (ASVS 3.5.1; G14). Bearer-token requests
  are exempt (no ambient credential to ride on).
* :func:`authorize`: ``Depends(authorize("subject.read"))`` checks the policy (:mod:`trialtwin.web.policy`)
  and, for unsafe methods, CSRF; it returns an :class:`Access`.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from trialtwin.services import Clock, Database, RecordNotFound
from trialtwin.services.sessions import Identity, RoleGrant, resolve_session
from trialtwin.services.tokens import TokenState, resolve_token, resolve_token_at
from trialtwin.web.policy import ACTION_ATTRIBUTE, SUBJECT_ACTION_ATTRIBUTE, PolicyRule, rule
from trialtwin.web.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class PasswordChangeRequired(Exception):
    """An administrator reset the caller's password: nothing but their own account until they choose their own
    (403 for the API, a redirect to the password page otherwise; see :mod:`trialtwin.web.errors`)."""

    message = (
        "an administrator reset your password: choose your own first "
        "(POST /api/v1/me/password with the one you were given, or the page /account/password)"
    )


class AuthRequired(Exception):
    """No valid session or token (handled as 401 for the API, a redirect to the login page otherwise)."""

    def __init__(self, message: str = "authentication required: log in or send an API token") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request (web-contract.md): ``roles`` are ``(role, site code or None)`` pairs;
    ``via`` is ``"session"`` or ``"token"``; ``study_id`` is the token's study (``None`` for sessions)."""

    user_id: int
    username: str
    display_name: str
    roles: tuple[tuple[str, str | None], ...]
    via: str
    session_id: int | None
    csrf_token: str | None
    study_id: str | None
    grants: tuple[RoleGrant, ...] = ()
    signer_verified_at: dt.datetime | None = None
    session_created_at: dt.datetime | None = None
    must_change_password: bool = False

    def has_role(self, *roles: str) -> bool:
        return any(g.role in roles for g in self.grants)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _principal(identity: Identity, **kwargs: object) -> Principal:
    return Principal(
        user_id=identity.user_id,
        username=identity.username,
        display_name=identity.display_name,
        roles=tuple((g.role, g.site) for g in identity.roles),
        grants=identity.roles,
        must_change_password=identity.must_change_password,
        **kwargs,  # type: ignore[arg-type]
    )


def _token_principal(state: TokenState | None) -> Principal:
    """The principal of a live API token; :class:`AuthRequired` for none (unknown, revoked, expired)."""
    if state is None:
        raise AuthRequired("the API token is unknown, revoked or expired")
    return _principal(state.identity, via="token", session_id=None, csrf_token=None, study_id=state.study_id)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthRequired("the Authorization header must be 'Bearer <token>'")
    return value.strip()


def resolve_principal(request: Request) -> Principal | None:
    """The principal of the request, or ``None`` (no credentials). An invalid, revoked or expired token or
    session gives ``None`` too; a malformed Authorization header raises :class:`AuthRequired`."""
    cached = request.scope.get("trialtwin.principal", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    db, clock, settings = get_db(request), get_clock(request), get_settings(request)
    principal: Principal | None = None
    token = _bearer(request)
    if token is not None:
        principal = _token_principal(resolve_token(db, token, clock=clock))
    else:
        cookie = request.cookies.get(settings.cookie_name)
        if cookie:
            session = resolve_session(
                db,
                cookie,
                clock=clock,
                idle=dt.timedelta(minutes=settings.idle_timeout_minutes),
                absolute=dt.timedelta(hours=settings.absolute_timeout_hours),
            )
            if session is not None:
                principal = _principal(
                    session.identity,
                    via="session",
                    session_id=session.session_pk,
                    csrf_token=session.csrf_token,
                    study_id=None,
                    signer_verified_at=session.signer_verified_at,
                    session_created_at=session.created_at,
                )
    request.scope["trialtwin.principal"] = principal
    return principal


def optional_principal(request: Request) -> Principal | None:
    """The logged-in principal or ``None`` (for the login page)."""
    return resolve_principal(request)


def current_principal(request: Request) -> Principal:
    """The logged-in principal; :class:`AuthRequired` otherwise."""
    principal = resolve_principal(request)
    if principal is None:
        raise AuthRequired()
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    """403 unless a cookie-authenticated unsafe request carries the session's CSRF token (G14)."""
    if request.method in SAFE_METHODS or principal.via != "session":
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            403, "missing or wrong CSRF token (send the form field csrf_token or the header X-CSRF-Token)"
        )


async def require_csrf(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Dependency form of :func:`check_csrf` for routes outside the policy table."""
    await check_csrf(request, principal)
    return principal


@dataclass(frozen=True, slots=True)
class Access:
    """The outcome of a policy check: who, the action, the study, and the sites the principal may act on for
    this action (``None``: every site)."""

    principal: Principal | None
    action: str
    study_id: str | None
    sites: frozenset[str] | None
    screening_id: str | None = None
    subject_site: str | None = None

    @property
    def who(self) -> Principal:
        if self.principal is None:  # pragma: no cover - public routes never ask
            raise AuthRequired()
        return self.principal

    def may_use_site(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    def require_site(self, site: str) -> None:
        """403 unless the principal holds the action's role at ``site`` (for site codes given in a body)."""
        if not self.may_use_site(site):
            raise HTTPException(403, f"your roles do not allow this at site {site!r}")


def allowed_sites(principal: Principal, policy: PolicyRule, study_id: str | None) -> frozenset[str] | None:
    """Sites at which ``principal`` may act under ``policy`` in ``study_id`` (``None``: all); 403 when none."""
    grants = [
        g
        for g in principal.grants
        if g.role in policy.roles and (study_id is None or g.study_id is None or g.study_id == study_id)
    ]
    if not grants:
        needed = " or ".join(sorted(policy.roles))
        raise HTTPException(403, f"this needs the role {needed}")
    if any(g.site is None for g in grants):
        return None
    if policy.all_sites:
        raise HTTPException(403, "this covers every site: it needs the role granted at every site")
    return frozenset(g.site for g in grants if g.site is not None)


def _principal_and_subject_site(
    request: Request, subject: tuple[str, str] | None
) -> tuple[Principal, str | RecordNotFound | None]:
    """The logged-in principal and, for ``subject`` = (study, screening id), the subject's site code (or the
    ``RecordNotFound`` to answer with, once the role checks have passed): both reads in one worker-thread hop,
    and for an API token in one statement."""
    from trialtwin.services.subjects import subject_site

    token = None if "trialtwin.principal" in request.scope else _bearer(request)
    if token is not None:
        state, site = resolve_token_at(get_db(request), token, clock=get_clock(request), subject=subject)
        principal = _token_principal(state)
        request.scope["trialtwin.principal"] = principal
        return principal, site
    principal = current_principal(request)
    if subject is None:
        return principal, None
    try:
        return principal, subject_site(get_db(request), *subject)
    except RecordNotFound as exc:
        return principal, exc


def authorize(
    action: str, *, subject_query: str | None = None, subject_action: str | None = None
) -> Callable[[Request], Awaitable[Access]]:
    """A dependency enforcing ``action`` of the policy table, reading ``study_id`` and ``screening_id`` from
    the path. Site-scoped actions on a subject of another site give the same 404 as an unknown subject.

    With ``subject_query``, a request naming a subject in that query parameter is checked as
    ``subject_action`` on that subject instead (the audit trail: whole study, or one subject)."""
    policy = rule(action)
    sub_policy = rule(subject_action) if subject_action is not None else None

    async def dependency(request: Request) -> Access:
        study_id = request.path_params.get("study_id")
        screening_id = request.path_params.get("screening_id")
        current, name = policy, action
        if subject_query is not None and sub_policy is not None and request.query_params.get(subject_query):
            screening_id = request.query_params[subject_query]
            current, name = sub_policy, str(subject_action)
        if current.scope == "public":
            return Access(await run_in_threadpool(resolve_principal, request), name, study_id, None)
        subject = (str(study_id), str(screening_id))
        needs_site = current.scope == "site" and study_id is not None and screening_id is not None
        principal, site_found = await run_in_threadpool(
            _principal_and_subject_site, request, subject if needs_site else None
        )
        if principal.via == "token" and study_id is not None and study_id != principal.study_id:
            raise HTTPException(403, f"this API token is bound to study {principal.study_id!r}")
        if current.scope == "self":
            await check_csrf(request, principal)
            return Access(principal, name, study_id, None)
        if principal.must_change_password:
            raise PasswordChangeRequired
        sites = allowed_sites(principal, current, study_id)
        subject_site = None
        if needs_site:
            if isinstance(site_found, RecordNotFound):
                raise HTTPException(404, str(site_found)) from None
            subject_site = site_found
            if sites is not None and subject_site not in sites:
                raise HTTPException(404, f"study {study_id!r} has no subject with screening id {screening_id!r}")
        await check_csrf(request, principal)
        return Access(principal, name, study_id, sites, screening_id, subject_site)

    setattr(dependency, ACTION_ATTRIBUTE, action)
    if subject_action is not None:
        setattr(dependency, SUBJECT_ACTION_ATTRIBUTE, (subject_query, subject_action))
    dependency.__name__ = f"authorize_{action.replace('.', '_')}"
    return dependency


DbDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
