"""SNI (SSL) endpoints: apps' certificates with sealed keys; domains name the one they use

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenku.db.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sni_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("certificate_chain", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("ssl_cert_id", sa.Uuid(), nullable=False),
        sa.Column("cert_domains", sa.JSON(), nullable=False),
        sa.Column("starts_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("ca_signed", sa.Boolean(), nullable=False),
        sa.Column("self_signed", sa.Boolean(), nullable=False),
        sa.Column("previous_chain", sa.Text(), nullable=True),
        sa.Column("previous_key", sa.Text(), nullable=True),
        sa.Column("created_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tenku.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_sni_endpoints_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sni_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_sni_endpoints_name")),
    )
    with op.batch_alter_table("sni_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sni_endpoints_app_id"), ["app_id"], unique=False)

    # Nothing could set the column before; clear it anyway so the new key always holds.
    op.execute("UPDATE domains SET sni_endpoint_id = NULL")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domains_sni_endpoint_id"), ["sni_endpoint_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_domains_sni_endpoint_id_sni_endpoints"),
            "sni_endpoints",
            ["sni_endpoint_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_domains_sni_endpoint_id_sni_endpoints"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_domains_sni_endpoint_id"))

    with op.batch_alter_table("sni_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sni_endpoints_app_id"))

    op.drop_table("sni_endpoints")
