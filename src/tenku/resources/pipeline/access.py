"""Who may see and change a pipeline.

A pipeline belongs to an account or to a team. Its owner, and a team's admins and
members, change it (rename it, delete it, add apps to it); a team's viewers see it, and so
does anyone who may view an app coupled to it (the apps' own rights say what they may do
to those apps: moving an app between stages, taking it out, promoting to it all need the
right to deploy to it). Anyone else gets the 404 of a pipeline that does not exist.
"""

from __future__ import annotations

import re
import uuid
from enum import Enum

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Pipeline, PipelineCoupling, TeamMember
from tenku.ids import as_uuid
from tenku.resources.app.access import ADMIN_ROLES, MEMBER_ROLES, visible_app_ids
from tenku.web.errors import Forbidden, InvalidParams, NotFound

# What a pipeline's name looks like (the reference's pattern): nothing else names one.
NAME = re.compile(r"^[a-z][a-z0-9-]{2,29}$")
# Team roles that change the team's pipelines, and those that see them.
EDITOR_ROLES = frozenset({"admin", "owner", "member"})
SEER_ROLES = ADMIN_ROLES | MEMBER_ROLES


class Hold(Enum):
    VIEW = "view"
    EDIT = "edit"


def visible_pipeline_ids(account_id: uuid.UUID) -> Select[uuid.UUID]:
    teams = select(TeamMember.team_id).where(
        TeamMember.account_id == account_id, TeamMember.role.in_(SEER_ROLES)
    )
    coupled = select(PipelineCoupling.pipeline_id).where(
        PipelineCoupling.app_id.in_(visible_app_ids(account_id))
    )
    return select(Pipeline.id).where(
        or_(Pipeline.owner_id == account_id, Pipeline.team_id.in_(teams), Pipeline.id.in_(coupled))
    )


def visible_pipelines(account_id: uuid.UUID) -> Select[Pipeline]:
    return select(Pipeline).where(Pipeline.id.in_(visible_pipeline_ids(account_id)))


async def hold_on(db: AsyncSession, pipeline: Pipeline, account_id: uuid.UUID) -> Hold | None:
    """What the account may do to the pipeline: change it, see it, or nothing."""
    if pipeline.owner_id is not None and pipeline.owner_id == account_id:
        return Hold.EDIT
    if pipeline.team_id is not None:
        role = (
            await db.execute(
                select(TeamMember.role).where(
                    TeamMember.team_id == pipeline.team_id, TeamMember.account_id == account_id
                )
            )
        ).scalar_one_or_none()
        if role in EDITOR_ROLES:
            return Hold.EDIT
        if role in SEER_ROLES:
            return Hold.VIEW
    seen = (
        await db.execute(
            select(PipelineCoupling.id)
            .where(
                PipelineCoupling.pipeline_id == pipeline.id,
                PipelineCoupling.app_id.in_(visible_app_ids(account_id)),
            )
            .limit(1)
        )
    ).first()
    return Hold.VIEW if seen is not None else None


async def find_pipeline(
    db: AsyncSession, account_id: uuid.UUID, ident: str, by_name: bool = True
) -> Pipeline:
    """`{pipeline_id_or_name}` among the pipelines the account sees (404 otherwise).

    Names are not unique: a name that two visible pipelines share names neither."""
    uid = as_uuid(ident)
    if uid is None and not (by_name and NAME.match(ident)):
        raise NotFound("pipeline")
    stmt = visible_pipelines(account_id)
    stmt = stmt.where(Pipeline.id == uid) if uid is not None else stmt.where(Pipeline.name == ident)
    found = list((await db.execute(stmt.order_by(Pipeline.created_at).limit(2))).scalars())
    if not found:
        raise NotFound("pipeline")
    if len(found) > 1:
        raise InvalidParams(
            f"More than one pipeline you can see is named {ident}: name it by its id "
            "(`GET /pipelines?eq[name]=` lists them)."
        )
    return found[0]


async def editable(db: AsyncSession, pipeline: Pipeline, account_id: uuid.UUID, doing: str) -> None:
    """403 unless the account may change the pipeline (`doing`: "rename", "delete"...)."""
    if await hold_on(db, pipeline, account_id) is not Hold.EDIT:
        whose = "its owner" if pipeline.team_id is None else "its team's admins and members"
        raise Forbidden(
            f"You do not have permission to {doing} the {pipeline.name} pipeline. "
            f"Only {whose} can do that."
        )
