from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Release
from tenku.resources.app.access import OnApp, on_app
from tenku.resources.release import service
from tenku.resources.release.schemas import ReleaseCreate, ReleaseOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response, raw_json

router = APIRouter(route_class=TransactionRoute)
SORT = {"id": field(Release.id), "version": field(Release.version)}


@router.get("/apps/{app_id_or_name}/releases")
async def list_releases(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    current = await service.current_version(db, app.id)
    # Releases read naturally in version order, so that is the default sort.
    stmt = select(Release).where(Release.app_id == app.id)
    page = await paginate(db, request, stmt, SORT, Release.id, default="version")
    items = [ReleaseOut.of(r, app, current) for (r,) in page.rows]
    return list_response(ReleaseOut, items, page.status, page.headers)


@router.get("/apps/{app_id_or_name}/releases/{release_id_or_version}")
async def info(
    release_id_or_version: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    release = await service.get_release(db, app.id, release_id_or_version)
    current = await service.current_version(db, app.id)
    return model_response(ReleaseOut.of(release, app, current))


@router.get("/apps/{app_id_or_name}/releases/{release_id_or_version}/config-vars")
async def config_vars(
    release_id_or_version: str,
    on: OnApp = on_app("secrets:read"),
) -> Response:
    app = on.app
    db = on.db
    release = await service.get_release(db, app.id, release_id_or_version)
    return raw_json(dict(sorted(release.config.items())))


@router.post("/apps/{app_id_or_name}/releases")
async def create(
    on: OnApp = on_app("app:write", need="write"),
    params: ReleaseCreate = body(ReleaseCreate),
) -> Response:
    app = on.app
    db = on.db
    caller = on.caller
    if params.release is not None:
        release = await service.rollback(db, app, caller.account, params.release)
    else:
        assert params.slug is not None
        release = await service.deploy_slug(
            db, app, caller.account, params.slug, params.description
        )
    return model_response(ReleaseOut.of(release, app, release.version), status=201)
