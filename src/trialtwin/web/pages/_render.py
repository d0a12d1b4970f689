"""Rendering of the pages: one Jinja2 environment with autoescaping always on (OWASP ASVS 5.0 1.2.1, output
encoding; trial-system-requirements G12: every free-text value is rendered inert), the layout's common context,
and the HTML error page used by :mod:`trialtwin.web.errors` for page requests.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from trialtwin.web.deps import Principal
from trialtwin.web.policy import POLICY

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,  # every template, whatever its extension (never select_autoescape's guesswork)
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    """``("adverse_event", …)`` → ``[("adverse_event", "adverse event"), …]`` (select options)."""
    return [(v, v.replace("_", " ")) for v in values]


def _json_text(value: Any) -> str:
    """A value as indented JSON text (escaped by autoescaping like any other text)."""
    return json.dumps(value, indent=1, sort_keys=True, default=str, ensure_ascii=False)


_env.filters["zip_pairs"] = _pairs
_env.filters["tojson_text"] = _json_text
templates = Jinja2Templates(env=_env)

ROLE_LABELS = {
    "admin": "administrator",
    "investigator": "investigator",
    "coordinator": "coordinator",
    "monitor": "monitor",
    "data_manager": "data manager",
    "statistician": "statistician",
    "sponsor": "sponsor",
}


def may(principal: Principal | None, action: str) -> bool:
    """Whether the principal holds one of the roles of ``action`` somewhere (for showing links; the route
    itself enforces the policy with its site)."""
    if principal is None:
        return False
    rule = POLICY[action]
    return any(role in rule.roles and (site is None or not rule.all_sites) for role, site in principal.roles)


def role_summary(principal: Principal) -> str:
    """E.g. ``investigator at CN-001, CN-002``, ``monitor (all sites)``."""
    by_role: dict[str, list[str]] = {}
    for role, site in principal.roles:
        by_role.setdefault(role, []).append(site or "all sites")
    if not by_role:
        return "no role"
    return "; ".join(f"{ROLE_LABELS.get(r, r)} at {', '.join(sorted(s))}" for r, s in sorted(by_role.items()))


def base_context(request: Request, principal: Principal | None, study_id: str | None) -> dict[str, Any]:
    return {
        "request": request,
        "principal": principal,
        "csrf_token": principal.csrf_token if principal is not None else None,
        "study_id": study_id,
        "role_summary": role_summary(principal) if principal is not None else "",
        "can_audit": may(principal, "audit.read"),
        "can_export": may(principal, "export"),
        "can_write": may(principal, "subject.register"),
        "can_sign": may(principal, "sign"),
        "title": "",
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    principal: Principal | None,
    study_id: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the layout's context (principal, CSRF token, navigation) plus ``context``."""
    full = base_context(request, principal, study_id)
    full.update(context)
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def _principal_of(request: Request) -> Principal | None:
    cached = request.scope.get("trialtwin.principal")
    return cached if isinstance(cached, Principal) else None


TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not possible now",
    422: "Invalid input",
    429: "Too many attempts",
    503: "Try again",
}


def render_error(request: Request, status: int, message: str) -> Response:
    """The HTML error page (the hook :func:`trialtwin.web.app.create_app` passes to the error handlers)."""
    principal = _principal_of(request)
    study_id = request.path_params.get("study_id") if hasattr(request, "path_params") else None
    context = {
        "title": TITLES.get(status, "Error" if status >= 500 else "Request refused"),
        "message": message,
        "back_url": f"/studies/{study_id}" if study_id and principal is not None else "/",
    }
    return render(request, "error.html", context, principal=principal, study_id=study_id, status_code=status)


def utc_now_text(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
