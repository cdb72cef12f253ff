"""The store's schema, migrated by Alembic: `mlops store upgrade` and `mlops store current`.

The Alembic environment is `sql/migrations/` (env.py and versions/), driven from here with no
alembic.ini. `upgrade` runs in one transaction under a lock (a PostgreSQL advisory lock, or
SQLite's write lock taken up front), so two processes upgrading at once take turns and the
second finds nothing to do. A store made by the pre-Alembic runner is stamped at the
revision matching the files it applied, then upgraded (`mlops_lib.stores.sql_files`).
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, event, inspect, text

from mlops_lib.stores.database import SQL_DIR, new_engine
from mlops_lib.stores.database import safe_url as safe_url
from mlops_lib.stores.sql_files import (
    OLD_RUNNER_TABLE,
    applied_by_old_runner,
    numbered_files,
    old_runner_revision,
)

SCRIPT_LOCATION = SQL_DIR / "migrations"
# pg_advisory_xact_lock key: any constant bigint the store's database uses for nothing else.
_LOCK_KEY = int.from_bytes(b"ct_store", "big") >> 1


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """Alembic's configuration in code; env.py migrates on `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser syntax
    config.set_main_option("file_template", "%%(rev)s")  # a revision's file is its id
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str) -> tuple[str | None, str]:
    """Create or migrate the store's tables to the newest revision; returns the revision
    before (None: an empty database) and after. Idempotent: a second call changes nothing."""
    engine = _locking_engine(url)
    try:
        with engine.begin() as conn:
            _lock(conn)
            before = _revision(conn) or _stamp_old_store(url, conn)
            command.upgrade(alembic_config(url, conn), "head")
            after = _revision(conn)
    finally:
        engine.dispose()
    assert after is not None, "alembic upgrade left no revision"
    return before, after


def current(url: str) -> str | None:
    """The store's schema revision; None for a database Alembic has not migrated."""
    engine = new_engine(url)
    try:
        with engine.connect() as conn:
            return _revision(conn)
    finally:
        engine.dispose()


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _stamp_old_store(url: str, conn: Connection) -> str | None:
    """Stamp a store made by the old runner (its tables, no alembic_version) at the revision
    of the files it applied; returns that revision, or None for any other database."""
    if not inspect(conn).has_table(OLD_RUNNER_TABLE):
        return None
    revision = old_runner_revision(applied_by_old_runner(conn), numbered_files())
    if revision is not None:
        command.stamp(alembic_config(url, conn), revision)
    return revision


def _lock(conn: Connection) -> None:
    """Serialise concurrent upgrades; held until the upgrade's transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _locking_engine(url: str) -> Engine:
    """An engine whose transactions are real DDL transactions on SQLite too.

    pysqlite runs DDL outside transactions by default; with its own handling off and
    `BEGIN IMMEDIATE` (SQLAlchemy's documented recipe) the whole upgrade is one transaction
    that holds SQLite's write lock from the start, so a concurrent upgrade waits its turn.
    """
    engine = new_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _driver_autocommit)
        event.listen(engine, "begin", _begin_immediate)
    return engine


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
