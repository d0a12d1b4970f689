"""``trialtwin demo-data``: seed an empty service database with EVER-132-002, two sites' staff, a monitor, a
data manager, a statistician, a sponsor and an administrator, and print their usernames and passwords.

Refused (exit 2, nothing written) when the database has accounts already, so it never mixes with real data.
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from trialtwin.cli.console import console
from trialtwin.cli.serve import DB_URL_ENV, migrate
from trialtwin.protocol import load_protocol
from trialtwin.services import bootstrap_admin, create_user, grant_role, load_study, system_clock
from trialtwin.services.passwords import check_password
from trialtwin.services.users import MIN_PASSWORD_LENGTH
from trialtwin.store.db import DEFAULT_URL, Database
from trialtwin.store.errors import StoreError
from trialtwin.store.repositories import count_users

DEMO_STUDY = "ever-132-002"
DEMO_SITES = ("CN-001", "CN-002")

#: (username, printed name, role, site or None for every site)
DEMO_USERS: tuple[tuple[str, str, str, str | None], ...] = (
    ("inv1", "Dr Ines Investigator (CN-001)", "investigator", "CN-001"),
    ("coord1", "Carl Coordinator (CN-001)", "coordinator", "CN-001"),
    ("inv2", "Dr Ivo Investigator (CN-002)", "investigator", "CN-002"),
    ("coord2", "Clara Coordinator (CN-002)", "coordinator", "CN-002"),
    ("monitor", "Mona Monitor", "monitor", None),
    ("datamanager", "Dana Data-Manager", "data_manager", None),
    ("statistician", "Stan Statistician", "statistician", None),
    ("sponsor", "Sid Sponsor", "sponsor", None),
)


def _password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, ~96 bits


def demo_command(
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"Database URL (default: ${DB_URL_ENV}, else {DEFAULT_URL}).", show_default=False),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help=f"One password for every demo account ({MIN_PASSWORD_LENGTH}+ characters); default: random ones.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Randomization seed (default: a random secret one).", show_default=False),
    ] = None,
) -> None:
    """Seed a new database with the demo study and users, printing their credentials.

    Example: [bold]trialtwin demo-data && trialtwin serve[/]
    """
    url = db or os.environ.get(DB_URL_ENV) or DEFAULT_URL
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise StoreError(f"--password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password is not None:  # the whole policy, for every account, before anything is written (G17)
        for username in ("admin", *(user[0] for user in DEMO_USERS)):
            check_password(password, username=username)
    migrate(url)
    database = Database(url, pool_size=1)
    shown = database.url.render_as_string(hide_password=True)
    try:
        with database.read_session() as session:
            if count_users(session):
                raise StoreError(
                    f"database {shown} has accounts already; demo-data seeds an empty database only "
                    "(name a new one with --db)"
                )
        clock = system_clock
        credentials: list[tuple[str, str, str, str]] = []
        admin_password = password or _password()
        admin = bootstrap_admin(database, "admin", "Ada Administrator", admin_password, clock=clock)
        credentials.append(("admin", admin_password, "admin", "all sites"))
        load_study(
            database,
            load_protocol(DEMO_STUDY),
            seed=seed if seed is not None else secrets.randbits(62),
            actor=admin.id,
            clock=clock,
        )
        for username, name, role, site in DEMO_USERS:
            secret = password or _password()
            create_user(database, username, name, secret, actor=admin.id, clock=clock)
            grant_role(database, username, role, study_id=DEMO_STUDY, site=site, actor=admin.id, clock=clock)
            credentials.append((username, secret, role, site or "all sites"))
    finally:
        database.dispose()
    table = Table(title=f"demo accounts for {DEMO_STUDY} in {escape(shown)}")
    for column in ("username", "password", "role", "site"):
        table.add_column(column)
    for row in credentials:
        table.add_row(*(escape(c) for c in row))
    console.print(table)
    console.print(f"next: [bold]trialtwin serve --db {escape(shown)}[/] and log in at http://127.0.0.1:8000/login")
