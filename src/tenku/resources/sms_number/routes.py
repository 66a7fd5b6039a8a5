from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.account.service import resolve_self
from tenku.resources.sms_number import service
from tenku.resources.sms_number.schemas import SmsNumberConfirm, SmsNumberOut
from tenku.web.deps import (
    AccountReader,
    AccountWriter,
    Db,
    Principal,
    TransactionRoute,
    body,
    scoped,
)
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/users/{account_email_or_id_or_self}/sms-number", response_model=SmsNumberOut)
async def info(account_email_or_id_or_self: str, caller: AccountReader, db: Db) -> Response:
    account = await resolve_self(db, caller.account, account_email_or_id_or_self)
    return model_response(SmsNumberOut.of(account))


@router.post(
    "/users/{account_email_or_id_or_self}/sms-number/actions/recover",
    response_model=SmsNumberOut,
)
async def recover(
    request: Request,
    account_email_or_id_or_self: str,
    db: Db,
    # A password is enough here: this is how a second factor is had when the device is not.
    caller: Principal = scoped("account:write", password_login=True, second_factor=False),
) -> Response:
    account = await resolve_self(db, caller.account, account_email_or_id_or_self)
    await service.recover(request, db, account)
    return model_response(SmsNumberOut.of(account))


@router.post(
    "/users/{account_email_or_id_or_self}/sms-number/actions/confirm",
    response_model=SmsNumberOut,
)
async def confirm(
    request: Request,
    account_email_or_id_or_self: str,
    caller: AccountWriter,
    db: Db,
    params: SmsNumberConfirm = body(SmsNumberConfirm),
) -> Response:
    account = await resolve_self(db, caller.account, account_email_or_id_or_self)
    await service.confirm(request, db, account, params.code)
    return model_response(SmsNumberOut.of(account))
