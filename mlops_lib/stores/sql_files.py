"""The store's DDL files, `sql/NNN_<name>[.<dialect>].sql`, as the Alembic revisions run them.

Revision `0NNN_<name>` (`sql/migrations/versions/`) runs `sql/NNN_<name>[.<dialect>].sql`.
Portable DDL is the rule; a file only one database needs carries that dialect as SQLAlchemy
names it (`006_wide_batch_ids.postgresql.sql`) and does nothing on the others.

Before Alembic, a home-made runner applied these files and recorded each by name in
`schema_migrations`. A store it made is converted, not rebuilt: `migrations.upgrade` stamps
it at the revision of the last file it applied in order, and a revision skips a file that the
old runner recorded anyway (files applied out of order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from mlops_lib.stores.database import SQL_DIR

OLD_RUNNER_TABLE = "schema_migrations"


def statements(sql: str) -> list[str]:
    """The statements of a DDL file: comments dropped, split on `;` (no `;` inside literals)."""
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def dialect_of(name: str) -> str | None:
    """`postgresql` for `006_x.postgresql.sql`; None for a portable file."""
    stem = name.removesuffix(".sql")
    return stem.rpartition(".")[2] if "." in stem else None


def revision_of(name: str) -> str:
    """The Alembic revision that runs a numbered SQL file: `006_x.postgresql.sql` → `0006_x`."""
    return "0" + name.split(".")[0]


def numbered_files(sql_dir: Path = SQL_DIR) -> list[str]:
    """The numbered DDL files in order (what the old runner applied)."""
    return sorted(p.name for p in sql_dir.glob("[0-9][0-9][0-9]_*.sql"))


def run_sql_file(conn: Connection, name: str, sql_dir: Path = SQL_DIR) -> bool:
    """Run `sql_dir/name` on the connection; returns False when it is not this dialect's or
    the old runner already applied it."""
    dialect = dialect_of(name)
    if dialect is not None and dialect != conn.dialect.name:
        return False
    if name in applied_by_old_runner(conn):
        return False
    for statement in statements((sql_dir / name).read_text()):
        conn.execute(text(statement))
    return True


def applied_by_old_runner(conn: Connection) -> set[str]:
    """The file names the pre-Alembic runner recorded; empty for a store it never touched."""
    if not inspect(conn).has_table(OLD_RUNNER_TABLE):
        return set()
    return set(conn.execute(text(f"SELECT name FROM {OLD_RUNNER_TABLE}")).scalars())


def old_runner_revision(applied: Iterable[str], files: list[str]) -> str | None:
    """The revision an old runner's store stands at: that of the last of `files` (in order)
    up to which every file was applied; None when it applied none."""
    done = set(applied)
    last = None
    for name in files:
        if name not in done:
            break
        last = name
    return None if last is None else revision_of(last)
