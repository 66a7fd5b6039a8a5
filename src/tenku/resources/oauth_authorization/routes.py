from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Authorization, OAuthClient
from tenku.resources.oauth_authorization import service
from tenku.resources.oauth_authorization.schemas import (
    AuthorizationCreate,
    AuthorizationOut,
    AuthorizationUpdate,
)
from tenku.resources.oauth_client import service as clients
from tenku.web.deps import AnyCaller, Db, GlobalCaller, Principal, TransactionRoute, body, scoped
from tenku.web.errors import NotFound
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Authorization.id)
# These bodies can carry live tokens.
NO_STORE = {"Cache-Control": "no-store"}


def shown_token(caller: Principal, auth: Authorization) -> str | None:
    """The token this very request presented, or None for the redacted hint.

    Echoing the caller's own token back is no disclosure, and `heroku auth:token`
    finds its authorization (to warn about expiry) only by exact match.
    """
    if caller.authorization is not None and caller.authorization.id == auth.id and caller.token:
        return caller.token
    return None


def out(caller: Principal, auth: Authorization, client: OAuthClient | None) -> AuthorizationOut:
    return AuthorizationOut.of(auth, caller.account, shown_token(caller, auth), client=client)


async def _one(db: AsyncSession, caller: Principal, auth: Authorization) -> Response:
    client = await service.client_of(db, auth)
    return model_response(out(caller, auth, client), headers=NO_STORE)


@router.post("/oauth/authorizations", response_model=AuthorizationOut, status_code=201)
async def create(
    db: Db,
    caller: Principal = scoped("global", password_login=True),
    params: AuthorizationCreate = body(AuthorizationCreate),
) -> Response:
    auth, token, refresh, client = await service.create(db, caller, params)
    result = AuthorizationOut.of(auth, caller.account, token, refresh, client)
    return model_response(result, status=201, headers=NO_STORE)


@router.get(
    "/oauth/authorizations", response_model=list[AuthorizationOut], openapi_extra=ranged(SORT)
)
async def list_authorizations(
    request: Request,
    caller: GlobalCaller,
    db: Db,
) -> Response:
    async def render(auths: list[Authorization]) -> list[AuthorizationOut]:
        found = await clients.by_ids(db, (a.client_id for a in auths))
        return [out(caller, a, found.get(a.client_id) if a.client_id else None) for a in auths]

    return await paged(
        request,
        db,
        service.owned_by(caller.account),
        SORT,
        AuthorizationOut,
        render,
        headers=NO_STORE,
    )


@router.get("/oauth/authorizations/{oauth_authorization_id}", response_model=AuthorizationOut)
async def info(
    oauth_authorization_id: str,
    caller: GlobalCaller,
    db: Db,
) -> Response:
    auth = await service.get_own(db, caller.account, oauth_authorization_id)
    return await _one(db, caller, auth)


@router.patch("/oauth/authorizations/{oauth_authorization_id}", response_model=AuthorizationOut)
async def update(
    oauth_authorization_id: str,
    caller: GlobalCaller,
    db: Db,
    changes: AuthorizationUpdate = body(AuthorizationUpdate),
) -> Response:
    """Change an authorization's description, or give it to an OAuth client
    (`authorizations:update`)."""
    auth = await service.get_own(db, caller.account, oauth_authorization_id)
    await service.update(db, auth, changes)
    return await _one(db, caller, auth)


@router.delete("/oauth/authorizations/{oauth_authorization_id}", response_model=AuthorizationOut)
async def delete(
    oauth_authorization_id: str,
    caller: GlobalCaller,
    db: Db,
) -> Response:
    auth = await service.get_own(db, caller.account, oauth_authorization_id)
    result = out(caller, auth, await service.client_of(db, auth))
    await service.delete(db, auth)
    return model_response(result, headers=NO_STORE)


@router.post(
    "/oauth/authorizations/{oauth_authorization_id}/actions/regenerate-tokens",
    response_model=AuthorizationOut,
)
async def regenerate(
    oauth_authorization_id: str,
    caller: GlobalCaller,
    db: Db,
) -> Response:
    auth = await service.get_own(db, caller.account, oauth_authorization_id)
    token, refresh = await service.regenerate(db, caller, auth)
    client = await service.client_of(db, auth)
    result = AuthorizationOut.of(auth, caller.account, token, refresh, client)
    return model_response(result, headers=NO_STORE)


@router.delete(
    "/oauth/sessions/~",
    responses={404: {"description": "There is no browser session to end here: always."}},
)
async def delete_session(caller: AnyCaller) -> Response:
    """End the browser session that `heroku logout` may be using (there are none here)."""
    # Not in the reference: `heroku logout` ends the browser/SSO session this way.
    # There are no such sessions here, and the CLI reads exactly this 404 as
    # "nothing to end".
    raise NotFound("session")
