from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.service import get_app
from tenku.resources.config_var import service
from tenku.resources.config_var.store import current_config
from tenku.web.deps import Principal, TransactionRoute, get_db, json_object, scoped
from tenku.web.render import raw_json

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/config-vars")
async def info(
    app_id_or_name: str,
    caller: Principal = scoped("secrets:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    return raw_json(await current_config(db, app.id))


@router.patch("/apps/{app_id_or_name}/config-vars")
async def update(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("secrets:write"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    changes = service.validate_changes(await json_object(request))
    app = await get_app(db, caller, app_id_or_name, need="write")
    return raw_json(await service.update_config(db, app, caller.account, changes))
