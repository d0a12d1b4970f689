"""Alembic migrations of the service database, runnable from code: ``upgrade(url)``.

``upgrade`` brings a database (new or older) to the latest schema; ``current_revision`` says where one is.
The environment (``env.py``) also works with the ``alembic`` command if a ``sqlalchemy.url`` is given.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from trialtwin.store.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """An Alembic configuration pointing at these migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The latest revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(url: str | URL | Database, revision: str = "head") -> str:
    """Migrate the database at ``url`` to ``revision`` (default: the latest) in one transaction; returns the
    revision it is at afterwards. Safe to run again: an up-to-date database is left as it is."""
    db = url if isinstance(url, Database) else Database(url, pool_size=1)
    config = alembic_config()
    try:
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return current_revision(db) or ""
    finally:
        if db is not url:
            db.dispose()


def current_revision(url: str | URL | Database) -> str | None:
    """The revision the database is at (``None`` for a database without the schema)."""
    db = url if isinstance(url, Database) else Database(url, pool_size=1)
    try:
        with db.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if db is not url:
            db.dispose()
