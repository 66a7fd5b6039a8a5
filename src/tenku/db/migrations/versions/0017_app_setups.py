"""App setups: apps made from a tarball's app.json, and how far the runtime got

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_setups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("app_name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("manifest_errors", sa.JSON(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("source_checksum", sa.String(length=128), nullable=True),
        sa.Column("source_version", sa.Text(), nullable=True),
        sa.Column("source_blob_key", sa.String(length=255), nullable=True),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("addon_ids", sa.JSON(), nullable=False),
        sa.Column("build_id", sa.Uuid(), nullable=True),
        sa.Column("build_status", sa.String(length=16), nullable=True),
        sa.Column("postdeploy_dyno", sa.String(length=64), nullable=True),
        sa.Column("postdeploy_output", sa.Text(), nullable=True),
        sa.Column("postdeploy_exit_code", sa.Integer(), nullable=True),
        sa.Column("resolved_success_url", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=128), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts.id"],
            name=op.f("fk_app_setups_user_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_setups")),
    )
    with op.batch_alter_table("app_setups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_setups_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_app_setups_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_app_setups_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("app_setups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_setups_user_id"))
        batch_op.drop_index(batch_op.f("ix_app_setups_status"))
        batch_op.drop_index(batch_op.f("ix_app_setups_app_id"))

    op.drop_table("app_setups")
