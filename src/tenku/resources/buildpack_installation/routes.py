from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from tenku.resources.app.access import OnApp, ViewApp, writing
from tenku.resources.buildpack_installation import service
from tenku.resources.buildpack_installation.schemas import (
    BuildpackInstallationOut,
    BuildpackInstallationsUpdate,
)
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.render import list_response

router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/apps/{app_id_or_name}/buildpack-installations", response_model=list[BuildpackInstallationOut]
)
async def list_installations(on: ViewApp) -> Response:
    rows = await service.installations(on.db, on.app.id)
    return list_response(BuildpackInstallationOut, [BuildpackInstallationOut.of(r) for r in rows])


@router.put(
    "/apps/{app_id_or_name}/buildpack-installations", response_model=list[BuildpackInstallationOut]
)
async def update(
    on: Annotated[OnApp, writing("code:push")],
    ctx: Context,
    params: BuildpackInstallationsUpdate = body(BuildpackInstallationsUpdate),
) -> Response:
    buildpacks = [u.buildpack for u in params.updates]
    rows = await service.replace(on.db, ctx.settings, on.app, buildpacks)
    return list_response(BuildpackInstallationOut, [BuildpackInstallationOut.of(r) for r in rows])
