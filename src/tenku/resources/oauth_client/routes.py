"""OAuth clients: applications users authorize through `/oauth/authorize`.

Each belongs to the account that registered it. Its secret is shown whole only when it is
made (create, rotate-credentials); lists and info show a redacted hint, as the server
keeps only a digest of it.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import OAuthClient
from tenku.resources.oauth_client import service
from tenku.resources.oauth_client.schemas import ClientCreate, ClientUpdate, OAuthClientOut
from tenku.web.deps import Db, GlobalCaller, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(OAuthClient.id)
NO_STORE = {"Cache-Control": "no-store"}


@router.post("/oauth/clients", response_model=OAuthClientOut, status_code=201)
async def create(
    caller: GlobalCaller, db: Db, params: ClientCreate = body(ClientCreate)
) -> Response:
    client, secret = await service.create(db, caller.account, params)
    return model_response(OAuthClientOut.of(client, secret), status=201, headers=NO_STORE)


@router.get("/oauth/clients", response_model=list[OAuthClientOut], openapi_extra=ranged(SORT))
async def list_clients(request: Request, caller: GlobalCaller, db: Db) -> Response:
    return await paged(
        request,
        db,
        service.owned_by(caller.account),
        SORT,
        OAuthClientOut,
        lambda clients: [OAuthClientOut.of(c) for c in clients],
        headers=NO_STORE,
    )


@router.get("/oauth/clients/{oauth_client_id}", response_model=OAuthClientOut)
async def info(oauth_client_id: str, caller: GlobalCaller, db: Db) -> Response:
    client = await service.get_own(db, caller.account, oauth_client_id)
    return model_response(OAuthClientOut.of(client), headers=NO_STORE)


@router.patch("/oauth/clients/{oauth_client_id}", response_model=OAuthClientOut)
async def update(
    oauth_client_id: str,
    caller: GlobalCaller,
    db: Db,
    changes: ClientUpdate = body(ClientUpdate),
) -> Response:
    client = await service.get_own(db, caller.account, oauth_client_id)
    await service.update(db, client, changes)
    return model_response(OAuthClientOut.of(client), headers=NO_STORE)


@router.delete("/oauth/clients/{oauth_client_id}", response_model=OAuthClientOut)
async def delete(oauth_client_id: str, caller: GlobalCaller, db: Db) -> Response:
    client = await service.get_own(db, caller.account, oauth_client_id)
    result = OAuthClientOut.of(client)
    await service.delete_client(db, client)
    return model_response(result, headers=NO_STORE)


@router.post(
    "/oauth/clients/{oauth_client_id}/actions/rotate-credentials",
    response_model=OAuthClientOut,
)
async def rotate_credentials(oauth_client_id: str, caller: GlobalCaller, db: Db) -> Response:
    client = await service.get_own(db, caller.account, oauth_client_id)
    secret = await service.rotate(db, client)
    return model_response(OAuthClientOut.of(client, secret), headers=NO_STORE)
