"""Drift statistics per batch and feature (`drift_metrics`).

Runs `sql/002_drift.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0002_drift"
down_revision = "0001_init"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "002_drift.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
