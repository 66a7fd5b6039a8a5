"""runtime heartbeats

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runtime_beats",
        sa.Column("runner", sa.String(length=128), nullable=False),
        sa.Column("started_at", tenku.db.base.UTCDateTime(), nullable=False),
        sa.Column("beat_at", tenku.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("runner"),
    )


def downgrade() -> None:
    op.drop_table("runtime_beats")
