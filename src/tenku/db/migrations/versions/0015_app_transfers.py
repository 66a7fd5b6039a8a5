"""App transfers: offers of personal apps to other accounts

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_transfers_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["accounts.id"],
            name=op.f("fk_app_transfers_owner_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["accounts.id"],
            name=op.f("fk_app_transfers_recipient_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_transfers")),
    )
    with op.batch_alter_table("app_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_transfers_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_app_transfers_owner_id"), ["owner_id"], unique=False)
        # At most one pending transfer per app.
        batch_op.create_index(
            "ix_app_transfers_pending_app_id",
            ["app_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_app_transfers_recipient_id"), ["recipient_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("app_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_transfers_recipient_id"))
        batch_op.drop_index("ix_app_transfers_pending_app_id")
        batch_op.drop_index(batch_op.f("ix_app_transfers_owner_id"))
        batch_op.drop_index(batch_op.f("ix_app_transfers_app_id"))

    op.drop_table("app_transfers")
