from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Authorization
from tenku.ids import as_uuid
from tenku.resources.oauth_authorization.schemas import AuthorizationCreate, AuthorizationUpdate
from tenku.resources.oauth_authorization.tokens import mint_authorization, rotate_tokens
from tenku.web.errors import Forbidden, InvalidParams, NotFound

DEFAULT_SCOPE = ["global"]


def _no_clients(client: object) -> None:
    # OAuth clients do not exist on this server yet; once they do, look the client up here.
    if client is not None:
        raise InvalidParams("Invalid client provided: couldn't find that OAuth client.")


async def create(
    db: AsyncSession, account: Account, params: AuthorizationCreate, by_password: bool
) -> tuple[Authorization, str, str | None]:
    """A direct authorization: (row, access token, refresh token).

    Direct authorizations get no refresh token: their access token can already mint
    fresh authorizations, so a second long-lived secret would only add exposure.
    Refresh tokens belong to the client (web) flow, which is why regenerating one
    that has a refresh token rotates it too.
    """
    _no_clients(params.client)
    if by_password:
        account.last_login = datetime.now(UTC)
    return await mint_authorization(
        db,
        account,
        description=params.description or "",
        scope=params.scope or DEFAULT_SCOPE,
        expires_in=params.expires_in,
    )


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


async def update(db: AsyncSession, auth: Authorization, changes: AuthorizationUpdate) -> None:
    _no_clients(changes.client)
    if changes.description is not None:
        auth.description = changes.description
    await db.flush()


async def delete(db: AsyncSession, auth: Authorization) -> None:
    # Revoking the default API key could lock out an account that has no password;
    # regenerating it replaces a leaked key just as well.
    if auth.is_api_key:
        raise Forbidden(
            "The default API key can't be revoked; regenerate it instead "
            "(POST /oauth/authorizations/~/actions/regenerate-tokens)."
        )
    await db.delete(auth)
    await db.flush()


async def regenerate(db: AsyncSession, auth: Authorization) -> tuple[str, str | None]:
    token, refresh = rotate_tokens(auth)
    await db.flush()
    return token, refresh
