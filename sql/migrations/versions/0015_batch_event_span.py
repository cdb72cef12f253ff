"""The newest event time of a batch (its span, with event_time, from its time column).

Runs `sql/015_batch_event_span.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0015_batch_event_span"
down_revision = "0014_window_drift"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "015_batch_event_span.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
