"""log lines numbered per app; drain positions by those numbers

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_streams",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_log_streams_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_log_streams")),
    )
    with op.batch_alter_table("log_lines") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    # The kept lines, numbered in the order they were read until now.
    op.execute(
        "UPDATE log_lines SET seq = numbered.n FROM ("
        " SELECT id, row_number() OVER (PARTITION BY app_id ORDER BY id) AS n FROM log_lines"
        ") AS numbered WHERE numbered.id = log_lines.id"
    )
    op.execute(
        "INSERT INTO log_streams (app_id, last_seq)"
        " SELECT app_id, max(seq) FROM log_lines GROUP BY app_id"
    )
    with op.batch_alter_table("log_lines") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_index("ix_log_lines_app_id_id")
        batch.create_index("ix_log_lines_app_id_seq", ["app_id", "seq"], unique=True)

    with op.batch_alter_table("drain_cursors") as batch:
        batch.add_column(sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("delivered_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("lost", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE drain_cursors SET last_seq = coalesce(("
        " SELECT max(l.seq) FROM log_lines AS l JOIN log_drains AS d ON d.app_id = l.app_id"
        " WHERE d.id = drain_cursors.drain_id AND l.id <= drain_cursors.last_id"
        "), 0)"
    )
    with op.batch_alter_table("drain_cursors") as batch:
        batch.drop_column("last_id")


def downgrade() -> None:
    with op.batch_alter_table("drain_cursors") as batch:
        batch.add_column(sa.Column("last_id", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE drain_cursors SET last_id = coalesce(("
        " SELECT max(l.id) FROM log_lines AS l JOIN log_drains AS d ON d.app_id = l.app_id"
        " WHERE d.id = drain_cursors.drain_id AND l.seq <= drain_cursors.last_seq"
        "), 0)"
    )
    with op.batch_alter_table("drain_cursors") as batch:
        batch.drop_column("lost")
        batch.drop_column("delivered_at")
        batch.drop_column("last_seq")
    with op.batch_alter_table("log_lines") as batch:
        batch.drop_index("ix_log_lines_app_id_seq")
        batch.create_index("ix_log_lines_app_id_id", ["app_id", "id"], unique=False)
        batch.drop_column("seq")
    op.drop_table("log_streams")
