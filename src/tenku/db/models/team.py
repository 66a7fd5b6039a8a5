from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, UTCDateTime, new_id, utcnow


class Team(Timestamps, Base):
    """An organization (the reference's name) or team (the CLI's): apps held in common.

    A team app has `App.organization_id` set and no `owner_id`; who may act on it comes
    from `TeamMember.role` and the app's `Collaborator` rows (see resources/app/access.py).
    """

    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Preferences: the role given to members added without one, and whether add-ons on
    # team apps are limited to the allow-list (`TeamAddonService`).
    default_permission: Mapped[str | None] = mapped_column(String(32), default="member")
    whitelisting_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Permissions every `member` has on each unlocked team app without being added to it.
    member_permissions: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["view"])


class TeamMember(Timestamps, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "account_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # admin, member, viewer or collaborator.
    role: Mapped[str] = mapped_column(String(32))
    # The caller's default team (`Organization.default`), one per account at most.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class TeamAddonService(Base):
    """An add-on service on a team's allow-list ("whitelisted add-on service")."""

    __tablename__ = "team_addon_services"
    __table_args__ = (UniqueConstraint("team_id", "service"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(128))
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invitation(Timestamps, Base):
    """An invitation to Tenku (and, with `team_id`, into a team), finalized by its token.

    The token is mailed and kept only as a SHA-256 digest.
    """

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE")
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(32))
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    finalized_at: Mapped[datetime | None]
