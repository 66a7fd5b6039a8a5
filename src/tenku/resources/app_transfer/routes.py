"""App transfers, as the heroku CLI's `apps:transfer EMAIL` starts them for a personal app
(a team app goes to PATCH /teams/apps/{app}); the recipient answers over the API."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Account, AppTransfer
from tenku.resources.app_transfer import service
from tenku.resources.app_transfer.letters import answer_letter, offer_letter
from tenku.resources.app_transfer.schemas import (
    AppTransferCreate,
    AppTransferOut,
    AppTransferUpdate,
)
from tenku.resources.invitation.letters import send_after_commit
from tenku.web.deps import AppsReader, AppsWriter, Context, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(AppTransfer.id)


@router.post("/account/app-transfers", response_model=AppTransferOut, status_code=201)
async def create(
    request: Request,
    caller: AppsWriter,
    db: Db,
    ctx: Context,
    params: AppTransferCreate = body(AppTransferCreate),
) -> Response:
    transfer, app, recipient = await service.create(db, caller, params)
    if not params.silent:
        letter = offer_letter(
            ctx.settings.public_api_url, caller.account, recipient, app.name, transfer
        )
        send_after_commit(request, letter)
    return model_response(await service.render_one(db, transfer), status=201)


@router.get(
    "/account/app-transfers", response_model=list[AppTransferOut], openapi_extra=ranged(SORT)
)
async def list_transfers(request: Request, caller: AppsReader, db: Db) -> Response:
    return await paged(
        request,
        db,
        service.transfers_of(caller.account.id),
        SORT,
        AppTransferOut,
        lambda transfers: service.render(db, transfers),
    )


@router.get("/account/app-transfers/{app_transfer_id_or_name}", response_model=AppTransferOut)
async def info(app_transfer_id_or_name: str, caller: AppsReader, db: Db) -> Response:
    transfer = await service.get_transfer(db, caller.account, app_transfer_id_or_name)
    return model_response(await service.render_one(db, transfer))


@router.patch("/account/app-transfers/{app_transfer_id_or_name}", response_model=AppTransferOut)
async def update(
    request: Request,
    app_transfer_id_or_name: str,
    caller: AppsWriter,
    db: Db,
    params: AppTransferUpdate = body(AppTransferUpdate),
) -> Response:
    """Accept or decline (the recipient only)."""
    transfer = await service.get_transfer(db, caller.account, app_transfer_id_or_name)
    transfer, app = await service.decide(db, caller.account, transfer, params.state)
    sender = await db.get(Account, transfer.owner_id)
    if sender is not None:
        send_after_commit(request, answer_letter(sender, caller.account, app.name, transfer.state))
    return model_response(await service.render_one(db, transfer))


@router.delete("/account/app-transfers/{app_transfer_id_or_name}", response_model=AppTransferOut)
async def delete(app_transfer_id_or_name: str, caller: AppsWriter, db: Db) -> Response:
    """Cancel (the sender only)."""
    transfer = await service.get_transfer(db, caller.account, app_transfer_id_or_name)
    out = await service.render_one(db, transfer)
    await service.cancel(db, caller.account, transfer)
    return model_response(out)
