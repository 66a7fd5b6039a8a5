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


async def mint_authorization(
    db: AsyncSession,
    account: Account,
    *,
    description: str = "",
    scope: list[str] | None = None,
    expires_in: int | None = None,
    is_api_key: bool = False,
    with_refresh: bool = False,
) -> tuple[Authorization, str, str | None]:
    """A new authorization: (row, access token, refresh token). Tokens exist only here."""
    token = new_token()
    refresh = new_token() if with_refresh else None
    auth = Authorization(
        account_id=account.id,
        description=description,
        scope=list(scope or ["global"]),
        is_api_key=is_api_key,
        access_token_hash=token_digest(token),
        access_token_hint=token_hint(token),
        access_token_expires_at=(
            datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in is not None else None
        ),
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

    The expiry is kept: rotating a leaked token must not also extend its life.
    """
    token = new_token()
    auth.access_token_id = uuid.uuid4()
    auth.access_token_hash = token_digest(token)
    auth.access_token_hint = token_hint(token)
    refresh = None
    if auth.refresh_token_hash is not None:
        refresh = new_token()
        set_refresh(auth, refresh)
    return token, refresh
