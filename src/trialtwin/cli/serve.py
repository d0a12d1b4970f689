"""``trialtwin serve``: run the web service (EDC + IRT) with uvicorn.

The database is migrated to the latest schema first (a new SQLite file is created; an up-to-date database is
left as it is), so ``trialtwin demo-data && trialtwin serve`` is all a new user needs.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from trialtwin.cli.console import console
from trialtwin.store.db import DEFAULT_URL, Database
from trialtwin.store.errors import StoreError
from trialtwin.store.migrations import upgrade

DB_URL_ENV = "TRIALTWIN_DB_URL"


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
) -> None:
    """Serve the trial's web pages and JSON API (OpenAPI at /api/v1/openapi.json).

    Example: [bold]trialtwin demo-data && trialtwin serve[/], then open http://127.0.0.1:8000/login
    """
    import uvicorn

    url = db or os.environ.get(DB_URL_ENV) or DEFAULT_URL
    revision = migrate(url)
    os.environ[DB_URL_ENV] = url
    if secure:
        os.environ["TRIALTWIN_SECURE"] = "1"
    shown = Database(url, pool_size=1).url.render_as_string(hide_password=True)
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
