"""Backup and restore of the service database in a portable format (ICH E6(R3) 4.3.3(c)(d); requirement D4/G19).

A backup is one zip file:

* ``manifest.json``: the format tag, the schema revision, when and from which backend it was taken, for every
  table its row count and the SHA-256 of its data file, and the audit chain's head (sequence, hash);
* ``tables/<table>.jsonl``: the table's rows in primary-key order, one JSON object per line; timestamps in
  the audit trail's text form (UTC, microseconds), dates ISO 8601, JSON columns as JSON.

The same format serves SQLite and PostgreSQL, so a SQLite backup restores into PostgreSQL and back; it does
not depend on ``pg_dump`` matching the server's version. Every table is read in one read transaction
(SQLite WAL: a snapshot; PostgreSQL: ``REPEATABLE READ READ ONLY``), so the backup is consistent while the
service keeps writing (the same guarantee the SQLite online backup API gives, in a portable form).

Restore goes into an empty database migrated to the backup's schema revision (a new SQLite file or an empty
PostgreSQL database is migrated first). In one transaction it inserts every row, sets PostgreSQL's id
sequences past the restored ids, checks every table's row count and file digest against the manifest and
verifies the audit chain (:func:`trialtwin.store.audit.verify_chain`); any difference rolls the whole
restore back, so nothing is ever half-written. A database with any data is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, Table, func, null, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

import trialtwin.store.tables_access  # noqa: F401  (registers the access tables in Base.metadata)
from trialtwin.store.audit import GENESIS_HASH, ChainReport, timestamp_text, verify_chain
from trialtwin.store.db import SQLITE_BEGIN_OPTION, Database
from trialtwin.store.errors import StoreError
from trialtwin.store.migrations import current_revision, head_revision, upgrade
from trialtwin.store.tables import Base, UTCDateTime

#: Format tag of a backup's manifest.
BACKUP_FORMAT = "trialtwin.backup/1"
MANIFEST = "manifest.json"
#: Rows per INSERT batch on restore.
BATCH = 1000
#: Tables the migrations fill: the audit head starts as one genesis row (seq 0).
HEAD_TABLE = "audit_head"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: row counts and digests per table, and the audit head at the time of the backup."""

    schema_revision: str
    created_at: str
    source_backend: str
    tables: dict[str, dict[str, Any]]
    audit_head: dict[str, Any]
    format: str = BACKUP_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "schema_revision": self.schema_revision,
            "created_at": self.created_at,
            "source_backend": self.source_backend,
            "audit_head": self.audit_head,
            "tables": self.tables,
        }

    @property
    def total_rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())

    @classmethod
    def from_dict(cls, data: Any, *, source: str) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
            raise StoreError(f"{source}: not a trialtwin backup (manifest format is not {BACKUP_FORMAT!r})")
        try:
            return cls(
                schema_revision=str(data["schema_revision"]),
                created_at=str(data["created_at"]),
                source_backend=str(data["source_backend"]),
                tables={str(k): dict(v) for k, v in data["tables"].items()},
                audit_head=dict(data["audit_head"]),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StoreError(f"{source}: manifest is incomplete ({type(exc).__name__}: {exc})") from None


@dataclass
class RestoreReport:
    """The outcome of a restore: rows per table (equal to the manifest's), the chain report, the time taken."""

    manifest: Manifest
    rows: dict[str, int]
    chain: ChainReport
    seconds: float
    migrated: bool = False
    problems: list[str] = field(default_factory=list)


def _tables() -> list[Table]:
    """Every table of the schema in foreign-key order (parents first)."""
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} value cannot be written to a backup")


