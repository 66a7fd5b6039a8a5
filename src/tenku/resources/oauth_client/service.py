from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterable

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Authorization, OAuthClient
from tenku.ids import as_uuid
from tenku.resources.oauth_client.schemas import ClientCreate, ClientUpdate
from tenku.security import CLIENT_SECRET_PREFIX, new_token, token_digest, token_hint
from tenku.web.errors import NotFound


def client_not_found() -> NotFound:
    return NotFound("oauth_client", "Couldn't find that OAuth client.")


def _set_secret(client: OAuthClient) -> str:
    secret = new_token(CLIENT_SECRET_PREFIX)
    client.secret_hash = token_digest(secret)
    client.secret_hint = token_hint(secret)
    return secret


def secret_matches(client: OAuthClient, secret: str) -> bool:
    return hmac.compare_digest(client.secret_hash, token_digest(secret))


def owned_by(account: Account) -> Select[OAuthClient]:
    return select(OAuthClient).where(OAuthClient.account_id == account.id)


async def get_own(db: AsyncSession, account: Account, ident: str) -> OAuthClient:
    """One of the caller's own clients; anyone else's is not found."""
    uid = as_uuid(ident)
    client = await db.get(OAuthClient, uid) if uid is not None else None
    if client is None or client.account_id != account.id:
        raise client_not_found()
    return client


async def find(db: AsyncSession, ident: str) -> OAuthClient | None:
    """Any user's client, by id: users authorize clients others registered."""
    uid = as_uuid(ident)
    return await db.get(OAuthClient, uid) if uid is not None else None


async def by_ids(db: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, OAuthClient]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(OAuthClient).where(OAuthClient.id.in_(wanted)))
    return {client.id: client for client in rows.scalars()}


async def create(
    db: AsyncSession, account: Account, params: ClientCreate
) -> tuple[OAuthClient, str]:
    """A new client and its secret, which exists in clear only in this answer."""
    client = OAuthClient(account_id=account.id, name=params.name, redirect_uri=params.redirect_uri)
    secret = _set_secret(client)
    db.add(client)
    await db.flush()
    return client, secret


async def update(db: AsyncSession, client: OAuthClient, changes: ClientUpdate) -> None:
    """A new redirect URI voids the codes issued for the old one (they are bound to it)."""
    if changes.name is not None:
        client.name = changes.name
    if changes.redirect_uri is not None:
        client.redirect_uri = changes.redirect_uri
    await db.flush()


async def delete_client(db: AsyncSession, client: OAuthClient) -> None:
    """The client goes, and every authorization users gave it: its tokens stop working."""
    # One statement moves the auth generation (workers drop the tokens they keep); the
    # foreign key's cascade would remove the rows too, but silently.
    await db.execute(delete(Authorization).where(Authorization.client_id == client.id))
    await db.delete(client)
    await db.flush()


async def rotate(db: AsyncSession, client: OAuthClient) -> str:
    """A new secret; the old one stops working at once. Authorizations stay: their refresh
    tokens and pending codes now need the new secret."""
    secret = _set_secret(client)
    await db.flush()
    return secret
