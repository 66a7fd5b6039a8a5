from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account
from tenku.resources.account import service
from tenku.resources.account.schemas import AccountOut, AccountUpdate
from tenku.resources.addon.flows import before_app_delete
from tenku.resources.common import Ref
from tenku.resources.organization_app.teams import default_team
from tenku.web.deps import AccountReader, AccountWriter, Db, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


async def _out(db: AsyncSession, account: Account) -> AccountOut:
    """The account with its default team (`heroku teams` marks it; `PATCH /teams/{team}`
    with `default` sets it)."""
    team = await default_team(db, account.id)
    return AccountOut.of(account, None if team is None else Ref.of(team))


@router.get("/account", response_model=AccountOut)
@router.get("/users/{account_email_or_id_or_self}", response_model=AccountOut)
async def info(caller: AccountReader, db: Db, account_email_or_id_or_self: str = "~") -> Response:
    account = await service.resolve_self(db, caller.account, account_email_or_id_or_self)
    return model_response(await _out(db, account))


@router.patch("/account", response_model=AccountOut)
@router.patch("/users/{account_email_or_id_or_self}", response_model=AccountOut)
async def update(
    request: Request,
    caller: AccountWriter,
    db: Db,
    account_email_or_id_or_self: str = "~",
    changes: AccountUpdate = body(AccountUpdate),
) -> Response:
    account = await service.resolve_self(db, caller.account, account_email_or_id_or_self)
    account = await service.update_account(request, db, account, changes)
    return model_response(await _out(db, account))


@router.delete("/account", response_model=AccountOut)
@router.delete("/users/{account_email_or_id_or_self}", response_model=AccountOut)
async def delete(
    request: Request, caller: AccountWriter, db: Db, account_email_or_id_or_self: str = "~"
) -> Response:
    account = await service.resolve_self(db, caller.account, account_email_or_id_or_self)
    await service.refuse_if_last_admin(db, account)
    out = await _out(db, account)
    # Owned apps go with the account, and with them their add-ons' real resources.
    for app in await service.owned_apps(db, account):
        await before_app_delete(request, db, app)
    await service.delete_account(db, account)
    return model_response(out)
