"""The validation report of an accepted batch (`batches.report_json`).

Runs `sql/007_validation_reports.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0007_validation_reports"
down_revision = "0006_wide_batch_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "007_validation_reports.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
