"""Every crossing of a pipeline"s drift policy (`drift_crossings`).

Runs `sql/005_drift_crossings.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0005_drift_crossings"
down_revision = "0004_training_inputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "005_drift_crossings.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
