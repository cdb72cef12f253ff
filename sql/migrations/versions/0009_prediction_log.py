"""The prediction log: one row per scored batch, model version and role.

Runs `sql/009_prediction_log.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0009_prediction_log"
down_revision = "0008_model_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "009_prediction_log.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
