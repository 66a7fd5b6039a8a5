from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class Pipeline(Timestamps, Base):
    """Apps grouped into stages. It belongs to an account (`owner_id`) or a team
    (`team_id`), never both: who may see and change it follows from that."""

    __tablename__ = "pipelines"
    __table_args__ = (CheckConstraint("(owner_id IS NULL) <> (team_id IS NULL)", name="one_owner"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Not unique: Heroku lets two owners (and the CLI's disambiguation) share a name.
    name: Mapped[str] = mapped_column(String(30), index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )


class PipelineCoupling(Timestamps, Base):
    """An app's place in a pipeline: one pipeline per app at most."""

    __tablename__ = "pipeline_couplings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), unique=True
    )
    # test, review, development, staging or production.
    stage: Mapped[str] = mapped_column(String(16))


class PipelinePromotion(Timestamps, Base):
    """A request to release the source app's slug (of `source_release_id`) on each target.

    The request records it `pending` with its targets; the runtime claims it (`runner`),
    settles each target in a transaction of its own (the target's release and its status
    commit together, so a runtime that dies mid-way leaves every target either done or
    untouched), and marks the promotion `completed` when no target is pending. A runtime
    that starts takes over the promotions its predecessor left claimed, and resumes them.
    """

    __tablename__ = "pipeline_promotions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    source_app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), index=True
    )
    source_release_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL")
    )
    # Who promotes: the targets' releases are theirs, made with their rights at the time.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # pending until no target is, then completed.
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    runner: Mapped[str | None] = mapped_column(String(128))


class PipelinePromotionTarget(Base):
    __tablename__ = "pipeline_promotion_targets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    promotion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipeline_promotions.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    # pending, then succeeded or failed (with `error_message`).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_message: Mapped[str | None] = mapped_column(Text)
    release_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL")
    )
