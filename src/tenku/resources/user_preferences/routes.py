from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from tenku.resources.user_preferences import service
from tenku.resources.user_preferences.schemas import PreferencesUpdate
from tenku.web.deps import Principal, TransactionRoute, body, get_db, scoped
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/users/{user_preferences_self}/preferences")
async def info(user_preferences_self: str, caller: Principal = scoped("account:read")) -> Response:
    account = service.resolve_self(caller.account, user_preferences_self)
    return model_response(service.preferences_of(account))


@router.patch("/users/{user_preferences_self}/preferences")
async def update(
    user_preferences_self: str,
    caller: Principal = scoped("account:write"),
    changes: PreferencesUpdate = body(PreferencesUpdate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    account = service.resolve_self(caller.account, user_preferences_self)
    return model_response(await service.update_preferences(db, account, changes))
