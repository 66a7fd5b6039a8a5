from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class LogLine(Base):
    """One line of an app's log stream; `id` orders the stream and is the SSE event id."""

    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_app_id_id", "app_id", "id"),)

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
    dyno: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
