"""Connection arguments for Airflow's metadata DB when it is SQLite (the embedded default).

SQLite lets one writer in at a time. Python's driver waits 5 s for the lock and then raises
`database is locked`; a user's `airflow backfill create` or `airflow dags trigger` competes with
the scheduler, dag-processor and api-server, and on a busy 2-core machine 5 s is not enough.
The stack also puts the file in WAL mode (`use_wal`), without which a longer wait does not help.
Airflow reads these through `[database] sql_alchemy_connect_args` (an import path), for its
sync engine and, with `_async`, for aiosqlite, which passes them on to `sqlite3.connect`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

BUSY_TIMEOUT_S = 60.0

# Two dicts, not one: Airflow adds `check_same_thread` to the sync engine's arguments in place.
CONNECT_ARGS: dict[str, object] = {"timeout": BUSY_TIMEOUT_S}
CONNECT_ARGS_ASYNC: dict[str, object] = {"timeout": BUSY_TIMEOUT_S}


def use_wal(db_path: Path) -> None:
    """Put the database in write-ahead-log mode, which stays with the file. In SQLite's default
    rollback-journal mode a connection that reads and then wants to write while another one
    commits is refused at once, whatever the busy timeout (SQLite's rule against deadlock):
    that is how `airflow backfill create` failed on CI while the scheduler wrote. With the WAL,
    readers and the writer do not block each other, and writers queue for the busy timeout."""
    with closing(sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S)) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise RuntimeError(f"{db_path}: SQLite kept journal mode {mode!r}, not 'wal'")
