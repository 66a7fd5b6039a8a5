"""OAuth tokens: what a client gets for its authorization code or refresh token."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from tenku.db.models import OAuthClient
from tenku.resources.oauth_token import service
from tenku.resources.oauth_token.schemas import OAuthTokenOut, TokenCreate
from tenku.web.deps import AnyCaller, Db, TransactionRoute, body
from tenku.web.errors import ApiError
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
# RFC 6749 5.1: answers holding tokens are never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(err: ApiError) -> Response:
    return JSONResponse(err.body(), err.status, headers={**err.headers, **NO_STORE})


@router.post(
    "/oauth/tokens",
    response_model=OAuthTokenOut,
    status_code=201,
    responses={401: {"description": "The code, refresh token or client secret is not valid."}},
)
async def create(db: Db, params: TokenCreate = body(TokenCreate)) -> Response:
    """No credentials besides the body's: the client proves itself with its secret."""
    issued = await service.exchange(db, params)
    if isinstance(issued, ApiError):
        return _error(issued)
    result = service.token_out(
        issued.auth, issued.client, issued.grant, issued.token, issued.refresh
    )
    return model_response(result, status=201, headers=NO_STORE)


@router.delete("/oauth/tokens/{oauth_token_id}", response_model=OAuthTokenOut)
async def delete(oauth_token_id: str, caller: AnyCaller, db: Db) -> Response:
    auth = await service.revocable(db, caller, oauth_token_id)
    client = await db.get(OAuthClient, auth.client_id) if auth.client_id else None
    result = service.token_out(auth, client, service.obtained_by(auth))
    await service.revoke(db, auth)
    return model_response(result, headers=NO_STORE)
