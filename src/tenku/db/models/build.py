from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, UTCDateTime, new_id, utcnow


class Build(Timestamps, Base):
    __tablename__ = "builds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    user_email: Mapped[str] = mapped_column(String(254))
    # pending until the runtime finishes it, then succeeded or failed.
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    source_url: Mapped[str] = mapped_column(Text)
    source_checksum: Mapped[str | None] = mapped_column(String(128))
    source_version: Mapped[str | None] = mapped_column(Text)
    source_version_description: Mapped[str | None] = mapped_column(Text)
    # Set when the source already sits in Tenku's blob store (git pushes).
    source_blob_key: Mapped[str | None] = mapped_column(String(255))
    # The buildpacks the caller asked for ([{url, name}]); null means "the app's, or detect".
    buildpacks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    stack: Mapped[str] = mapped_column(String(64))
    slug_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("slugs.id", ondelete="SET NULL"))
    release_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL")
    )
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # Sort key of the build list: when the build was requested.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None]
    # The runtime instance that claimed the build, and the process group of the step it
    # runs, so that a runtime coming back after a crash can fail the build and kill leftovers.
    runner: Mapped[str | None] = mapped_column(String(64))
    pgid: Mapped[int | None] = mapped_column(Integer)

    def shown_status(self, live: frozenset[str]) -> str:
        """The status the API reports: a build whose runtime stopped beating has failed
        (the next runtime records it so)."""
        if self.status == "pending" and self.runner is not None and self.runner not in live:
            return "failed"
        return self.status


class BuildOutput(Base):
    """A batch of consecutive output lines of one stream, in the order they were printed.

    Offsets (bytes) and line numbers are those of the whole output, so that the plain-text
    stream resumes with `Range: bytes=N-` and the event stream with `Last-Event-Id`.
    """

    __tablename__ = "build_output"

    build_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream: Mapped[str] = mapped_column(String(8))
    first_line: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
