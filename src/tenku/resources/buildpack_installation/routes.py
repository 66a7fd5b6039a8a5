from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, on_app
from tenku.resources.buildpack_installation import service
from tenku.resources.buildpack_installation.schemas import (
    BuildpackInstallationOut,
    BuildpackInstallationsUpdate,
)
from tenku.web.deps import TransactionRoute, app_context, body
from tenku.web.render import list_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/buildpack-installations")
async def list_installations(on: OnApp = on_app("app:read")) -> Response:
    rows = await service.installations(on.db, on.app.id)
    return list_response(BuildpackInstallationOut, [BuildpackInstallationOut.of(r) for r in rows])


@router.put("/apps/{app_id_or_name}/buildpack-installations")
async def update(
    request: Request,
    on: OnApp = on_app("app:write", need="write"),
    params: BuildpackInstallationsUpdate = body(BuildpackInstallationsUpdate),
) -> Response:
    settings = app_context(request).settings
    rows = await service.replace(on.db, settings, on.app, [u.buildpack for u in params.updates])
    return list_response(BuildpackInstallationOut, [BuildpackInstallationOut.of(r) for r in rows])
