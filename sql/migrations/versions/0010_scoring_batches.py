"""Scoring batches: the scoring DAG's claim on each unlabelled batch (and refused re-uploads).

Runs `sql/010_scoring_batches.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0010_scoring_batches"
down_revision = "0009_prediction_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "010_scoring_batches.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
