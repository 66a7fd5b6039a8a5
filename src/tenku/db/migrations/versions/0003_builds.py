"""builds

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _builds_upgrade()
    _buildpack_installations_upgrade()


def downgrade() -> None:
    _buildpack_installations_downgrade()
    _builds_downgrade()


# --- builds and build output -------------------------------------------------


def _builds_upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("user_email", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("source_checksum", sa.String(length=128), nullable=True),
        sa.Column("source_version", sa.Text(), nullable=True),
        sa.Column("source_version_description", sa.Text(), nullable=True),
        sa.Column("source_blob_key", sa.String(length=255), nullable=True),
        sa.Column("buildpacks", sa.JSON(), nullable=True),
        sa.Column("stack", sa.String(length=64), nullable=False),
        sa.Column("slug_id", sa.Uuid(), nullable=True),
        sa.Column("release_id", sa.Uuid(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runner", sa.String(length=64), nullable=True),
        sa.Column("pgid", sa.Integer(), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_builds_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_builds_release_id_releases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["slug_id"], ["slugs.id"], name=op.f("fk_builds_slug_id_slugs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts.id"],
            name=op.f("fk_builds_user_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_builds_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_builds_status"), ["status"], unique=False)

    op.create_table(
        "build_output",
        sa.Column("build_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["builds.id"],
            name=op.f("fk_build_output_build_id_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("build_id", "seq", name=op.f("pk_build_output")),
    )


def _builds_downgrade() -> None:
    op.drop_table("build_output")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_builds_status"))
        batch_op.drop_index(batch_op.f("ix_builds_app_id"))
    op.drop_table("builds")


# --- end of builds ------------------------------------------------------------


# --- buildpack installations ----------------------------------------------------


def _buildpack_installations_upgrade() -> None:
    op.create_table(
        "buildpack_installations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_buildpack_installations_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildpack_installations")),
        sa.UniqueConstraint(
            "app_id", "ordinal", name=op.f("uq_buildpack_installations_app_id_ordinal")
        ),
    )


def _buildpack_installations_downgrade() -> None:
    op.drop_table("buildpack_installations")


# --- end of buildpack installations ---------------------------------------------
