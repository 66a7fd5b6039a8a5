"""Heroku Postgres transfers (backups, restores, copies) and daily backup schedules

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pg_transfer_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("addon_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("last_due_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["addon_id"],
            ["addons.id"],
            name=op.f("fk_pg_transfer_schedules_addon_id_addons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pg_transfer_schedules")),
        sa.UniqueConstraint("addon_id", name=op.f("uq_pg_transfer_schedules_addon_id")),
    )
    op.create_table(
        "pg_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("num", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_type", sa.String(length=16), nullable=False),
        sa.Column("to_type", sa.String(length=16), nullable=False),
        sa.Column("from_name", sa.String(length=255), nullable=True),
        sa.Column("to_name", sa.String(length=255), nullable=True),
        sa.Column("from_addon_id", sa.Uuid(), nullable=True),
        sa.Column("to_addon_id", sa.Uuid(), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("blob_key", sa.String(length=255), nullable=True),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("source_bytes", sa.BigInteger(), nullable=True),
        sa.Column("processed_bytes", sa.BigInteger(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("logs", sa.JSON(), nullable=False),
        sa.Column("runner", sa.String(length=128), nullable=True),
        sa.Column("started_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_pg_transfers_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_addon_id"],
            ["addons.id"],
            name=op.f("fk_pg_transfers_from_addon_id_addons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_addon_id"],
            ["addons.id"],
            name=op.f("fk_pg_transfers_to_addon_id_addons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pg_transfers")),
        sa.UniqueConstraint("app_id", "num", name=op.f("uq_pg_transfers_app_id_num")),
    )
    with op.batch_alter_table("pg_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pg_transfers_from_addon_id"), ["from_addon_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pg_transfers_to_addon_id"), ["to_addon_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pg_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pg_transfers_to_addon_id"))
        batch_op.drop_index(batch_op.f("ix_pg_transfers_from_addon_id"))

    op.drop_table("pg_transfers")
    op.drop_table("pg_transfer_schedules")
