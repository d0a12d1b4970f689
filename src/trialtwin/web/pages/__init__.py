"""Server-rendered pages (Jinja2 + HTMX) for site staff, monitors, data managers and statisticians.

``router`` is included by :func:`trialtwin.web.app.create_app`; ``render_error`` is its HTML error page. Every
route names its policy action through :func:`trialtwin.web.deps.authorize` (the access-matrix test reads
them), calls the use cases in :mod:`trialtwin.services` (never the store) and re-renders a form with the bad
field named and a 4xx status on bad input. See docs/service/pages.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from trialtwin.web.pages import account, audit, clinical, corrections, home, redactions, screening, subjects
from trialtwin.web.pages._render import render_error

router = APIRouter(include_in_schema=False)
for _module in (home, account, subjects, screening, clinical, corrections, redactions, audit):
    router.include_router(_module.router)

__all__ = ["render_error", "router"]
