"""Alembic environment of the project store, run by `mlops_lib.stores.migrations`.

That module passes an open connection, inside the transaction that holds the upgrade lock;
running Alembic any other way (the `alembic` command, offline SQL) is not supported.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("migrate the store with `mlops store upgrade` "
                       "(mlops_lib.stores.migrations.upgrade), not the alembic command")

context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
