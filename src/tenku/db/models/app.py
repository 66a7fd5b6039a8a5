from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class App(Timestamps, Base):
    __tablename__ = "apps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # None for a team app: the team holds it (`organization_id`).
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    region: Mapped[str] = mapped_column(String(32))
    stack: Mapped[str] = mapped_column(String(64))
    build_stack: Mapped[str] = mapped_column(String(64))
    maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
    buildpack_provided_description: Mapped[str | None] = mapped_column(Text)
    repo_size: Mapped[int | None] = mapped_column(Integer)
    slug_size: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    space_id: Mapped[uuid.UUID | None]
    internal_routing: Mapped[bool | None] = mapped_column(Boolean)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    acm: Mapped[bool] = mapped_column(Boolean, default=False)
    # Last release version handed out; bumped with an atomic UPDATE so that
    # concurrent writers (threads or API workers) never share a version.
    release_seq: Mapped[int] = mapped_column(Integer, default=0)


class Collaborator(Timestamps, Base):
    """Who may act on an app; the owner has a row too, with role "owner"."""

    __tablename__ = "collaborators"
    __table_args__ = (
        UniqueConstraint("app_id", "account_id"),
        # An account's apps are read from this index alone (a page of `GET /apps`).
        Index("ix_collaborators_account_id_app_id", "account_id", "app_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32), default="collaborator")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)


class AppTransfer(Timestamps, Base):
    """An offer of a personal app from its owner to another account, which accepts or
    declines it. Decided offers stay as they ended (`accepted`, `declined`); a cancelled
    one is gone. An app has at most one pending offer at a time."""

    __tablename__ = "app_transfers"
    __table_args__ = (
        Index(
            "ix_app_transfers_pending_app_id",
            "app_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    # Who offered the app (its owner then) and to whom.
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # pending, accepted or declined.
    state: Mapped[str] = mapped_column(String(16), default="pending")


class ConfigVar(Base):
    __tablename__ = "config_vars"

    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Domain(Timestamps, Base):
    __tablename__ = "domains"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    cname: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="none")
    acm_status: Mapped[str | None] = mapped_column(String(32))
    acm_status_reason: Mapped[str | None] = mapped_column(Text)
    # The certificate the router serves this host with; None: any of the app's that
    # covers the name.
    sni_endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sni_endpoints.id", ondelete="SET NULL"), index=True
    )


class SniEndpoint(Timestamps, Base):
    """A certificate chain and key an app serves its custom domains with, picked by SNI.

    The reference's SSL endpoints and the CLI's SNI endpoints are both these rows. The key
    is sealed with the installation's key (`storage/sealing.py`, bound to the row's id).
    The other columns are what the chain says, read once when it is uploaded. The
    previous chain and key are kept for `rollback`.
    """

    __tablename__ = "sni_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_chain: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str] = mapped_column(Text)
    # A new id with every certificate: the router's cache of TLS contexts is keyed by it.
    ssl_cert_id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    cert_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    issuer: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    ca_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    self_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_chain: Mapped[str | None] = mapped_column(Text)
    previous_key: Mapped[str | None] = mapped_column(Text)


class AppFeatureState(Base):
    __tablename__ = "app_feature_states"

    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class LogDrain(Timestamps, Base):
    __tablename__ = "log_drains"
    __table_args__ = (UniqueConstraint("app_id", "url"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    addon_id: Mapped[uuid.UUID | None]


class Formation(Timestamps, Base):
    __tablename__ = "formations"
    __table_args__ = (UniqueConstraint("app_id", "type"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[str] = mapped_column(String(32), default="Standard-1X")
    command: Mapped[str] = mapped_column(Text)
