from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id

# The API's dyno states, plus `complete` for one-offs that ended (log-only on Heroku).
STARTING = "starting"
UP = "up"
CRASHED = "crashed"
DOWN = "down"
COMPLETE = "complete"


class Dyno(Timestamps, Base):
    """A dyno as the API shows it.

    The runtime writes the live columns (state, port, pgid, runner) of formation dynos,
    creating and removing their rows as it scales. The API creates one-off rows (the
    runtime then starts them) and asks for restarts and stops through the `*_requested`
    flags, which the runtime clears once acted on: that way API workers never touch a
    process, and a request survives until the one runtime has seen it.
    """

    __tablename__ = "dynos"
    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    size: Mapped[str] = mapped_column(String(32))
    command: Mapped[str] = mapped_column(Text)
    release_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL")
    )
    release_version: Mapped[int | None] = mapped_column(Integer)
    # starting, up, crashed, down, idle (the reference's states).
    state: Mapped[str] = mapped_column(String(16), default="starting")
    oneoff: Mapped[bool] = mapped_column(Boolean, default=False)
    attach: Mapped[bool] = mapped_column(Boolean, default=False)
    # SHA-256 of the rendezvous secret; the secret itself is only in the create answer.
    attach_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    tty: Mapped[bool] = mapped_column(Boolean, default=True)
    env: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time_to_live: Mapped[int | None] = mapped_column(Integer)
    restart_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    port: Mapped[int | None] = mapped_column(Integer)
    pgid: Mapped[int | None] = mapped_column(Integer)
    runner: Mapped[str | None] = mapped_column(String(128))

    def shown_state(self, live: frozenset[str]) -> str:
        """The state the API reports: a dyno whose runtime stopped beating runs no more."""
        if self.runner is not None and self.runner not in live and self.state in (STARTING, UP):
            return CRASHED
        return self.state
