"""Alembic environment: runs the migrations on the connection handed over by ``upgrade`` (or on
``sqlalchemy.url`` when run from the ``alembic`` command)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from trialtwin.store.db import create_db_engine
from trialtwin.store.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run trialtwin.store.migrations.upgrade(url)")
    engine = create_db_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
