"""Batches, quarantine, training runs, decisions, the champion, reports.

Runs `sql/001_init.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0001_init"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "001_init.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
