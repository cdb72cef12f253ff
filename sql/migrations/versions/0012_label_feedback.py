"""Late labels: label drops, one label per scored row, their corrections, realized performance.

Runs `sql/012_label_feedback.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0012_label_feedback"
down_revision = "0011_batch_event_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "012_label_feedback.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
