"""The audit trail of every champion move (`champion_moves`).

Runs `sql/003_champion_moves.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0003_champion_moves"
down_revision = "0002_drift"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "003_champion_moves.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
