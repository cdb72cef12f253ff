"""Alerts (what an operator was told) and batch replays (what an operator did).

Runs `sql/017_operations.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0017_operations"
down_revision = "0016_drift_sample_size"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "017_operations.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
