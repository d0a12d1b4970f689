"""The web application: ``create_app(settings)`` builds the FastAPI app with the JSON API (``/api/v1``) and,
when present, the pages (``trialtwin.web.pages.router``) and static files.

``app.state.db`` (a :class:`~trialtwin.services.Database`) and ``app.state.clock`` (the server clock, a
callable giving an aware UTC datetime) can be injected, so tests move time without sleeping.

With ``settings.virtual_clock`` (``trialtwin serve --virtual-clock``, for twin replays on scratch databases only)
the clock is a :class:`~trialtwin.web.api.clock.VirtualClock`, the ``/api/v1/virtual-clock`` routes exist, and
every response carries ``X-Trialtwin-Virtual-Clock: on`` (pages also show a banner).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from trialtwin.services import Clock, Database, system_clock
from trialtwin.services.heap import freeze_startup_heap
from trialtwin.web import errors
from trialtwin.web.security import SecurityHeadersMiddleware
from trialtwin.web.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_PREFIX = "/api/v1"


def _pages_module() -> Any:
    try:
        return importlib.import_module("trialtwin.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name in ("trialtwin.web.pages",):
            return None
        raise


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start-up: with ``settings.freeze_heap`` (``trialtwin serve``), freeze the heap built so far out of the
    cyclic garbage collector (trialtwin.services.heap: no more 60-100 ms full-collection pauses)."""
    if app.state.settings.freeze_heap:
        app.state.frozen_objects = freeze_startup_heap()
    yield


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    include_pages: bool = True,
) -> FastAPI:
    """The app for ``settings`` (default: ``Settings.from_env()``); ``db`` and ``clock`` override the
    database opened from ``settings.db_url`` and the system clock; ``include_pages=False`` serves the API
    only."""
    from trialtwin.web.api import clock as virtual_clock
    from trialtwin.web.api import router as api_router

    settings = settings or Settings.from_env()
    app = FastAPI(
        title="trialtwin EDC + IRT",
        version="1",
        description=(
            "The trial service's JSON API. Authenticate with `POST /api/v1/tokens` and send "
            '`Authorization: Bearer <token>`. Errors: `{"detail": ...}`; 422 names the field.'
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db if db is not None else Database(settings.db_url, pool_size=settings.pool_size)
    if settings.virtual_clock:
        if clock is not None and not isinstance(clock, virtual_clock.VirtualClock):
            raise TypeError("virtual_clock mode needs a VirtualClock (or none) as the clock")
        start = settings.virtual_clock_start or dt.datetime.now(dt.UTC)
        app.state.clock = clock if clock is not None else virtual_clock.VirtualClock(start)
        app.include_router(virtual_clock.router, prefix=API_PREFIX)
    else:
        app.state.clock = clock if clock is not None else system_clock
    app.include_router(api_router, prefix=API_PREFIX)
    pages = _pages_module() if include_pages else None
    if pages is not None and hasattr(pages, "router"):
        app.include_router(pages.router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app, render_page_error=getattr(pages, "render_error", None) if pages is not None else None)
    app.add_middleware(SecurityHeadersMiddleware, secure=settings.secure)
    if settings.virtual_clock:
        app.add_middleware(virtual_clock.VirtualClockHeaderMiddleware)
    return app
