"""Team apps, under the reference's /organizations paths and the CLI's /teams ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, ViewApp, deciding
from tenku.resources.app.service import SORT
from tenku.resources.organization_app import service
from tenku.resources.organization_app.schemas import (
    OrganizationAppCreate,
    OrganizationAppOut,
    OrganizationAppUpdate,
)
from tenku.web.deps import AppsReader, AppsWriter, Context, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/organizations/apps", response_model=OrganizationAppOut, status_code=201)
@router.post("/teams/apps", response_model=OrganizationAppOut, status_code=201)
async def create(
    caller: AppsWriter,
    db: Db,
    ctx: Context,
    params: OrganizationAppCreate = body(OrganizationAppCreate),
) -> Response:
    """Create an app in a team (`heroku apps:create --team`)."""
    app = await service.create(db, caller.account, params, ctx.settings)
    [out] = await service.render(db, [app], caller.account, ctx.settings)
    return model_response(out, status=201)


@router.get(
    "/organizations/apps", response_model=list[OrganizationAppOut], openapi_extra=ranged(SORT)
)
async def list_default(request: Request, caller: AppsReader, db: Db, ctx: Context) -> Response:
    stmt = await service.apps_listed_by_default(db, caller.account)
    return await paged(
        request,
        db,
        stmt,
        SORT,
        OrganizationAppOut,
        lambda apps: service.render(db, apps, caller.account, ctx.settings),
    )


async def _team_list(
    request: Request, caller: AppsReader, db: Db, ctx: Context, ident: str
) -> Response:
    team = await service.team_for_listing(db, caller.account, ident)
    return await paged(
        request,
        db,
        service.team_apps(team.id, caller.account.id),
        SORT,
        OrganizationAppOut,
        lambda apps: service.render(db, apps, caller.account, ctx.settings),
    )


# An app's own paths come first: `/organizations/apps/apps` is the app named "apps".
@router.get("/organizations/apps/{app_id_or_name}", response_model=OrganizationAppOut)
@router.get("/teams/apps/{app_id_or_name}", response_model=OrganizationAppOut)
async def info(on: ViewApp, ctx: Context) -> Response:
    """Info for a team app (`heroku apps:lock` reads it first)."""
    [out] = await service.render(on.db, [on.app], on.caller.account, ctx.settings)
    return model_response(out)


@router.patch("/organizations/apps/{app_id_or_name}", response_model=OrganizationAppOut)
@router.patch("/teams/apps/{app_id_or_name}", response_model=OrganizationAppOut)
async def update(
    on: Annotated[OnApp, deciding("app:lock", "app:transfer")],
    ctx: Context,
    changes: OrganizationAppUpdate = body(OrganizationAppUpdate),
) -> Response:
    """Lock or unlock a team app, or transfer it to a person or a team
    (`heroku apps:lock`, `apps:unlock`, `apps:transfer`)."""
    app = await service.update(on.db, on.caller.account, on.access, on.app, changes)
    [out] = await service.render(on.db, [app], on.caller.account, ctx.settings)
    return model_response(out)


@router.get(
    "/organizations/{organization_name_or_id}/apps",
    response_model=list[OrganizationAppOut],
    openapi_extra=ranged(SORT),
)
async def list_for_organization(
    request: Request, caller: AppsReader, db: Db, ctx: Context, organization_name_or_id: str
) -> Response:
    return await _team_list(request, caller, db, ctx, organization_name_or_id)


@router.get(
    "/teams/{team_name_or_id}/apps",
    response_model=list[OrganizationAppOut],
    openapi_extra=ranged(SORT),
)
async def list_for_team(
    request: Request, caller: AppsReader, db: Db, ctx: Context, team_name_or_id: str
) -> Response:
    """List a team's apps the caller may see (`heroku apps --team`)."""
    return await _team_list(request, caller, db, ctx, team_name_or_id)
