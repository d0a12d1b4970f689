"""``trialtwin serve``: run the web service (EDC + IRT) with uvicorn.

The database is migrated to the latest schema first (a new SQLite file is created; an up-to-date database is
left as it is), so ``trialtwin demo-data && trialtwin serve`` is all a new user needs.

``--virtual-clock`` (off by default, never implied: an inherited ``TRIALTWIN_VIRTUAL_CLOCK`` is ignored) runs the
server on a settable clock for twin replays on scratch databases only (``trialtwin.web.api.clock``); it starts at
the database's latest audit or security-log time, so time never runs backwards across restarts.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated

import typer
from rich.markup import escape

from trialtwin.cli.console import console
from trialtwin.store.db import DEFAULT_URL, Database
from trialtwin.store.errors import StoreError
from trialtwin.store.migrations import upgrade

DB_URL_ENV = "TRIALTWIN_DB_URL"
VIRTUAL_CLOCK_ENV = "TRIALTWIN_VIRTUAL_CLOCK"
#: Token lifetime with a virtual clock: the longest allowed (30 days), since a replay jumps days at each step.
VIRTUAL_TOKEN_HOURS = 24 * 30


def latest_server_time(url: str) -> dt.datetime | None:
    """The latest time the database's audit trail or security log holds (UTC), ``None`` for an empty one."""
    from sqlalchemy import func, select

    from trialtwin.store.tables import AuditLog
    from trialtwin.store.tables_access import SecurityEvent

    database = Database(url, pool_size=1)
    try:
        with database.read_session() as session:
            found = [session.execute(select(func.max(t.at))).scalar_one() for t in (AuditLog, SecurityEvent)]
    finally:
        database.dispose()
    times = [t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC) for t in found if t is not None]
    return max(times).astimezone(dt.UTC) if times else None


def migrate(url: str) -> str:
    """Bring the database at ``url`` to the latest schema; one-line ``StoreError`` when it cannot."""
    database = Database(url, pool_size=1)
    shown = database.url.render_as_string(hide_password=True)
    try:
        return upgrade(database)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"database {shown}: cannot migrate ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    finally:
        database.dispose()


def serve_command(
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"Database URL (default: ${DB_URL_ENV}, else {DEFAULT_URL}).", show_default=False),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure/--no-secure",
            help="Behind TLS: Secure + __Host- session cookie and HSTS (default: $TRIALTWIN_SECURE, else off).",
        ),
    ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="uvicorn worker processes.")] = 1,
    virtual_clock: Annotated[
        bool,
        typer.Option(
            "--virtual-clock",
            help="Twin replays on a scratch database only: a settable server clock (PUT /api/v1/virtual-clock, "
            "admin), marked on every response and page.",
        ),
    ] = False,
) -> None:
    """Serve the trial's web pages and JSON API (OpenAPI at /api/v1/openapi.json).

    Example: [bold]trialtwin demo-data && trialtwin serve[/], then open http://127.0.0.1:8000/login
    """
    import uvicorn

    url = db or os.environ.get(DB_URL_ENV) or DEFAULT_URL
    if virtual_clock and workers != 1:
        raise StoreError("--virtual-clock needs --workers 1 (each worker process would keep its own clock)")
    revision = migrate(url)
    os.environ[DB_URL_ENV] = url
    if secure:
        os.environ["TRIALTWIN_SECURE"] = "1"
    # A serving process freezes its start-up heap out of the cyclic GC (trialtwin.services.heap);
    # TRIALTWIN_FREEZE_HEAP=0 turns that off.
    os.environ.setdefault("TRIALTWIN_FREEZE_HEAP", "1")
    for name in (VIRTUAL_CLOCK_ENV, f"{VIRTUAL_CLOCK_ENV}_START", "TRIALTWIN_TOKEN_LIFETIME_HOURS"):
        os.environ.pop(name, None)
    shown = Database(url, pool_size=1).url.render_as_string(hide_password=True)
    if virtual_clock:
        start = latest_server_time(url) or dt.datetime.now(dt.UTC)
        os.environ.update(
            {
                VIRTUAL_CLOCK_ENV: "1",
                f"{VIRTUAL_CLOCK_ENV}_START": start.isoformat(),
                "TRIALTWIN_TOKEN_LIFETIME_HOURS": str(VIRTUAL_TOKEN_HOURS),
            }
        )
        console.print(
            f"[bold red]VIRTUAL CLOCK[/] at {start.isoformat()}: for twin replays on a scratch database only, "
            "never for a real trial (every response says X-Trialtwin-Virtual-Clock: on)",
            highlight=False,
        )
    console.print(f"database {escape(shown)} at revision {revision}; serving on http://{host}:{port}/")
    uvicorn.run(
        "trialtwin.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=secure,
        timeout_graceful_shutdown=5,
    )
