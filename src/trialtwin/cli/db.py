"""``trialtwin db …`` and ``trialtwin audit …``: create or migrate the service database, verify and sign
its audit trail."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy import inspect as sa_inspect

from trialtwin.cli.console import console, err_console, print_json
from trialtwin.services.uow import system_clock
from trialtwin.store.audit import (
    Checkpoint,
    Ed25519Signer,
    Signer,
    create_checkpoint,
    load_checkpoint,
    load_signer,
    save_checkpoint,
    verify_chain,
)
from trialtwin.store.backup import backup, restore
from trialtwin.store.db import DEFAULT_URL, Database
from trialtwin.store.errors import StoreError
from trialtwin.store.migrations import head_revision, upgrade

DB_URL_ENV = "TRIALTWIN_DB_URL"

db_app = typer.Typer(
    help=(
        "Create or migrate the service database (SQLite by default, or PostgreSQL).\n\n"
        "Example: [bold]trialtwin db upgrade --db sqlite:///trial.db[/]"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

audit_app = typer.Typer(
    help=(
        "Check and sign the audit trail: every change to a trial record is one entry in a SHA-256 hash "
        "chain; a signed checkpoint fixes its length and last hash so that later tampering shows.\n\n"
        "Examples:\n\n"
        "  [bold]trialtwin audit keygen --out audit.key[/]\n\n"
        "  [bold]trialtwin audit checkpoint --db sqlite:///trial.db --key-file audit.key --out cp-2025-01.json[/]\n\n"
        "  [bold]trialtwin audit verify --db sqlite:///trial.db --key-file audit.key --checkpoint cp-2025-01.json[/]"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"Database URL (default: ${DB_URL_ENV}, else {DEFAULT_URL}), e.g. postgresql://user@host/trialtwin.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=(
            "Checkpoint key: an HMAC secret (32+ bytes) or an Ed25519 PEM key. Default: $TRIALTWIN_AUDIT_KEY_FILE, "
            "else the secret in $TRIALTWIN_AUDIT_KEY."
        ),
        show_default=False,
    ),
]


def _url(db: str | None) -> str:
    return db or os.environ.get(DB_URL_ENV) or DEFAULT_URL


def _open_existing(url: str) -> Database:
    """The database at ``url``, which must exist and have the schema (StoreError otherwise)."""
    database = Database(url, pool_size=1)
    shown = database.url.render_as_string(hide_password=True)
    if database.backend == "sqlite":
        path = database.url.database
        if not path or path == ":memory:" or not Path(path).exists():
            raise StoreError(f"database {shown}: no such file (create it with: trialtwin db upgrade --db {shown})")
    try:
        with database.engine.connect() as connection:
            has_schema = sa_inspect(connection).has_table("audit_log")
    except Exception as exc:  # connection refused, bad credentials: one line, no traceback
        raise StoreError(
            f"database {shown}: cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    if not has_schema:
        raise StoreError(f"database {shown} has no trialtwin schema (run: trialtwin db upgrade --db {shown})")
    return database


@db_app.command("upgrade")
def upgrade_command(db: DbOpt = None) -> None:
    """Create the service database, or migrate it to the latest schema (safe to run again).

    A new SQLite file is created if needed; a PostgreSQL database must exist (createdb). The schema is made
    by the Alembic migrations in trialtwin.store.migrations, including the triggers that refuse deletes and
    audit-trail edits.

    Example: [bold]trialtwin db upgrade --db sqlite:///trial.db[/]
    """
    url = _url(db)
    database = Database(url, pool_size=1)
    shown = database.url.render_as_string(hide_password=True)
    try:
        revision = upgrade(database)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"database {shown}: cannot migrate ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    finally:
        database.dispose()
    latest = " (latest)" if revision == head_revision() else ""
    console.print(f"database {escape(shown)} is at revision {revision}{latest}")


@db_app.command("backup")
def backup_command(
    out: Annotated[Path, typer.Option("--out", help="Backup file to create (a zip; refused if it exists).")],
    db: DbOpt = None,
) -> None:
    """Back up every table to one portable file (JSON lines per table plus a manifest of row counts, digests
    and the audit head), read in one consistent snapshot while the service keeps running. The same file
    restores into SQLite or PostgreSQL (ICH E6(R3) 4.3.3(c)(d)).

    Example: [bold]trialtwin db backup --db sqlite:///trial.db --out backups/trial-2025-03-03.zip[/]
    """
    database = _open_existing(_url(db))
    try:
        manifest = backup(database, out, now=system_clock())
    finally:
        database.dispose()
    console.print(
        f"backup: {manifest.total_rows} rows in {len(manifest.tables)} tables, audit trail at entry "
        f"{manifest.audit_head.get('seq', 0)}, schema {manifest.schema_revision} → {escape(str(out))}"
    )


@db_app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Option("--from", help="Backup file made by trialtwin db backup.")],
    db: DbOpt = None,
) -> None:
    """Restore a backup into an EMPTY database (a new SQLite file, or an empty PostgreSQL database; it is
    migrated first). Every row count and data digest must match the manifest and the audit trail must
    verify, or nothing is written (exit 1). A database that holds any data is refused.

    Example: [bold]trialtwin db restore --from backups/trial-2025-03-03.zip --db sqlite:///restored.db[/]
    """
    database = Database(_url(db), pool_size=1)
    try:
        report = restore(source, database)
    finally:
        database.dispose()
    console.print(
        f"restored {sum(report.rows.values())} rows in {len(report.rows)} tables (row counts match the manifest); "
        f"[bold green]audit trail intact[/]: {report.chain.length} entries, head {report.chain.head_hash[:16]}…; "
        f"restore time {report.seconds:.2f} s"
    )


def _signer_or_none(key_file: Path | None) -> Signer | None:
    if key_file is None and not (os.environ.get("TRIALTWIN_AUDIT_KEY_FILE") or os.environ.get("TRIALTWIN_AUDIT_KEY")):
        return None
    return load_signer(key_file)


@audit_app.command("verify")
def verify_command(
    db: DbOpt = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A checkpoint file exported earlier (repeatable).", show_default=False),
    ] = None,
    key_file: KeyOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify the audit trail: every entry's hash, the links between entries, the sequence numbers, the head
    row, and every checkpoint (those stored in the database and those given with --checkpoint). With a key,
    checkpoint signatures are verified too.

    Exit code 0 when the trail is intact, 1 when tampering is detected.

    Example: [bold]trialtwin audit verify --db sqlite:///trial.db --checkpoint cp-2025-01.json --key-file audit.key[/]
    """
    checkpoints: list[Checkpoint] = [load_checkpoint(p) for p in checkpoint or []]
    signer = _signer_or_none(key_file)
    database = _open_existing(_url(db))
    try:
        with database.read_session() as session:
            report = verify_chain(session, checkpoints=checkpoints, signer=signer)
    finally:
        database.dispose()
    if json_output:
        print_json({**report.to_dict(), "signatures_checked": signer is not None})
    else:
        if report.ok:
            console.print(
                f"[bold green]audit trail intact[/]: {report.length} entries, head {report.head_hash[:16]}…, "
                f"{report.checkpoints} checkpoint(s) matched"
                + ("" if signer is not None else " (signatures not checked: no key given)")
            )
        else:
            err_console.print(f"[bold red]audit trail BROKEN[/]: {len(report.problems)} problem(s)")
            for problem in report.problems:
                err_console.print(f"  - {escape(problem)}")
    if not report.ok:
        raise typer.Exit(code=1)


