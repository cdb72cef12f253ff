"""Crossings of the performance policy (a retrain asked for by realized performance).

Runs `sql/013_performance_crossings.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0013_performance_crossings"
down_revision = "0012_label_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "013_performance_crossings.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
