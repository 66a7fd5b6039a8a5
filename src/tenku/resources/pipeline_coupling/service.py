"""Couplings: which pipeline an app is in, at which stage.

Whoever sees a pipeline sees its couplings. Adding an app takes the right to change the
pipeline and to deploy to the app; moving an app to another stage or taking it out of
its pipeline takes the right to deploy to it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App, Pipeline, PipelineCoupling
from tenku.ids import as_uuid
from tenku.resources.app.access import access_to, denied, no_access, resolve_app
from tenku.resources.pipeline.access import editable, find_pipeline, visible_pipeline_ids
from tenku.web.deps import Principal
from tenku.web.errors import InvalidParams, NotFound

Coupled = tuple[PipelineCoupling, Pipeline]


def couplings_of(
    account_id: uuid.UUID, pipeline_id: uuid.UUID | None = None
) -> Select[PipelineCoupling, Pipeline]:
    """The couplings of the pipelines the account sees (of one of them, with `pipeline_id`)."""
    stmt = (
        select(PipelineCoupling, Pipeline)
        .join(Pipeline, Pipeline.id == PipelineCoupling.pipeline_id)
        .where(Pipeline.id.in_(visible_pipeline_ids(account_id)))
    )
    if pipeline_id is not None:
        stmt = stmt.where(Pipeline.id == pipeline_id)
    return stmt


async def get_coupling(db: AsyncSession, account_id: uuid.UUID, ident: str) -> Coupled:
    uid = as_uuid(ident)
    if uid is None:
        raise NotFound("pipeline_coupling")
    row = (await db.execute(couplings_of(account_id).where(PipelineCoupling.id == uid))).first()
    if row is None:
        raise NotFound("pipeline_coupling")
    return row[0], row[1]


async def coupling_of_app(db: AsyncSession, app: App) -> Coupled:
    """The coupling of an app the caller may view (`GET /apps/{app}/pipeline-couplings`)."""
    row = (
        await db.execute(
            select(PipelineCoupling, Pipeline)
            .join(Pipeline, Pipeline.id == PipelineCoupling.pipeline_id)
            .where(PipelineCoupling.app_id == app.id)
        )
    ).first()
    if row is None:
        raise NotFound("pipeline_coupling", f"{app.name} is not in a pipeline.")
    return row[0], row[1]


async def create_coupling(
    db: AsyncSession, caller: Principal, app_ident: str, pipeline_ident: str, stage: str
) -> Coupled:
    app, _ = await resolve_app(db, caller, app_ident, "code:push")
    pipeline = await find_pipeline(db, caller.account.id, pipeline_ident)
    await editable(db, pipeline, caller.account.id, "add apps to")
    existing = (
        await db.execute(
            select(Pipeline.name)
            .join(PipelineCoupling, PipelineCoupling.pipeline_id == Pipeline.id)
            .where(PipelineCoupling.app_id == app.id)
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise InvalidParams(
            f"{app.name} is already in the {existing} pipeline: an app is in one pipeline "
            "at most. Remove it from that one first."
        )
    coupling = PipelineCoupling(pipeline_id=pipeline.id, app_id=app.id, stage=stage)
    db.add(coupling)
    await db.flush()
    return coupling, pipeline


async def _may_deploy(db: AsyncSession, caller: Principal, coupling: PipelineCoupling) -> None:
    app = await db.get(App, coupling.app_id)
    assert app is not None
    access = await access_to(db, app.id, caller.account.id)
    if access is None:
        raise no_access(app)
    if not access.allows("code:push"):
        raise denied(app, "code:push")


async def update_coupling(
    db: AsyncSession, caller: Principal, ident: str, stage: str | None
) -> Coupled:
    coupling = await get_coupling(db, caller.account.id, ident)
    await _may_deploy(db, caller, coupling[0])
    if stage is not None and stage != coupling[0].stage:
        coupling[0].stage = stage
        await db.flush()
    return coupling


async def delete_coupling(db: AsyncSession, caller: Principal, ident: str) -> Coupled:
    coupling = await get_coupling(db, caller.account.id, ident)
    await _may_deploy(db, caller, coupling[0])
    await db.delete(coupling[0])
    await db.flush()
    return coupling
