"""Helpers shared by test modules (ports, throw-away PostgreSQL databases)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINES_DIR = REPO_ROOT / "pipelines"
EXAMPLE_SPEC = PIPELINES_DIR / "credit_default.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_server_url() -> str | None:
    """CT_TEST_PG: a PostgreSQL server URL whose user may create databases (CI sets it)."""
    return os.environ.get("CT_TEST_PG") or None


def create_pg_database(server_url: str, prefix: str = "ct_test") -> tuple[str, str]:
    """A fresh database on the server; returns its name and URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
