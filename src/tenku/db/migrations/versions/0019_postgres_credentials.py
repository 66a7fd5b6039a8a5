"""Named credentials of built-in Postgres add-ons

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "postgres_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("addon_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["addon_id"],
            ["addons.id"],
            name=op.f("fk_postgres_credentials_addon_id_addons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postgres_credentials")),
        sa.UniqueConstraint("addon_id", "name", name=op.f("uq_postgres_credentials_addon_id_name")),
    )
    with op.batch_alter_table("postgres_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postgres_credentials_addon_id"), ["addon_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("postgres_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postgres_credentials_addon_id"))

    op.drop_table("postgres_credentials")
