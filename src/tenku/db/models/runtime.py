from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, UTCDateTime, utcnow


class RuntimeBeat(Base):
    """A runtime's heartbeat: the API tells a dyno or build whose runtime stopped beating
    from one that runs (`Dyno.runner`, `Build.runner` name the runtime)."""

    __tablename__ = "runtime_beats"

    runner: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuntimeChange(Base):
    """A journal of the apps whose desired state a transaction may have changed (see
    tenku/db/changes.py): the runtime re-reads only those apps, and deletes the entries it
    has applied. `app_id` NULL stands for every app."""

    __tablename__ = "runtime_changes"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    app_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
