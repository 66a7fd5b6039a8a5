from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import DeploySecrets, ViewSecrets
from tenku.resources.config_var import service
from tenku.resources.config_var.store import current_config
from tenku.web.deps import TransactionRoute, json_object
from tenku.web.render import raw_json

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/config-vars")
async def info(on: ViewSecrets) -> Response:
    return raw_json(await current_config(on.db, on.app.id))


@router.patch("/apps/{app_id_or_name}/config-vars")
async def update(request: Request, on: DeploySecrets) -> Response:
    changes = service.validate_changes(await json_object(request))
    return raw_json(await service.update_config(on.db, on.app, on.caller.account, changes))
