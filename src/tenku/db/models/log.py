from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class LogLine(Base):
    """One line of an app's log stream; `seq` orders the app's stream and is the SSE event id."""

    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_app_id_seq", "app_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # 1, 2, 3... per app, without gaps (taken from the app's LogStream), so a reader that
    # finds the oldest kept number past its own position knows how many it missed.
    seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
    dyno: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class LogStream(Base):
    """The last number an app's stream has given a line.

    A writer takes numbers by updating this row, which stays locked until it commits: the
    app's lines become visible in number order, and none is ever skipped.
    """

    __tablename__ = "log_streams"

    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
