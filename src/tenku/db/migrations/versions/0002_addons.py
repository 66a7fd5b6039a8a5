"""addons

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "addons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.String(length=160), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("config_prefix", sa.String(length=64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("provision_message", sa.Text(), nullable=True),
        sa.Column("billed_cents", sa.Integer(), nullable=False),
        sa.Column("billed_unit", sa.String(length=16), nullable=False),
        sa.Column("billed_contract", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_addons_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts.id"],
            name=op.f("fk_addons_created_by_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addons")),
        sa.UniqueConstraint("name", name=op.f("uq_addons_name")),
    )
    op.create_index(op.f("ix_addons_app_id"), "addons", ["app_id"], unique=False)
    op.create_table(
        "addon_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("addon_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["addon_id"],
            ["addons.id"],
            name=op.f("fk_addon_attachments_addon_id_addons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_addon_attachments_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addon_attachments")),
        sa.UniqueConstraint("app_id", "name", name=op.f("uq_addon_attachments_app_id_name")),
    )
    op.create_index(
        op.f("ix_addon_attachments_addon_id"), "addon_attachments", ["addon_id"], unique=False
    )
    op.create_table(
        "addon_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("addon_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["addon_id"],
            ["addons.id"],
            name=op.f("fk_addon_tokens_addon_id_addons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addon_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_addon_tokens_token_hash")),
    )
    op.create_index(op.f("ix_addon_tokens_addon_id"), "addon_tokens", ["addon_id"], unique=False)
    op.create_table(
        "release_addon_vars",
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_release_addon_vars_release_id_releases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_release_addon_vars")),
    )


def downgrade() -> None:
    op.drop_table("release_addon_vars")
    op.drop_index(op.f("ix_addon_tokens_addon_id"), table_name="addon_tokens")
    op.drop_table("addon_tokens")
    op.drop_index(op.f("ix_addon_attachments_addon_id"), table_name="addon_attachments")
    op.drop_table("addon_attachments")
    op.drop_index(op.f("ix_addons_app_id"), table_name="addons")
    op.drop_table("addons")
