from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Key
from tenku.resources.key import service
from tenku.resources.key.schemas import KeyCreate, KeyOut
from tenku.web.deps import Principal, TransactionRoute, body, get_db, scoped
from tenku.web.ranges import field, paginate
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = {"fingerprint": field(Key.fingerprint), "id": field(Key.id)}


@router.post("/account/keys")
async def create(
    caller: Principal = scoped("account:write"),
    params: KeyCreate = body(KeyCreate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    key = await service.add_key(db, caller.account, params.public_key)
    return model_response(KeyOut.of(key, caller.account.email), status=201)


@router.get("/account/keys")
async def list_keys(
    request: Request,
    caller: Principal = scoped("account:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    page = await paginate(db, request, service.keys_of(caller.account.id), SORT, Key.id)
    items = [KeyOut.of(k, caller.account.email) for (k,) in page.rows]
    return list_response(KeyOut, items, page.status, page.headers)


@router.get("/account/keys/{key_id_or_fingerprint}")
async def info(
    key_id_or_fingerprint: str,
    caller: Principal = scoped("account:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    key = await service.get_key(db, caller.account, key_id_or_fingerprint)
    return model_response(KeyOut.of(key, caller.account.email))


@router.delete("/account/keys/{key_id_or_fingerprint}")
async def delete(
    key_id_or_fingerprint: str,
    caller: Principal = scoped("account:write"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    key = await service.remove_key(db, caller.account, key_id_or_fingerprint)
    return model_response(KeyOut.of(key, caller.account.email))
