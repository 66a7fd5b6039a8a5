"""Shared by the Data API tests: an app with a database add-on, and a viewer on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from tenku.db.models import App, Collaborator, Team, TeamMember
from tests.addons.support import create_addon
from tests.conftest import ApiClient, User


@dataclass
class Setup:
    owner: User
    app: str
    addon: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.addon["id"])

    @property
    def name(self) -> str:
        return str(self.addon["name"])


async def with_addon(owner: User, plan: str) -> Setup:
    app = await owner.create_app(f"d{uuid.uuid4().hex[:10]}")
    addon = await create_addon(owner, app["name"], plan)
    return Setup(owner, app["name"], addon)


async def team_viewer(api: ApiClient, setup: Setup) -> User:
    """A user who may only view the app: the app moves to a team where it is a
    collaborator with `view` (no deploy, no operate)."""
    viewer = await api.user()
    async with api.database.session(write=True) as db:
        team = Team(name=f"t{uuid.uuid4().hex[:8]}", member_permissions=["view"])
        db.add(team)
        await db.flush()
        db.add(TeamMember(team_id=team.id, account_id=setup.owner.id, role="admin"))
        db.add(TeamMember(team_id=team.id, account_id=viewer.id, role="collaborator"))
        app = await db.get(App, uuid.UUID(setup.addon["app"]["id"]))
        assert app is not None
        app.organization_id = team.id
        app.owner_id = None
        await db.execute(delete(Collaborator).where(Collaborator.app_id == app.id))
        db.add(Collaborator(app_id=app.id, account_id=viewer.id, permissions=["view"]))
        await db.commit()
    return viewer
