from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.recovery_code import service
from tenku.web.confirm import confirm_password, confirm_second_factor
from tenku.web.deps import AccountWriter, Context, Db, TransactionRoute
from tenku.web.errors import InvalidParams
from tenku.web.render import JSON_TYPE

router = APIRouter(route_class=TransactionRoute)
PASSWORD_HEADER = "Heroku-Password"


@router.post("/account/recovery-codes", response_model=list[str], status_code=201)
async def create(request: Request, caller: AccountWriter, db: Db, ctx: Context) -> Response:
    # `heroku auth:2fa:generate-recovery-codes` sends the password in a header; with
    # two-factor on, the second factor is asked for too.
    password = request.headers.get(PASSWORD_HEADER)
    if password is None:
        raise InvalidParams(
            f"Invalid password provided: the current password is required ({PASSWORD_HEADER})."
        )
    await confirm_password(request, caller.account, password)
    await confirm_second_factor(request, db, caller.account)
    codes = await service.generate(db, ctx.sealer, caller.account)
    return Response(json.dumps(codes), 201, {"Cache-Control": "no-store"}, media_type=JSON_TYPE)
