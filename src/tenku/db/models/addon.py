from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, UTCDateTime, new_id, utcnow


class Addon(Timestamps, Base):
    """A provisioned resource, billed to `app_id`; apps see it through attachments."""

    __tablename__ = "addons"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(64))
    # "service:plan"; kept by name so an add-on outlives a catalogue change.
    plan: Mapped[str] = mapped_column(String(160))
    state: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str] = mapped_column(String(255), default="")
    # The provider's vars under the provider's own names (HEROKU_POSTGRESQL_URL).
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_prefix: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provision_message: Mapped[str | None] = mapped_column(Text)
    billed_cents: Mapped[int] = mapped_column(Integer, default=0)
    billed_unit: Mapped[str] = mapped_column(String(16), default="month")
    billed_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    # Whether the "Attach" release has been made (async providers complete later).
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    # The provider call ("provision", "deprovision") a request committed to make and has
    # not recorded an answer to yet, and since when: the runtime finishes one whose
    # worker died (docs/architecture.md, "Side effects that outlive a request").
    provider_call: Mapped[str | None] = mapped_column(String(16))
    provider_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AddonAttachment(Timestamps, Base):
    __tablename__ = "addon_attachments"
    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    addon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("addons.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))


class PostgresCredential(Timestamps, Base):
    """A named credential of a built-in Postgres add-on: a login role of its own that may
    connect to the add-on's database (the default credential is the add-on's own role)."""

    __tablename__ = "postgres_credentials"
    __table_args__ = (UniqueConstraint("addon_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    addon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("addons.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    # Sealed with the row's id (tenku.storage.sealing): `pg:credentials:url` shows it.
    password: Mapped[str] = mapped_column(Text)


class AddonToken(Base):
    """Credentials a partner holds for one add-on: a grant, access and refresh tokens."""

    __tablename__ = "addon_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    addon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("addons.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReleaseAddonVars(Base):
    """Which keys of a release's config snapshot came from add-on attachments."""

    __tablename__ = "release_addon_vars"

    release_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    keys: Mapped[list[str]] = mapped_column(JSON, default=list)
