from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Authorization, OAuthClient
from tenku.ids import as_uuid
from tenku.resources.oauth_authorization.schemas import (
    AuthorizationCreate,
    AuthorizationUpdate,
    ClientCredentials,
)
from tenku.resources.oauth_authorization.tokens import mint_authorization, rotate_tokens
from tenku.resources.oauth_client import service as clients
from tenku.web.deps import Principal
from tenku.web.errors import Forbidden, InvalidParams, NotFound

DEFAULT_SCOPE = ["global"]


def direct_only(caller: Principal, action: str) -> None:
    """The reference allows regenerating tokens to direct authorizations only; minting new
    authorizations gets the same rule, or a client could make itself tokens that outlive
    the authorization its user can revoke."""
    if caller.authorization is not None and caller.authorization.client_id is not None:
        raise Forbidden(
            f"Tokens can only be {action} with a direct authorization, "
            "not with a token an OAuth client obtained."
        )


def _no_such_client() -> InvalidParams:
    return InvalidParams("Invalid client provided: couldn't find that OAuth client.")


async def create(
    db: AsyncSession, caller: Principal, params: AuthorizationCreate
) -> tuple[Authorization, str, str | None, OAuthClient | None]:
    """A direct authorization, or one for an OAuth client: (row, access token, refresh
    token, client).

    Direct authorizations get no refresh token: their access token can already mint
    fresh authorizations, so a second long-lived secret would only add exposure.
    Refresh tokens belong to clients, which need their secret besides to use one.
    """
    direct_only(caller, "created")
    account = caller.account
    client = None
    if params.client is not None:
        client = await clients.find(db, params.client)
        if client is None:
            raise _no_such_client()
    if caller.authorization is None:
        # A password login (HTTP Basic with the account's password).
        account.last_login = datetime.now(UTC)
    auth, token, refresh = await mint_authorization(
        db,
        account,
        description=params.description or (client.name if client is not None else ""),
        scope=params.scope or DEFAULT_SCOPE,
        expires_in=params.expires_in,
        client_id=client.id if client is not None else None,
    )
    return auth, token, refresh, client


def owned_by(account: Account) -> Select[Authorization]:
    return select(Authorization).where(Authorization.account_id == account.id)


async def get_own(db: AsyncSession, account: Account, ident: str) -> Authorization:
    """`{oauth_authorization_id}`: one of the caller's own, or `~` for the default API key.

    `~` is the API key rather than the authorization making the request: the CLI's
    logout fetches it precisely so that it can avoid revoking the API key.
    """
    if ident == "~":
        stmt = owned_by(account).where(Authorization.is_api_key.is_(True))
        auth = (
            await db.execute(stmt.order_by(Authorization.created_at).limit(1))
        ).scalar_one_or_none()
    else:
        uid = as_uuid(ident)
        auth = await db.get(Authorization, uid) if uid is not None else None
        if auth is not None and auth.account_id != account.id:
            auth = None
    if auth is None:
        raise NotFound("authorization")
    return auth


async def client_of(db: AsyncSession, auth: Authorization) -> OAuthClient | None:
    return await db.get(OAuthClient, auth.client_id) if auth.client_id is not None else None


async def _proven_client(db: AsyncSession, given: ClientCredentials) -> OAuthClient:
    client = await clients.find(db, given.id)
    if client is None or not clients.secret_matches(client, given.secret):
        # One answer for both: the secret is what proves the client.
        raise InvalidParams("Invalid client provided: no OAuth client has that id and secret.")
    return client


async def update(db: AsyncSession, auth: Authorization, changes: AuthorizationUpdate) -> None:
    """A new description; or the client this (direct) authorization is to belong to, for
    which the client's secret must be given: its tokens then stay as they are."""
    if changes.client is not None:
        client = await _proven_client(db, changes.client)
        if auth.is_api_key:
            raise Forbidden("The default API key can't be given to an OAuth client.")
        if auth.client_id not in (None, client.id):
            raise Forbidden("This authorization already belongs to another OAuth client.")
        auth.client_id = client.id
    if changes.description is not None:
        auth.description = changes.description
    await db.flush()


async def delete(db: AsyncSession, auth: Authorization) -> None:
    """Revokes every secret of the authorization at once: access and refresh tokens, and
    an authorization code not yet exchanged."""
    # Revoking the default API key could lock out an account that has no password;
    # regenerating it replaces a leaked key just as well.
    if auth.is_api_key:
        raise Forbidden(
            "The default API key can't be revoked; regenerate it instead "
            "(POST /oauth/authorizations/~/actions/regenerate-tokens)."
        )
    await db.delete(auth)
    await db.flush()


async def regenerate(
    db: AsyncSession, caller: Principal, auth: Authorization
) -> tuple[str, str | None]:
    """New tokens for `auth` (a client's too: its user may replace leaked ones)."""
    direct_only(caller, "regenerated")
    token, refresh = rotate_tokens(auth)
    await db.flush()
    return token, refresh
