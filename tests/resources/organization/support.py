"""Teams for the team resources' tests: made through the API, and team apps made in the
database (the team-app endpoints are not what these tests are about)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import delete, select

from tenku.db.models import App, Collaborator, Team
from tests.conftest import User


async def make_team(admin: User, name: str) -> dict[str, Any]:
    r = await admin.post("/teams", json={"name": name})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def add_member(
    admin: User, team: str, member: User, role: str | None = "member"
) -> httpx.Response:
    r = await admin.put(f"/teams/{team}/members", json={"email": member.email, "role": role})
    assert r.status_code in (200, 201), r.text
    return r


async def team_app(admin: User, team: str, name: str) -> dict[str, Any]:
    """An app the team holds: no owner, `organization_id` set, no owner's collaborator row."""
    app = await admin.create_app(name)
    async with admin.client.database.session(write=True) as db:
        team_id = (await db.execute(select(Team.id).where(Team.name == team))).scalar_one()
        row = await db.get(App, uuid.UUID(app["id"]))
        assert row is not None
        row.organization_id = team_id
        row.owner_id = None
        await db.execute(delete(Collaborator).where(Collaborator.app_id == row.id))
        await db.commit()
    return app


async def grant(user: User, app: str, permissions: Sequence[str]) -> None:
    """A collaborator row for `user` on a team app, with Heroku's app permissions."""
    async with user.client.database.session(write=True) as db:
        app_id = (await db.execute(select(App.id).where(App.name == app))).scalar_one()
        db.add(
            Collaborator(
                app_id=app_id,
                account_id=user.id,
                role="collaborator",
                permissions=list(permissions),
            )
        )
        await db.commit()


async def set_app(user: User, app: str, **columns: Any) -> None:
    async with user.client.database.session(write=True) as db:
        row = (await db.execute(select(App).where(App.name == app))).scalar_one()
        for key, value in columns.items():
            setattr(row, key, value)
        await db.commit()
