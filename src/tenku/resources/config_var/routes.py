from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tenku.resources.app.access import OnApp, allowed
from tenku.resources.config_var import service
from tenku.resources.config_var.schemas import ConfigChanges, ConfigVarsUpdate
from tenku.resources.config_var.store import current_config
from tenku.web.deps import TransactionRoute
from tenku.web.render import raw_json

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/config-vars", response_model=dict[str, str])
async def info(on: Annotated[OnApp, allowed("secrets:read", "config:view")]) -> Response:
    return raw_json(await current_config(on.db, on.app.id))


@router.patch("/apps/{app_id_or_name}/config-vars", response_model=dict[str, str])
async def update(
    on: Annotated[OnApp, allowed("secrets:write", "config:edit")],
    changes: dict[str, str | None] = Depends(ConfigChanges(ConfigVarsUpdate)),
) -> Response:
    # The release records who made it (id and email): the caller's cached account serves.
    return raw_json(await service.update_config(on.db, on.app, on.caller.known, changes))
