"""Pipelines: apps grouped into stages, and promotions of a slug from one app to others

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(owner_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_pipelines_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["accounts.id"],
            name=op.f("fk_pipelines_owner_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_pipelines_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipelines_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_pipelines_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pipelines_team_id"), ["team_id"], unique=False)

    op.create_table(
        "pipeline_couplings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_pipeline_couplings_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_couplings_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_couplings")),
        sa.UniqueConstraint("app_id", name=op.f("uq_pipeline_couplings_app_id")),
    )
    with op.batch_alter_table("pipeline_couplings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_couplings_pipeline_id"), ["pipeline_id"], unique=False
        )

    op.create_table(
        "pipeline_promotions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("source_app_id", sa.Uuid(), nullable=False),
        sa.Column("source_release_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=128), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_promotions_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_app_id"],
            ["apps.id"],
            name=op.f("fk_pipeline_promotions_source_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_release_id"],
            ["releases.id"],
            name=op.f("fk_pipeline_promotions_source_release_id_releases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts.id"],
            name=op.f("fk_pipeline_promotions_user_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_promotions")),
    )
    with op.batch_alter_table("pipeline_promotions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_promotions_pipeline_id"), ["pipeline_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_promotions_source_app_id"), ["source_app_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pipeline_promotions_status"), ["status"], unique=False)

    op.create_table(
        "pipeline_promotion_targets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("release_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_pipeline_promotion_targets_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["pipeline_promotions.id"],
            name=op.f("fk_pipeline_promotion_targets_promotion_id_pipeline_promotions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_pipeline_promotion_targets_release_id_releases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_promotion_targets")),
    )
    with op.batch_alter_table("pipeline_promotion_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_promotion_targets_app_id"), ["app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_promotion_targets_promotion_id"), ["promotion_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_promotion_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_promotion_targets_promotion_id"))
        batch_op.drop_index(batch_op.f("ix_pipeline_promotion_targets_app_id"))

    op.drop_table("pipeline_promotion_targets")
    with op.batch_alter_table("pipeline_promotions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_promotions_status"))
        batch_op.drop_index(batch_op.f("ix_pipeline_promotions_source_app_id"))
        batch_op.drop_index(batch_op.f("ix_pipeline_promotions_pipeline_id"))

    op.drop_table("pipeline_promotions")
    with op.batch_alter_table("pipeline_couplings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_couplings_pipeline_id"))

    op.drop_table("pipeline_couplings")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipelines_team_id"))
        batch_op.drop_index(batch_op.f("ix_pipelines_owner_id"))
        batch_op.drop_index(batch_op.f("ix_pipelines_name"))

    op.drop_table("pipelines")
