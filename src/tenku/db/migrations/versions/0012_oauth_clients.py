"""OAuth clients; client-bound authorizations, their grants, and access tokens that may be absent

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_hint", sa.String(length=32), nullable=False),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_oauth_clients_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_oauth_clients_secret_hash")),
    )
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_clients_account_id"), ["account_id"], unique=False
        )

    # No client existed before this revision: a client id set by hand would name none.
    op.execute("UPDATE authorizations SET client_id = NULL WHERE client_id IS NOT NULL")
    with op.batch_alter_table("authorizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grant_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("grant_code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("grant_redirect_uri", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("grant_expires_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("grant_used_at", tenku.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column(
            "access_token_hash", existing_type=sa.VARCHAR(length=64), nullable=True
        )
        batch_op.alter_column(
            "access_token_hint", existing_type=sa.VARCHAR(length=32), nullable=True
        )
        batch_op.create_index(
            batch_op.f("ix_authorizations_client_id"), ["client_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_authorizations_grant_code_hash"), ["grant_code_hash"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_authorizations_client_id_oauth_clients"),
            "oauth_clients",
            ["client_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    # Client authorizations cannot outlive their clients, nor be kept without a token.
    op.execute(
        "DELETE FROM authorizations WHERE client_id IS NOT NULL OR access_token_hash IS NULL"
    )
    with op.batch_alter_table("authorizations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_authorizations_client_id_oauth_clients"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_authorizations_grant_code_hash"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_authorizations_client_id"))
        batch_op.alter_column(
            "access_token_hint", existing_type=sa.VARCHAR(length=32), nullable=False
        )
        batch_op.alter_column(
            "access_token_hash", existing_type=sa.VARCHAR(length=64), nullable=False
        )
        batch_op.drop_column("grant_used_at")
        batch_op.drop_column("grant_expires_at")
        batch_op.drop_column("grant_redirect_uri")
        batch_op.drop_column("grant_code_hash")
        batch_op.drop_column("grant_id")

    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_clients_account_id"))

    op.drop_table("oauth_clients")
