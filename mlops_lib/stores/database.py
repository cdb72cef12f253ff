"""Where the store's SQL lives, one engine per store URL, and the check that its schema is there.

`Store` does no DDL: `mlops store upgrade` (`mlops_lib.stores.migrations`) creates and migrates
the tables. A store opened on a database that was never upgraded, or that is older than this
code, fails on its first query with `StoreNotReady`, which names that command.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
VERSIONS_DIR = SQL_DIR / "migrations" / "versions"
UPGRADE_HINT = "run `mlops store upgrade` (or `mlops store upgrade --url <url>`) first"


class StoreNotReady(RuntimeError):
    """The store's tables are missing or older than this code: `mlops store upgrade` fixes it."""


def query(name: str) -> str:
    """A read query from `sql/queries/` (shared by the store and the Airflow triggers)."""
    return (SQL_DIR / "queries" / f"{name}.sql").read_text()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """The process's engine (and connection pool) for a store URL, made on first use.

    Cached so that a `Store` built per sensor poke or per task reuses its connections.
    """
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES.setdefault(url, new_engine(url))  # a lost race leaves an unused one
    return engine


def new_engine(url: str) -> Engine:
    """An engine of its own (the caller disposes it); SQLite's folder is created."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _drop_inherited_pools() -> None:
    # A forked child must not share the parent's sockets: it opens its own connections.
    for engine in _ENGINES.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_pools)


def known_revisions() -> list[str]:
    """The schema revisions this code ships, oldest first.

    A revision's id is its file's name under `sql/migrations/versions/` (`0007_name.py` is
    `0007_name`), so listing the folder is enough: no Alembic import on the hot path.
    """
    return sorted(p.stem for p in VERSIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


_READY: set[str] = set()


def require_schema(url: str, engine: Engine) -> None:
    """Raise StoreNotReady unless the store's schema is this code's; checked once per process."""
    if url in _READY:
        return
    with engine.connect() as conn:
        problem = schema_problem(conn)
    if problem is not None:
        raise StoreNotReady(f"the store at {safe_url(url)} {problem}: {UPGRADE_HINT}")
    _READY.add(url)


def schema_problem(conn: Connection) -> str | None:
    """Why the connected store cannot be used by this code, or None when it can.

    A revision newer than any this code knows passes: migrations add, so code that a rolling
    deploy has not replaced yet keeps working against a store upgraded by the newer code.
    """
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables:
        if "schema_migrations" in tables:
            return "was made by the old migration runner and has not been converted"
        return "has no tables"
    found = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    known = known_revisions()
    if not found:
        return "has no schema revision"
    if known[-1] in found or not found <= set(known):
        return None
    return f"is at schema revision {', '.join(sorted(found))}, this code needs {known[-1]}"
