"""Connection arguments for Airflow's metadata DB when it is SQLite (the embedded default).

SQLite lets one writer in at a time. Python's driver waits 5 s for the lock and then raises
`database is locked`; a user's `airflow backfill create` or `airflow dags trigger` competes with
the scheduler, dag-processor and api-server, and on a busy 2-core machine 5 s is not enough.
Airflow reads these through `[database] sql_alchemy_connect_args` (an import path), for its
sync engine and, with `_async`, for aiosqlite, which passes them on to `sqlite3.connect`.
"""

from __future__ import annotations

BUSY_TIMEOUT_S = 60.0

CONNECT_ARGS: dict[str, object] = {"timeout": BUSY_TIMEOUT_S}
CONNECT_ARGS_ASYNC: dict[str, object] = {"timeout": BUSY_TIMEOUT_S}
