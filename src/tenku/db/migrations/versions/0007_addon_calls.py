"""add-on provider calls in flight

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("addons") as batch:
        batch.add_column(sa.Column("provider_call", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("provider_call_at", tenku.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("addons") as batch:
        batch.drop_column("provider_call_at")
        batch.drop_column("provider_call")
