"""log drain delivery positions

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drain_cursors",
        sa.Column("drain_id", sa.Uuid(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("skips", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drain_id"],
            ["log_drains.id"],
            name=op.f("fk_drain_cursors_drain_id_log_drains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("drain_id", name=op.f("pk_drain_cursors")),
    )


def downgrade() -> None:
    op.drop_table("drain_cursors")
