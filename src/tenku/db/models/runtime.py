from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, UTCDateTime, utcnow


class RuntimeBeat(Base):
    """A runtime's heartbeat: the API tells a dyno or build whose runtime stopped beating
    from one that runs (`Dyno.runner`, `Build.runner` name the runtime)."""

    __tablename__ = "runtime_beats"

    runner: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
