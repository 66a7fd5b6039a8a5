from __future__ import annotations

import uuid

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Pipeline, Team
from tenku.resources.account.service import resolve_self
from tenku.resources.organization_app.teams import find_team, role_in
from tenku.resources.pipeline.access import (
    EDITOR_ROLES,
    NAME,
    SEER_ROLES,
    editable,
    find_pipeline,
    visible_pipelines,
)
from tenku.resources.pipeline.schemas import OwnerIn, PipelineCreate, PipelineUpdate
from tenku.web.errors import Forbidden, InvalidParams, NotFound


def pipelines_of(account_id: uuid.UUID, name: str | None = None) -> Select[Pipeline]:
    """The pipelines the account sees; `name`: those so named (`?eq[name]=`)."""
    stmt = visible_pipelines(account_id)
    if name is None:
        return stmt
    return stmt.where(Pipeline.name == name if NAME.match(name) else false())


async def _owner(
    db: AsyncSession, caller: Account, owner: OwnerIn | None
) -> tuple[Account | None, Team | None]:
    if owner is None:
        return caller, None
    if owner.type == "user":
        try:
            return await resolve_self(db, caller, owner.id), None
        except NotFound:
            raise Forbidden(
                "A pipeline can belong to you or to a team you are a member of, "
                "not to another user."
            ) from None
    team = await find_team(db, owner.id)
    role = await role_in(db, team.id, caller.id) if team is not None else None
    if team is None or role not in SEER_ROLES:
        raise NotFound("team")
    if role not in EDITOR_ROLES:
        raise Forbidden(
            f"You do not have permission to create pipelines in the {team.name} team. "
            "Its admins and members can do that."
        )
    return None, team


async def _refuse_taken(
    db: AsyncSession,
    name: str,
    owner_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    other_than: uuid.UUID | None = None,
) -> None:
    """One owner's pipelines have names of their own, so that its people can tell them
    apart by name (different owners may share one, as on Heroku)."""
    stmt = select(Pipeline.id).where(
        Pipeline.name == name,
        Pipeline.owner_id == owner_id if owner_id is not None else Pipeline.team_id == team_id,
    )
    if other_than is not None:
        stmt = stmt.where(Pipeline.id != other_than)
    if (await db.execute(stmt.limit(1))).first() is not None:
        whose = "you" if owner_id is not None else "the team"
        raise InvalidParams(f"Name {name} is already taken by another pipeline {whose} own.")


async def create_pipeline(db: AsyncSession, caller: Account, params: PipelineCreate) -> Pipeline:
    account, team = await _owner(db, caller, params.owner)
    owner_id = account.id if account is not None else None
    team_id = team.id if team is not None else None
    await _refuse_taken(db, params.name, owner_id, team_id)
    pipeline = Pipeline(name=params.name, owner_id=owner_id, team_id=team_id)
    db.add(pipeline)
    await db.flush()
    return pipeline


async def get_pipeline(db: AsyncSession, caller: Account, ident: str) -> Pipeline:
    return await find_pipeline(db, caller.id, ident)


async def update_pipeline(
    db: AsyncSession, caller: Account, ident: str, params: PipelineUpdate
) -> Pipeline:
    pipeline = await find_pipeline(db, caller.id, ident, by_name=False)
    await editable(db, pipeline, caller.id, "rename")
    if params.name is not None and params.name != pipeline.name:
        await _refuse_taken(db, params.name, pipeline.owner_id, pipeline.team_id, pipeline.id)
        pipeline.name = params.name
        await db.flush()
    return pipeline


async def delete_pipeline(db: AsyncSession, caller: Account, ident: str) -> Pipeline:
    """Its couplings and promotions go with it (the database cascades); its apps stay."""
    pipeline = await find_pipeline(db, caller.id, ident, by_name=False)
    await editable(db, pipeline, caller.id, "delete")
    await db.delete(pipeline)
    await db.flush()
    return pipeline
