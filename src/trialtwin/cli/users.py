"""``trialtwin users review``: the periodic access review (ICH E6(R3) 4.3.8(c); 21 CFR 11.300(b); requirements
B6, C6): every account, every role it was ever granted (active or revoked), who granted it and when, whether the
account is active, and its last successful login."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError

from trialtwin.cli.console import console, print_json
from trialtwin.cli.db import DB_URL_ENV
from trialtwin.services.users import access_review
from trialtwin.store.db import DEFAULT_URL, Database
from trialtwin.store.errors import StoreError

app = typer.Typer(
    help="User accounts. Example: [bold]trialtwin users review --db sqlite:///trial.db --study ever-132-002[/]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command("review")
def review_command(
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"Database URL (default: ${DB_URL_ENV}, else {DEFAULT_URL}).", show_default=False),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study", help="Only grants at this study's sites (and those at every site).", show_default=False
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the review as JSON.")] = False,
) -> None:
    """Print the access review: one row per grant (accounts without any grant get one row too)."""
    database = Database(db or os.environ.get(DB_URL_ENV) or DEFAULT_URL, pool_size=1)
    try:
        users = access_review(database, study_id=study)
    except OperationalError as exc:
        shown = database.url.render_as_string(hide_password=True)
        raise StoreError(
            f"cannot read the accounts of {shown}; is it a migrated trialtwin database? ({exc.orig})"
        ) from None
    finally:
        database.dispose()
    if json_output:
        print_json(
            [
                {
                    "username": u.username,
                    "display_name": u.display_name,
                    "active": u.active,
                    "created_at": u.created_at,
                    "last_login_at": u.last_login_at,
                    "grants": [_grant(g) for g in u.grants],
                }
                for u in users
            ]
        )
        return
    table = Table(title=f"access review{f' for {escape(study)}' if study else ''}")
    for column in ("username", "name", "account", "last login", "role", "site", "grant", "granted", "by"):
        table.add_column(column, overflow="fold")  # a review shows every character: wrap, never cut
    for u in users:
        account = "active" if u.active else "disabled"
        login = _when(u.last_login_at) if u.last_login_at else "never"
        rows = [
            (
                g.role,
                f"{g.study_id}/{g.site}" if g.site else "all sites",
                "active"
                if g.active
                else f"revoked {_when(g.revoked_at)} by {g.revoked_by}"
                if g.revoked_at
                else "revoked",
                _when(g.granted_at),
                g.granted_by,
            )
            for g in u.grants
        ] or [("-", "-", "-", "-", "-")]
        for row in rows:
            table.add_row(*(escape(c) for c in (u.username, u.display_name, account, login, *row)))
    console.print(table)


def _when(value: object) -> str:
    return str(value)[:19].replace("T", " ")


def _grant(g: object) -> dict[str, object]:
    return {
        f: getattr(g, f)
        for f in (
            "id",
            "role",
            "study_id",
            "site",
            "active",
            "granted_at",
            "granted_by",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        )
    }
