"""An account's collaborations indexed with their apps: the app ids an account sees come
from the index alone

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_collaborators_account_id_app_id", "collaborators", ["account_id", "app_id"])
    op.drop_index("ix_collaborators_account_id", table_name="collaborators")


def downgrade() -> None:
    op.create_index("ix_collaborators_account_id", "collaborators", ["account_id"])
    op.drop_index("ix_collaborators_account_id_app_id", table_name="collaborators")
