"""One registered model version per idempotency key: the claim a run takes before registering.

Runs `sql/008_model_claims.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0008_model_claims"
down_revision = "0007_validation_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "008_model_claims.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
