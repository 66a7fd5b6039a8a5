from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Key
from tenku.resources.key import service
from tenku.resources.key.schemas import KeyCreate, KeyOut
from tenku.web.deps import AccountReader, AccountWriter, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Key.id, Key.fingerprint)


@router.post("/account/keys", response_model=KeyOut, status_code=201)
async def create(caller: AccountWriter, db: Db, params: KeyCreate = body(KeyCreate)) -> Response:
    key = await service.add_key(db, caller.account, params.public_key)
    return model_response(KeyOut.of(key, caller.account.email), status=201)


@router.get("/account/keys", response_model=list[KeyOut], openapi_extra=ranged(SORT))
async def list_keys(request: Request, caller: AccountReader, db: Db) -> Response:
    email = caller.account.email
    return await paged(
        request,
        db,
        service.keys_of(caller.account.id),
        SORT,
        KeyOut,
        lambda keys: [KeyOut.of(k, email) for k in keys],
    )


@router.get("/account/keys/{key_id_or_fingerprint}", response_model=KeyOut)
async def info(key_id_or_fingerprint: str, caller: AccountReader, db: Db) -> Response:
    key = await service.get_key(db, caller.account, key_id_or_fingerprint)
    return model_response(KeyOut.of(key, caller.account.email))


@router.delete("/account/keys/{key_id_or_fingerprint}", response_model=KeyOut)
async def delete(key_id_or_fingerprint: str, caller: AccountWriter, db: Db) -> Response:
    key = await service.remove_key(db, caller.account, key_id_or_fingerprint)
    return model_response(KeyOut.of(key, caller.account.email))
