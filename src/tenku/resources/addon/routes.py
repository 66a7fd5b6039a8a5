from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Addon
from tenku.resources.addon import flows, lookup, service
from tenku.resources.addon.partner import (
    AddonCaller,
    AddonReader,
    AddonWriter,
    exchange,
    token_params,
)
from tenku.resources.addon.registry import AddonCatalog, Registry
from tenku.resources.addon.render import Expand, render_addon, render_addons
from tenku.resources.addon.schemas import (
    AddonCreate,
    AddonDelete,
    AddonOut,
    AddonResolve,
    AddonUpdate,
    PartnerTokenOut,
)
from tenku.resources.app.access import OnApp, get_app, reading, require, writing
from tenku.web.deps import AppsReader, Db, ReadDb, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Addon.id, Addon.name, default="name")
# Free plans take `addons:edit`; a paid one `addons:paid` as well.
EDIT = writing("addons:edit", then=("addons:paid",))


@router.post("/apps/{app_id_or_name}/addons", response_model=AddonOut, status_code=201)
async def create(
    request: Request,
    on: Annotated[OnApp, EDIT],
    addons: Registry,
    cat: AddonCatalog,
    params: AddonCreate = body(AddonCreate),
) -> Response:
    if service.is_paid_plan(service.find_plan(cat, params.plan)):
        require(on, "addons:paid")
    pending = await service.begin_create(
        on.db, cat, on.app, on.caller.account, params, addons.settings
    )
    return flows.provision_later(request, addons, pending, Expand.of(request))


@router.get(
    "/apps/{app_id_or_name}/addons", response_model=list[AddonOut], openapi_extra=ranged(SORT)
)
async def list_by_app(
    request: Request, on: Annotated[OnApp, reading("addons:view")], cat: AddonCatalog
) -> Response:
    stmt = lookup.addons_of_app(on.app.id).where(Addon.state != "deprovisioned")
    expand = Expand.of(request)
    return await paged(
        request, on.db, stmt, SORT, AddonOut, lambda a: render_addons(on.db, cat, a, expand)
    )


@router.get("/apps/{app_id_or_name}/addons/{addon_id_or_name}", response_model=AddonOut)
async def info_by_app(
    request: Request,
    addon_id_or_name: str,
    on: Annotated[OnApp, reading("addons:view")],
    cat: AddonCatalog,
) -> Response:
    addon = await lookup.addon_in_app(on.db, on.app, addon_id_or_name)
    return model_response(await render_addon(on.db, cat, addon, Expand.of(request)))


@router.patch("/apps/{app_id_or_name}/addons/{addon_id_or_name}", response_model=AddonOut)
async def update(
    request: Request,
    addon_id_or_name: str,
    on: Annotated[OnApp, EDIT],
    addons: Registry,
    cat: AddonCatalog,
    params: AddonUpdate = body(AddonUpdate),
) -> Response:
    addon = await lookup.addon_in_app(on.db, on.app, addon_id_or_name)
    account_id = on.caller.account.id
    await lookup.require_billing_access(on.db, account_id, addon, "addons:edit")
    plan = service.check_plan_change(cat, addon, params.plan) if params.plan else None
    if plan is not None and (lookup.is_paid(addon) or service.is_paid_plan(plan)):
        # Changing a paid add-on's tier, or to a paid one.
        await lookup.require_billing_access(on.db, account_id, addon, "addons:paid")
    if params.name is not None:
        await service.rename(on.db, addon, params.name)
    expand = Expand.of(request)
    if plan is None:
        return model_response(await render_addon(on.db, cat, addon, expand))
    return flows.change_plan_later(request, addons, addon, plan, on.caller.account.id, expand)


@router.delete("/apps/{app_id_or_name}/addons/{addon_id_or_name}", response_model=AddonOut)
async def delete(
    request: Request,
    addon_id_or_name: str,
    on: Annotated[OnApp, EDIT],
    addons: Registry,
    cat: AddonCatalog,
    params: AddonDelete = body(AddonDelete),
) -> Response:
    addon = await lookup.addon_in_app(on.db, on.app, addon_id_or_name)
    await service.check_destroy(on.db, on.app, addon, params.force)
    if lookup.is_paid(addon):
        require(on, "addons:paid")
    spec = cat.services.get(addon.service)
    if spec is None and addon.state != "deprovisioned":
        raise service.gone_from_catalog(addon)
    out = await render_addon(on.db, cat, addon, Expand.of(request), state="deprovisioned")
    return await flows.deprovision_later(
        request, on.db, addons, spec, addon, on.caller.account.id, out
    )


