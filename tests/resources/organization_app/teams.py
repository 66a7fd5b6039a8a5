"""Teams for the tests, written straight to the database (their endpoints are not ours)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tenku.db.models import Collaborator, Team, TeamMember
from tests.conftest import ApiClient, User


async def make_team(
    api: ApiClient,
    name: str,
    members: list[tuple[User, str]],
    default_for: tuple[User, ...] = (),
    member_permissions: list[str] | None = None,
) -> uuid.UUID:
    """A team `name` of `(user, role)` members; it is the default team of `default_for`."""
    async with api.database.session(write=True) as db:
        team = Team(name=name, member_permissions=member_permissions or ["view"])
        db.add(team)
        await db.flush()
        for user, role in members:
            db.add(
                TeamMember(
                    team_id=team.id,
                    account_id=user.id,
                    role=role,
                    is_default=user in default_for,
                )
            )
        await db.commit()
        return team.id


async def add_member(api: ApiClient, team_id: uuid.UUID, user: User, role: str) -> None:
    async with api.database.session(write=True) as db:
        db.add(TeamMember(team_id=team_id, account_id=user.id, role=role, is_default=False))
        await db.commit()


async def role_of(api: ApiClient, team_id: uuid.UUID, user: User) -> str | None:
    async with api.database.session(write=False) as db:
        stmt = select(TeamMember.role).where(
            TeamMember.team_id == team_id, TeamMember.account_id == user.id
        )
        role: str | None = (await db.execute(stmt)).scalar_one_or_none()
        return role


async def rows_of(api: ApiClient, app_id: str) -> dict[uuid.UUID, tuple[str, list[str]]]:
    """The app's collaborator rows: account id -> (role, permissions)."""
    async with api.database.session(write=False) as db:
        rows = await db.execute(
            select(Collaborator.account_id, Collaborator.role, Collaborator.permissions).where(
                Collaborator.app_id == uuid.UUID(app_id)
            )
        )
        return {account: (role, list(perms)) for account, role, perms in rows}
