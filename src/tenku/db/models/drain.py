from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base


class DrainCursor(Base):
    """How far into its app's stream a drain has been delivered, kept across restarts."""

    __tablename__ = "drain_cursors"

    drain_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("log_drains.id", ondelete="CASCADE"), primary_key=True
    )
    # The `seq` of the last line delivered (or given up on).
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # When the last delivered line was written: every line the drain loses after it was
    # written later, so its L10 line says "dropped since" this time.
    delivered_at: Mapped[datetime | None]
    # Lines lost that the drain has not yet been told of; the next delivery starts with
    # an L10 line that counts them.
    lost: Mapped[int] = mapped_column(BigInteger, default=0)
    # Every line the drain lost: trimmed before it could be sent, or refused.
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    # Times the drain fell so far behind that trimmed lines were skipped.
    skips: Mapped[int] = mapped_column(Integer, default=0)
