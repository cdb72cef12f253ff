"""Batches: the day their data belongs to (a date partition in the folder name), if any.

Runs `sql/011_batch_event_time.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0011_batch_event_time"
down_revision = "0010_scoring_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "011_batch_event_time.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