@audit_app.command("checkpoint")
def checkpoint_command(
    out: Annotated[Path, typer.Option("--out", help="File to write the signed checkpoint to (JSON).")],
    db: DbOpt = None,
    key_file: KeyOpt = None,
) -> None:
    """Sign the audit trail's current length and last hash with the server key, store the checkpoint in the
    database and write it to --out. Keep copies away from the database server: a checkpoint proves later
    that no entry up to it was changed, removed or reordered. Refused (exit 1) if the trail is already broken.

    Example: [bold]trialtwin audit checkpoint --db sqlite:///trial.db --key-file audit.key --out cp-2025-01.json[/]
    """
    signer = load_signer(key_file)
    database = _open_existing(_url(db))
    try:
        with database.session() as session, session.begin():
            report = verify_chain(session, signer=signer)
            if not report.ok:
                err_console.print("[bold red]audit trail BROKEN[/]: no checkpoint signed")
                for problem in report.problems:
                    err_console.print(f"  - {escape(problem)}")
                raise typer.Exit(code=1)
            cp = create_checkpoint(session, signer, now=system_clock())
    finally:
        database.dispose()
    save_checkpoint(cp, out)
    console.print(
        f"checkpoint: entry {cp.sequence}, head {cp.head_hash[:16]}…, {cp.timestamp}, "
        f"{cp.algorithm} key {cp.key_id} → {escape(str(out))}"
    )


@audit_app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Key file to create (refused if it exists).")],
    ed25519: Annotated[
        bool,
        typer.Option("--ed25519", help="Make an Ed25519 key pair (needs the cryptography package) instead of HMAC."),
    ] = False,
) -> None:
    """Make a checkpoint signing key: a random 256-bit HMAC-SHA256 secret (hex), or with --ed25519 a private
    key (PEM) plus its public key in FILE.pub, which inspectors can use to verify without being able to sign.
    The file is created readable by its owner only.

    Example: [bold]trialtwin audit keygen --out audit.key[/]
    """
    if out.exists():
        raise StoreError(f"{out} exists; choose another file (keys are never overwritten)")
    if ed25519:
        signer = Ed25519Signer.generate()
        data, public = signer.private_pem(), signer.public_pem()
    else:
        data, public = (secrets.token_hex(32) + "\n").encode("ascii"), None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if public is not None:
            Path(f"{out}.pub").write_bytes(public)
    except OSError as exc:
        raise StoreError(f"cannot write the key to {out}: {exc.strerror}") from None
    key_id = load_signer(out).key_id
    extra = f" and public key {out}.pub" if public is not None else ""
    console.print(f"key {key_id} ({'ed25519' if ed25519 else 'hmac-sha256'}) written to {escape(str(out))}{extra}")
