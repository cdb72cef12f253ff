"""Verdict, noise floor and compared rows per drift row (`drift_metrics`).

Runs `sql/016_drift_sample_size.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0016_drift_sample_size"
down_revision = "0015_batch_event_span"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "016_drift_sample_size.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
