"""dynos

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dynos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.String(length=32), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=True),
        sa.Column("release_version", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("oneoff", sa.Boolean(), nullable=False),
        sa.Column("attach", sa.Boolean(), nullable=False),
        sa.Column("attach_digest", sa.String(length=64), nullable=True),
        sa.Column("tty", sa.Boolean(), nullable=False),
        sa.Column("env", sa.JSON(), nullable=False),
        sa.Column("time_to_live", sa.Integer(), nullable=True),
        sa.Column("restart_requested", sa.Boolean(), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("pgid", sa.Integer(), nullable=True),
        sa.Column("runner", sa.String(length=128), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_dynos_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_dynos_release_id_releases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dynos")),
        sa.UniqueConstraint("app_id", "name", name=op.f("uq_dynos_app_id_name")),
        sa.UniqueConstraint("attach_digest", name=op.f("uq_dynos_attach_digest")),
    )
    with op.batch_alter_table("dynos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dynos_app_id"), ["app_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dynos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dynos_app_id"))
    op.drop_table("dynos")
