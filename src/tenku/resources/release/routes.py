from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Release
from tenku.resources.app.access import OnApp, allowed, deciding, reading, require
from tenku.resources.release import service
from tenku.resources.release.schemas import ReleaseCreate, ReleaseOut
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response, raw_json

# Releases read naturally in version order, so that is the default sort.
SORT = sorting(Release.id, Release.version, default="version")
router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/apps/{app_id_or_name}/releases", response_model=list[ReleaseOut], openapi_extra=ranged(SORT)
)
async def list_releases(
    request: Request, on: Annotated[OnApp, reading("releases:view")]
) -> Response:
    current = await service.current_version(on.db, on.app.id)
    return await paged(
        request,
        on.db,
        service.releases_of(on.app.id),
        SORT,
        ReleaseOut,
        lambda releases: [ReleaseOut.of(r, on.app, current) for r in releases],
    )


@router.get("/apps/{app_id_or_name}/releases/{release_id_or_version}", response_model=ReleaseOut)
async def info(
    release_id_or_version: str, on: Annotated[OnApp, reading("releases:view")]
) -> Response:
    release = await service.get_release(on.db, on.app.id, release_id_or_version)
    current = await service.current_version(on.db, on.app.id)
    return model_response(ReleaseOut.of(release, on.app, current))


@router.get(
    "/apps/{app_id_or_name}/releases/{release_id_or_version}/config-vars",
    response_model=dict[str, str],
)
async def config_vars(
    release_id_or_version: str, on: Annotated[OnApp, allowed("secrets:read", "config:view")]
) -> Response:
    """The config vars a release was made with (`releases:info`)."""
    release = await service.get_release(on.db, on.app.id, release_id_or_version)
    return raw_json(dict(sorted(release.config.items())))


@router.post("/apps/{app_id_or_name}/releases", response_model=ReleaseOut, status_code=201)
async def create(
    on: Annotated[OnApp, deciding("releases:rollback", "code:push")],
    params: ReleaseCreate = body(ReleaseCreate),
) -> Response:
    account = on.caller.account
    if params.release is not None:
        require(on, "releases:rollback")
        release = await service.rollback(on.db, on.app, account, params.release)
    else:
        assert params.slug is not None
        require(on, "code:push")
        release = await service.deploy_slug(on.db, on.app, account, params.slug, params.description)
    return model_response(ReleaseOut.of(release, on.app, release.version), status=201)