@router.get("/addons", response_model=list[AddonOut], openapi_extra=ranged(SORT))
async def list_all(request: Request, caller: AppsReader, db: Db, cat: AddonCatalog) -> Response:
    stmt = lookup.visible_addons(caller.account.id).where(Addon.state != "deprovisioned")
    expand = Expand.of(request)
    return await paged(
        request, db, stmt, SORT, AddonOut, lambda a: render_addons(db, cat, a, expand)
    )


async def _addon_for(caller: AddonCaller, ident: str) -> Addon:
    if caller.principal is not None:
        return await lookup.visible_addon(caller.db, caller.principal.account.id, ident)
    addon = await caller.db.get(Addon, caller.partner_addon_id)
    if addon is None or ident not in (str(addon.id), addon.name):
        raise lookup.addon_not_found()
    return addon


@router.get("/addons/{addon_id_or_name}", response_model=AddonOut)
async def info(
    request: Request,
    addon_id_or_name: str,
    caller: AddonReader,
    cat: AddonCatalog,
) -> Response:
    addon = await _addon_for(caller, addon_id_or_name)
    return model_response(await render_addon(caller.db, cat, addon, Expand.of(request)))


@router.post("/actions/addons/resolve", response_model=list[AddonOut])
async def resolve(
    request: Request,
    caller: AppsReader,
    db: ReadDb,
    cat: AddonCatalog,
    params: AddonResolve = body(AddonResolve),
) -> Response:
    """The CLI's way to turn any add-on identifier into add-ons (not in the reference)."""
    service_filter = params.addon_service or None
    if params.app:
        app = await get_app(db, caller, params.app, "addons:view")
        found = await lookup.match_in_app(db, app, params.addon, service_filter)
    else:
        found = await lookup.match_global(db, caller.account.id, params.addon, service_filter)
    lookup.one(found)
    items = await render_addons(db, cat, found, Expand.of(request))
    return list_response(AddonOut, items)


@router.post("/addons/{addon_id_or_name}/actions/provision", response_model=AddonOut)
async def action_provision(
    addon_id_or_name: str,
    caller: AddonWriter,
    cat: AddonCatalog,
) -> Response:
    """An asynchronously provisioning partner reports that it is done."""
    addon = await _partner_addon(caller, addon_id_or_name)
    await service.complete_provision(caller.db, addon, await service.actor_for(caller.db, addon))
    return model_response(await render_addon(caller.db, cat, addon))


@router.post("/addons/{addon_id_or_name}/actions/deprovision", response_model=AddonOut)
async def action_deprovision(
    addon_id_or_name: str,
    caller: AddonWriter,
    cat: AddonCatalog,
) -> Response:
    """The partner gave up on provisioning, or finished removing the resource."""
    addon = await _partner_addon(caller, addon_id_or_name)
    user = await service.actor_for(caller.db, addon)
    if addon.state == "provisioning":
        await service.fail_provision(caller.db, addon, None)
        return model_response(await render_addon(caller.db, cat, addon))
    out = await render_addon(caller.db, cat, addon, state="deprovisioned")
    await service.remove(caller.db, addon, user)
    return model_response(out)


async def _partner_addon(caller: AddonCaller, ident: str) -> Addon:
    """The add-on a partner's own token names, locked for the change it reports."""
    addon = await _addon_for(caller, ident)
    caller.partner_only(addon)
    found = await service.locked(caller.db, addon.id)
    if found is None:
        raise lookup.addon_not_found()
    return found


@router.post("/oauth/token", response_model=PartnerTokenOut)
async def partner_token(request: Request, db: Db, cat: AddonCatalog) -> Response:
    """Partners exchange the provision grant (or a refresh token) for an add-on token."""
    params = await token_params(request)
    return model_response(await exchange(db, cat, params))
