from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, UTCDateTime, new_id


class PgTransfer(Timestamps, Base):
    """A Heroku Postgres transfer: a backup (a database dumped into the blob store), a
    restore (a backup or a URL restored into a database) or a copy (one database dumped
    straight into another).

    The request records it and commits; the runtime that holds the data directory claims
    it (`runner`, `started_at`), runs pg_dump and pg_restore, and records progress and the
    outcome. A transfer whose runtime went away without finishing it is failed by the next
    runtime. Transfers are numbered per app (`num`, never reused: a deleted backup keeps its
    row, `deleted_at` set, its dump removed).
    """

    __tablename__ = "pg_transfers"
    __table_args__ = (UniqueConstraint("app_id", "num"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The unique (app_id, num) index serves lookups by app.
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    num: Mapped[int] = mapped_column(Integer)
    # backup, restore or copy.
    kind: Mapped[str] = mapped_column(String(16))
    # Heroku's endpoint types: pg_dump (a database), gof3r (a backup's dump), htcat (a URL);
    # pg_restore (a database) or gof3r (a new backup).
    from_type: Mapped[str] = mapped_column(String(16))
    to_type: Mapped[str] = mapped_column(String(16))
    from_name: Mapped[str | None] = mapped_column(String(255))
    to_name: Mapped[str | None] = mapped_column(String(255))
    from_addon_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("addons.id", ondelete="SET NULL"), index=True
    )
    to_addon_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("addons.id", ondelete="SET NULL"), index=True
    )
    # What a restore reads: a dump in the blob store, or a URL fetched under the egress
    # policy (kept whole to fetch it; answers show it without credentials).
    source_key: Mapped[str | None] = mapped_column(String(255))
    source_url: Mapped[str | None] = mapped_column(Text)
    # A backup's dump, once stored.
    blob_key: Mapped[str | None] = mapped_column(String(255))
    # The schedule that made a backup (not a foreign key: the backup outlives it).
    schedule_id: Mapped[uuid.UUID | None]
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_bytes: Mapped[int | None] = mapped_column(BigInteger)
    processed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    succeeded: Mapped[bool | None] = mapped_column(Boolean)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    # [{"created_at": ..., "message": ...}], at most a few thousand lines.
    logs: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # The runtime carrying it out (the in-flight mark; see docs/architecture.md).
    runner: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PgTransferSchedule(Timestamps, Base):
    """A database's daily backup: captured by the runtime at `hour` in `timezone`."""

    __tablename__ = "pg_transfer_schedules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    addon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("addons.id", ondelete="CASCADE"), unique=True
    )
    # The config var the CLI names it by (DATABASE_URL).
    name: Mapped[str] = mapped_column(String(255))
    hour: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    # The latest due time a backup was made for, so each is made once.
    last_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
