from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base


class DrainCursor(Base):
    """How far into its app's stream a drain has been delivered, kept across restarts."""

    __tablename__ = "drain_cursors"

    drain_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("log_drains.id", ondelete="CASCADE"), primary_key=True
    )
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # Lines given up on (refused or undeliverable batches).
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    # Times the drain fell so far behind that trimmed lines were skipped.
    skips: Mapped[int] = mapped_column(Integer, default=0)
