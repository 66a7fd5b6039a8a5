"""Heroku Postgres backups, restores and copies: what `heroku pg:backups*` and `pg:copy`
call on the data host. The runtime carries the transfers out (runtime/pg_transfers.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.data_api.access import SCOPES, Database, database, find_database
from tenku.data_api.backups import service
from tenku.data_api.backups.retention import Retention
from tenku.data_api.backups.schemas import (
    CopyIn,
    PublicUrlOut,
    RestoreIn,
    ScheduleIn,
    ScheduleOut,
    TransferOut,
    VerboseTransferOut,
)
from tenku.db.models import PgTransfer
from tenku.resources.addon.render import plan_of
from tenku.resources.app.access import OnApp, allowed
from tenku.web.context import AppContext
from tenku.web.deps import Context, Db, Principal, TransactionRoute, after_commit, body, scoped
from tenku.web.render import list_response, model_response

# The Data API is not the Platform API: /schema and /openapi.json leave it out.
router = APIRouter(route_class=TransactionRoute, include_in_schema=False)

APPS = "/client/v11/apps/{app_id_or_name}/transfers"
DATABASES = "/client/v11/databases/{database}"
PG = service.POSTGRES

AppReader = Annotated[OnApp, allowed("app:read", "addons:view")]
AppWriter = Annotated[OnApp, allowed("app:write", "addons:edit")]
# A backup's download URL hands out its data, as credentials do.
AppSecrets = Annotated[OnApp, allowed("secrets:read", "addons:config")]
Viewed = Annotated[Database, database(PG, "view")]
Read = Annotated[Database, database(PG, "config")]
Edited = Annotated[Database, database(PG, "edit", for_update=True)]


async def _transfer(on: OnApp, ctx: AppContext, transfer: PgTransfer, verbose: bool) -> Response:
    retention = await service.retention_of(on.db, ctx.addons.catalog, [transfer.from_addon_id])
    keep = retention.get(transfer.from_addon_id) if transfer.from_addon_id else None
    model = VerboseTransferOut if verbose else TransferOut
    return model_response(model.of(ctx.settings, transfer, keep))


async def _created(db: Db, ctx: AppContext, transfer: PgTransfer) -> Response:
    retention = await service.retention_of(db, ctx.addons.catalog, [transfer.from_addon_id])
    keep = retention.get(transfer.from_addon_id) if transfer.from_addon_id else None
    return model_response(TransferOut.of(ctx.settings, transfer, keep), status=201)


@router.get(APPS, response_model=list[TransferOut])
async def list_transfers(on: AppReader, ctx: Context) -> Response:
    transfers = await service.transfers_of(on.db, on.app)
    kept = await service.retention_of(
        on.db, ctx.addons.catalog, (t.from_addon_id for t in transfers)
    )
    items = [
        TransferOut.of(ctx.settings, t, kept.get(t.from_addon_id) if t.from_addon_id else None)
        for t in transfers
    ]
    return list_response(TransferOut, items)


@router.get(APPS + "/{transfer}", response_model=VerboseTransferOut)
async def info(transfer: str, on: AppReader, ctx: Context, verbose: bool = False) -> Response:
    found = await service.find_transfer(on.db, on.app, transfer)
    return await _transfer(on, ctx, found, verbose)


@router.delete(APPS + "/{transfer}", response_model=TransferOut)
async def delete(transfer: str, on: AppWriter, ctx: Context, request: Request) -> Response:
    found = await service.find_transfer(on.db, on.app, transfer)
    key = service.remove(found)
    if key is not None:

        async def purge() -> None:
            await ctx.blobs.delete(key)

        after_commit(request, purge)
    return await _transfer(on, ctx, found, False)


@router.post(APPS + "/{transfer}/actions/public-url", response_model=PublicUrlOut)
async def public_url(transfer: str, on: AppSecrets, ctx: Context, request: Request) -> Response:
    found = await service.find_transfer(on.db, on.app, transfer)
    url, expires = service.public_url(ctx.settings, ctx.signer, found, request)
    return model_response(PublicUrlOut(url=url, expires_at=expires))


@router.post(APPS + "/{transfer}/actions/cancel", response_model=TransferOut)
async def cancel(transfer: str, on: AppWriter, ctx: Context) -> Response:
    found = await service.find_transfer(on.db, on.app, transfer)
    service.cancel(found)
    return await _transfer(on, ctx, found, False)


@router.post(DATABASES + "/backups", response_model=TransferOut, status_code=201)
async def capture(db: Db, ctx: Context, target: Read) -> Response:
    target.require_ready()
    return await _created(db, ctx, await service.capture(db, target.addon, target.app))


@router.post(DATABASES + "/restores", response_model=TransferOut, status_code=201)
async def restore(
    database: str,
    db: Db,
    ctx: Context,
    caller: Principal = scoped(SCOPES["edit"]),
    params: RestoreIn = body(RestoreIn),
) -> Response:
    # One caller for both checks: the target's and, for a backup, the backup's app.
    target = await find_database(db, ctx, caller, database, PG, "edit", for_update=True)
    transfer = await service.restore(db, ctx, caller, target, params.backup_url, params.extensions)
    return await _created(db, ctx, transfer)


@router.post(DATABASES + "/transfers", response_model=TransferOut, status_code=201)
async def copy(
    database: str,
    db: Db,
    ctx: Context,
    caller: Principal = scoped(SCOPES["edit"]),
    params: CopyIn = body(CopyIn),
) -> Response:
    named = await find_database(db, ctx, caller, database, PG, "view")
    transfer = await service.copy(
        db, ctx, caller, named, params.from_name, params.from_url, params.to_name, params.to_url
    )
    return await _created(db, ctx, transfer)


def _retention(ctx: AppContext, target: Database) -> Retention:
    return Retention.of(plan_of(ctx.addons.catalog, target.addon).settings)


@router.get(DATABASES + "/transfer-schedules", response_model=list[ScheduleOut])
async def schedules(db: Db, ctx: Context, target: Viewed) -> Response:
    kept = _retention(ctx, target)
    found = await service.schedules_of(db, target.addon)
    return list_response(ScheduleOut, [ScheduleOut.of(s, kept) for s in found])


@router.post(DATABASES + "/transfer-schedules", response_model=ScheduleOut, status_code=201)
async def schedule(
    db: Db, ctx: Context, target: Edited, params: ScheduleIn = body(ScheduleIn)
) -> Response:
    found = await service.set_schedule(
        db, target, params.hour, params.timezone, params.schedule_name
    )
    return model_response(ScheduleOut.of(found, _retention(ctx, target)), status=201)


@router.delete(DATABASES + "/transfer-schedules/{schedule}", response_model=ScheduleOut)
async def unschedule(db: Db, ctx: Context, schedule: str, target: Edited) -> Response:
    found = await service.find_schedule(db, target.addon, schedule)
    answer = ScheduleOut.of(found, _retention(ctx, target))
    await db.delete(found)
    return model_response(answer)
