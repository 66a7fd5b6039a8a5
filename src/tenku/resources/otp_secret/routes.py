from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.otp_secret import service
from tenku.resources.otp_secret.schemas import OtpSecretOut
from tenku.web.confirm import confirm_second_factor
from tenku.web.deps import AccountWriter, Context, Db, TransactionRoute
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
# The body carries the seed.
NO_STORE = {"Cache-Control": "no-store"}


@router.post("/account/otp-secret", response_model=OtpSecretOut, status_code=201)
async def create(request: Request, caller: AccountWriter, db: Db, ctx: Context) -> Response:
    # With two-factor on, replacing the device takes the current second factor.
    await confirm_second_factor(request, db, caller.account)
    secret, url = await service.create(db, ctx.sealer, caller.account)
    return model_response(OtpSecretOut.of(secret, url), status=201, headers=NO_STORE)
