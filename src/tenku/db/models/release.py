from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class Slug(Timestamps, Base):
    __tablename__ = "slugs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    process_types: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    commit: Mapped[str | None] = mapped_column(String(255))
    commit_description: Mapped[str | None] = mapped_column(Text)
    checksum: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    stack: Mapped[str] = mapped_column(String(64))
    buildpack_provided_description: Mapped[str | None] = mapped_column(Text)
    blob_key: Mapped[str | None] = mapped_column(String(255))


class Release(Timestamps, Base):
    """Immutable once written; `current` is derived (the newest succeeded release)."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    slug_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("slugs.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    # Kept so the release still names its author after the account is gone.
    user_email: Mapped[str] = mapped_column(String(254))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    addon_plan_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    output_stream_url: Mapped[str | None] = mapped_column(Text)
