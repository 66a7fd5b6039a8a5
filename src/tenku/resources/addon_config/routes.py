from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tenku.db.models import Addon
from tenku.resources.addon import lookup, service
from tenku.resources.addon.partner import AddonCaller, SecretsReader, SecretsWriter
from tenku.resources.addon.registry import AddonCatalog
from tenku.resources.addon_config.schemas import ConfigItemOut, ConfigUpdate
from tenku.web.deps import TransactionRoute, body
from tenku.web.render import list_response

router = APIRouter(route_class=TransactionRoute)


def _items(addon: Addon) -> list[ConfigItemOut]:
    return [ConfigItemOut(name=k, value=v) for k, v in sorted(addon.config.items())]


async def _addon(caller: AddonCaller, ident: str, write: bool) -> Addon:
    if caller.principal is None:
        addon = await caller.db.get(Addon, caller.partner_addon_id)
        if addon is None or ident not in (str(addon.id), addon.name):
            raise lookup.addon_not_found()
    else:
        account_id = caller.principal.account.id
        addon = await lookup.visible_addon(caller.db, account_id, ident)
        if write:
            await lookup.require_billing_access(caller.db, account_id, addon, "addons:edit")
        else:
            await lookup.require_config_access(caller.db, account_id, addon)
    if write:
        found = await service.locked(caller.db, addon.id)
        if found is None:
            raise lookup.addon_not_found()
        addon = found
    return addon


@router.get("/addons/{addon_id_or_name}/config", response_model=list[ConfigItemOut])
async def list_config(addon_id_or_name: str, caller: SecretsReader) -> Response:
    addon = await _addon(caller, addon_id_or_name, write=False)
    return list_response(ConfigItemOut, _items(addon))


@router.patch("/addons/{addon_id_or_name}/config", response_model=list[ConfigItemOut])
async def update_config(
    addon_id_or_name: str,
    caller: SecretsWriter,
    cat: AddonCatalog,
    params: ConfigUpdate = body(ConfigUpdate),
) -> Response:
    """The provider-facing vars (`HEROKU_POSTGRESQL_URL`); apps see them renamed."""
    addon = await _addon(caller, addon_id_or_name, write=True)
    user = (
        caller.principal.account
        if caller.principal is not None
        else await service.actor_for(caller.db, addon)
    )
    changes = [(item.name, item.value) for item in params.config]
    await service.update_config(caller.db, cat, addon, changes, user)
    return list_response(ConfigItemOut, _items(addon))
