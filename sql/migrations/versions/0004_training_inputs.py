"""Which batches each training run took (`training_batches`), rows and
staged copy of an accepted batch, and refused re-uploads (`batch_conflicts`).

Runs `sql/004_training_inputs.sql`; the DDL stays in sql/ (mlops_lib.stores.sql_files).
"""

from __future__ import annotations

from alembic import op

from mlops_lib.stores.sql_files import run_sql_file

revision = "0004_training_inputs"
down_revision = "0003_champion_moves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(op.get_bind(), "004_training_inputs.sql")


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
