from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tenku.resources.user_preferences import service
from tenku.resources.user_preferences.schemas import PreferencesOut, PreferencesUpdate
from tenku.web.deps import AccountReader, AccountWriter, Db, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/users/{user_preferences_self}/preferences", response_model=PreferencesOut)
async def info(user_preferences_self: str, caller: AccountReader) -> Response:
    account = service.resolve_self(caller.account, user_preferences_self)
    return model_response(service.preferences_of(account))


@router.patch("/users/{user_preferences_self}/preferences", response_model=PreferencesOut)
async def update(
    user_preferences_self: str,
    caller: AccountWriter,
    db: Db,
    changes: PreferencesUpdate = body(PreferencesUpdate),
) -> Response:
    account = service.resolve_self(caller.account, user_preferences_self)
    return model_response(await service.update_preferences(db, account, changes))
