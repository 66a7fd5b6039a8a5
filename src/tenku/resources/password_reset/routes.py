from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.common import AccountRef
from tenku.resources.password_reset import service
from tenku.resources.password_reset.schemas import (
    PasswordResetCreate,
    PasswordResetFinalize,
    PasswordResetOut,
)
from tenku.web.deps import Context, Db, TransactionRoute, body
from tenku.web.render import model_response

# Anonymous: whoever holds the mailbox (the mailed token) is who may choose the password.
router = APIRouter(route_class=TransactionRoute)
NO_STORE = {"Cache-Control": "no-store"}


@router.post("/password-resets", response_model=PasswordResetOut)
async def reset_password(
    request: Request,
    db: Db,
    ctx: Context,
    params: PasswordResetCreate = body(PasswordResetCreate),
) -> Response:
    user = await service.request_reset(request, db, str(params.email))
    return model_response(PasswordResetOut.of(ctx.clock(), user), headers=NO_STORE)


@router.post(
    "/password-resets/{password_reset_reset_password_token}/actions/finalize",
    response_model=PasswordResetOut,
)
async def complete_reset_password(
    request: Request,
    password_reset_reset_password_token: str,
    db: Db,
    params: PasswordResetFinalize = body(PasswordResetFinalize),
) -> Response:
    created, account = await service.finalize(
        request, db, password_reset_reset_password_token, params.password
    )
    return model_response(PasswordResetOut.of(created, AccountRef.of(account)), headers=NO_STORE)
