"""Minting and revoking access tokens (API keys are authorizations too)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Authorization
from tenku.security import new_token, token_digest, token_hint

VALID_SCOPES = frozenset(
    {"global", "identity", "read", "write", "read-protected", "write-protected"}
)
# An access token an OAuth client holds lives eight hours, as Heroku's do; the client's
# refresh token (which only works with the client's secret) gets it a new one.
CLIENT_ACCESS_TTL = timedelta(hours=8)


async def mint_authorization(
    db: AsyncSession,
    account: Account,
    *,
    description: str = "",
    scope: list[str] | None = None,
    expires_in: int | None = None,
    is_api_key: bool = False,
    with_refresh: bool = False,
    client_id: uuid.UUID | None = None,
) -> tuple[Authorization, str, str | None]:
    """A new authorization: (row, access token, refresh token). Tokens exist only here.

    One for an OAuth client always has a refresh token, and its access token expires
    (after CLIENT_ACCESS_TTL unless `expires_in` says otherwise).
    """
    token = new_token()
    refresh = new_token() if with_refresh or client_id is not None else None
    ttl = timedelta(seconds=expires_in) if expires_in is not None else None
    if client_id is not None and ttl is None:
        ttl = CLIENT_ACCESS_TTL
    auth = Authorization(
        account_id=account.id,
        description=description,
        scope=list(scope or ["global"]),
        is_api_key=is_api_key,
        client_id=client_id,
        access_token_hash=token_digest(token),
        access_token_hint=token_hint(token),
        access_token_expires_at=datetime.now(UTC) + ttl if ttl is not None else None,
    )
    if refresh is not None:
        set_refresh(auth, refresh)
    db.add(auth)
    await db.flush()
    return auth, token, refresh


def set_refresh(auth: Authorization, refresh: str) -> None:
    auth.refresh_token_id = uuid.uuid4()
    auth.refresh_token_hash = token_digest(refresh)
    auth.refresh_token_hint = token_hint(refresh)


def rotate_tokens(auth: Authorization) -> tuple[str, str | None]:
    """New secrets for `auth`, replacing the old ones: (access token, refresh token or None).

    A direct authorization keeps its expiry: rotating a leaked token must not also extend
    its life. A client's gets a new access token of CLIENT_ACCESS_TTL, as a refresh gives,
    and a new refresh token; an authorization code not yet used is void.
    """
    token = new_token()
    auth.access_token_id = uuid.uuid4()
    auth.access_token_hash = token_digest(token)
    auth.access_token_hint = token_hint(token)
    refresh = None
    if auth.client_id is not None:
        auth.access_token_expires_at = datetime.now(UTC) + CLIENT_ACCESS_TTL
        if auth.grant_used_at is None:
            auth.grant_code_hash = None
    if auth.refresh_token_hash is not None or auth.client_id is not None:
        refresh = new_token()
        set_refresh(auth, refresh)
    return token, refresh


def revoke_access_token(auth: Authorization) -> None:
    """The access token stops working; a client's refresh token can still get a new one."""
    auth.access_token_hash = None
    auth.access_token_hint = None
    auth.access_token_expires_at = None
