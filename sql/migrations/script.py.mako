"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. Forward only: downgrade raises.
"""

from __future__ import annotations

from alembic import op  # noqa: F401 - op.execute / op.add_column etc. for this revision
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("the store migrations go forward only")
