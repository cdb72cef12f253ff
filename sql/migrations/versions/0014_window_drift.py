"""Prediction and calibration drift per performance window (a JSON column).

Runs `sql/014_window_drift.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0014_window_drift"
down_revision = "0013_performance_crossings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "014_window_drift.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
