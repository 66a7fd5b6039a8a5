from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class BuildpackInstallation(Timestamps, Base):
    """One buildpack an app's builds run, at its place (`ordinal`) in the app's list."""

    __tablename__ = "buildpack_installations"
    __table_args__ = (UniqueConstraint("app_id", "ordinal"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    # `urn:buildpack:<name>` for a built-in buildpack, else a file:// or http(s) URL.
    url: Mapped[str] = mapped_column(Text)
    # The built-in buildpack's registry name, else the URL again (as Heroku reports it).
    name: Mapped[str] = mapped_column(Text)
