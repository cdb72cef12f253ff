"""Batch ids up to 1024 characters; PostgreSQL only (SQLite does not
enforce VARCHAR lengths).

Runs `sql/006_wide_batch_ids.postgresql.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0006_wide_batch_ids"
down_revision = "0005_drift_crossings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "006_wide_batch_ids.postgresql.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