def _decoder(table: Table) -> Any:
    kinds: dict[str, str] = {}
    for column in table.columns:
        if isinstance(column.type, UTCDateTime):
            kinds[column.name] = "timestamp"
        elif isinstance(column.type, Date):
            kinds[column.name] = "date"
        elif isinstance(column.type, JSON) and column.nullable:
            kinds[column.name] = "json"

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name, kind in kinds.items():
            value = out.get(name)
            if value is None:
                if kind == "json" and name in out:
                    out[name] = null()  # SQL NULL, not the JSON text 'null'
                continue
            if kind == "timestamp":
                out[name] = dt.datetime.fromisoformat(value)
            elif kind == "date":
                out[name] = dt.date.fromisoformat(value)
        return out

    return decode


def _schema_tables(connection: Connection) -> set[str]:
    return set(sa_inspect(connection).get_table_names()) - {"alembic_version"}


def _check_tables(connection: Connection, shown: str) -> None:
    known = {t.name for t in _tables()}
    unknown = _schema_tables(connection) - known
    if unknown:
        raise StoreError(
            f"database {shown} has tables this version of trialtwin does not know ({', '.join(sorted(unknown))}); "
            "use the trialtwin version that made them"
        )


def backup(db: Database, out: str | Path, *, now: dt.datetime | None = None) -> Manifest:
    """Write every table of ``db`` to the zip file ``out`` (refused if it exists); returns the manifest.

    The file appears only when complete (written to a temporary file in the same folder, then renamed)."""
    out = Path(out)
    shown = db.url.render_as_string(hide_password=True)
    if out.exists():
        raise StoreError(f"{out} exists; choose another file (backups are never overwritten)")
    revision = current_revision(db)
    if revision is None:
        raise StoreError(f"database {shown} has no trialtwin schema: nothing to back up")
    created = timestamp_text(now or dt.datetime.now(dt.UTC))
    options: dict[str, Any] = {SQLITE_BEGIN_OPTION: "DEFERRED"}
    if db.backend == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tables: dict[str, dict[str, Any]] = {}
        head: dict[str, Any] = {}
        with (
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            db.engine.connect().execution_options(**options) as connection,
            connection.begin(),
        ):
            _check_tables(connection, shown)
            for table in _tables():
                digest = hashlib.sha256()
                count = 0
                order = list(table.primary_key.columns)
                result = connection.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
                with archive.open(f"tables/{table.name}.jsonl", "w") as member:
                    for row in result.mappings():
                        values = {k: _encode(v) for k, v in row.items()}
                        line = (json.dumps(values, sort_keys=True, default=_json_default) + "\n").encode("utf-8")
                        digest.update(line)
                        member.write(line)
                        count += 1
                        if table.name == HEAD_TABLE:
                            head = {"seq": int(values["seq"]), "hash": values["hash"]}
                tables[table.name] = {"rows": count, "sha256": digest.hexdigest()}
            manifest = Manifest(revision, created, db.backend, tables, head)
            archive.writestr(MANIFEST, json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of the backup at ``path`` (``StoreError`` if it is not a readable trialtwin backup)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return Manifest.from_dict(json.loads(archive.read(MANIFEST)), source=str(path))
    except FileNotFoundError:
        raise StoreError(f"{path}: no such backup file") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not a trialtwin backup ({type(exc).__name__})") from None


def _rows(archive: zipfile.ZipFile, name: str, digest: Any) -> Iterator[dict[str, Any]]:
    with archive.open(f"tables/{name}.jsonl") as member:
        for raw in member:
            digest.update(raw)
            yield json.loads(raw)


def _non_empty(connection: Connection) -> list[str]:
    """Tables of the target that already hold data (the audit head counts only if past the genesis row)."""
    found = []
    for table in _tables():
        if table.name == HEAD_TABLE:
            rows = connection.execute(select(table.c.seq, table.c.hash)).all()
            if any(r.seq != 0 or r.hash != GENESIS_HASH for r in rows) or len(rows) > 1:
                found.append(f"{table.name} (chain at entry {max(r.seq for r in rows)})")
            continue
        count = connection.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            found.append(f"{table.name} ({count} rows)")
    return found


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL: move every serial id's sequence past the largest restored id (else the next insert fails).
    Table and column names travel as bound parameters (``pg_get_serial_sequence``), never spliced into SQL."""
    for table in _tables():
        for column in table.primary_key.columns:
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar_one()
            if sequence is None:
                continue
            largest = connection.execute(select(func.max(column))).scalar_one()
            connection.execute(
                text("SELECT setval(CAST(:seq AS regclass), :value, :called)"),
                {"seq": sequence, "value": largest or 1, "called": largest is not None},
            )


def restore(source: str | Path, db: Database) -> RestoreReport:
    """Restore the backup ``source`` into the empty database ``db`` (see the module docstring).

    ``StoreError`` (and nothing written) when the file is not a backup, its schema revision differs from
    this version's, the database holds data, or any count, digest or the audit chain does not match."""
    started = time.perf_counter()
    manifest = read_manifest(source)
    shown = db.url.render_as_string(hide_password=True)
    latest = head_revision()
    if manifest.schema_revision != latest:
        raise StoreError(
            f"{source}: backup of schema revision {manifest.schema_revision}, this trialtwin is at {latest}; "
            "restore it with the trialtwin version that made it"
        )
    expected = {t.name for t in _tables()}
    if set(manifest.tables) != expected:
        missing, extra = sorted(expected - set(manifest.tables)), sorted(set(manifest.tables) - expected)
        raise StoreError(f"{source}: tables do not match the schema (missing: {missing}, unknown: {extra})")
    try:
        revision = current_revision(db)
        with db.engine.connect() as connection:
            existing = _schema_tables(connection)
    except Exception as exc:
        raise StoreError(
            f"database {shown}: cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    migrated = False
    if revision is None:
        if existing:
            raise StoreError(f"database {shown} is not empty (tables {', '.join(sorted(existing))}); nothing restored")
        upgrade(db)
        migrated = True
    elif revision != latest:
        raise StoreError(f"database {shown} is at schema revision {revision}, not {latest}; nothing restored")

    rows: dict[str, int] = {}
    with zipfile.ZipFile(source) as archive, db.engine.connect() as connection, connection.begin():
        found = _non_empty(connection)
        if found:
            raise StoreError(
                f"database {shown} is not empty: {', '.join(found)}; restore only into a new database, nothing restored"
            )
        problems: list[str] = []
        for table in _tables():
            decode = _decoder(table)
            digest = hashlib.sha256()
            batch: list[dict[str, Any]] = []
            for row in _rows(archive, table.name, digest):
                if table.name == HEAD_TABLE:
                    connection.execute(
                        table.update().where(table.c.id == row["id"]).values(seq=row["seq"], hash=row["hash"])
                    )
                    continue
                batch.append(decode(row))
                if len(batch) >= BATCH:
                    connection.execute(table.insert(), batch)
                    batch = []
            if batch:
                connection.execute(table.insert(), batch)
            if digest.hexdigest() != manifest.tables[table.name].get("sha256"):
                problems.append(f"{table.name}: data file does not match its digest in the manifest")
            rows[table.name] = connection.execute(select(func.count()).select_from(table)).scalar_one()
            if rows[table.name] != int(manifest.tables[table.name]["rows"]):
                want = manifest.tables[table.name]["rows"]
                problems.append(f"{table.name}: {rows[table.name]} rows restored, manifest says {want}")
        if db.backend == "postgresql":
            _reset_sequences(connection)
        with Session(bind=connection) as session:
            chain = verify_chain(session)
        if not chain.ok:
            problems += [f"audit trail: {p}" for p in chain.problems]
        if manifest.audit_head and (chain.length, chain.head_hash) != (
            manifest.audit_head.get("seq"),
            manifest.audit_head.get("hash"),
        ):
            problems.append(
                f"audit trail: restored chain ends at entry {chain.length}, manifest says {manifest.audit_head}"
            )
        if problems:
            raise StoreError(f"{source}: restore refused, nothing written: " + "; ".join(problems))
    return RestoreReport(manifest, rows, chain, time.perf_counter() - started, migrated)
