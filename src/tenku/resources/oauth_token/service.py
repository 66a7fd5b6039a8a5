"""The token endpoint: an OAuth client trades an authorization code, or its refresh token,
for new tokens, proving itself with its secret; and access tokens are revoked one by one.

Every refusal of a code, a refresh token or a secret is the same 401, so that none of
them tells which part was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Authorization, OAuthClient
from tenku.ids import as_uuid
from tenku.resources.common import IdRef
from tenku.resources.oauth_authorization.schemas import TokenOut, seconds_left
from tenku.resources.oauth_authorization.tokens import revoke_access_token, rotate_tokens
from tenku.resources.oauth_client.service import secret_matches
from tenku.resources.oauth_token.schemas import (
    ClientSecretOut,
    GrantRefOut,
    OAuthTokenOut,
    TokenCreate,
)
from tenku.security import token_digest
from tenku.web.deps import Principal
from tenku.web.errors import InvalidParams, NotFound, Unauthorized

INVALID = "Invalid grant or client credentials."


@dataclass
class Issued:
    auth: Authorization
    client: OAuthClient
    token: str
    refresh: str
    grant: GrantRefOut


async def _client_of(
    db: AsyncSession, auth: Authorization | None, secret: str
) -> tuple[Authorization, OAuthClient]:
    client = None
    if auth is not None and auth.client_id is not None:
        client = await db.get(OAuthClient, auth.client_id)
    if auth is None or client is None or not secret_matches(client, secret):
        raise Unauthorized(INVALID)
    return auth, client


async def exchange(db: AsyncSession, params: TokenCreate) -> Issued | Unauthorized:
    """New tokens; or, for a code that was used before, the refusal to answer with once
    the authorization it gave is revoked (returned, not raised, so that the revocation
    commits)."""
    if params.grant.type == "authorization_code":
        return await _by_code(db, params)
    return await _by_refresh(db, params)


async def _by_code(db: AsyncSession, params: TokenCreate) -> Issued | Unauthorized:
    code = params.grant.code
    if not code:
        raise InvalidParams(
            "Invalid grant.code provided: required when grant.type is authorization_code."
        )
    found = (
        await db.execute(
            select(Authorization).where(Authorization.grant_code_hash == token_digest(code))
        )
    ).scalar_one_or_none()
    auth, client = await _client_of(db, found, params.client.secret)
    now = datetime.now(UTC)
    if auth.grant_used_at is not None:
        # RFC 6749 4.1.2: a code used twice may have been stolen; what it gave is revoked.
        await db.delete(auth)
        await db.flush()
        return Unauthorized(INVALID)
    expired = auth.grant_expires_at is None or auth.grant_expires_at <= now
    # Codes are bound to the redirect URI they were sent to: a client that moved its
    # redirect since cannot use the codes sent to the old one.
    if expired or auth.grant_redirect_uri != client.redirect_uri:
        raise Unauthorized(INVALID)
    # Claimed with a guarded update: of two exchanges of one code, one wins.
    claimed = await db.execute(
        update(Authorization)
        .where(Authorization.id == auth.id, Authorization.grant_used_at.is_(None))
        .values(grant_used_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Unauthorized(INVALID)
    token, refresh = rotate_tokens(auth)
    assert refresh is not None
    await db.flush()
    return Issued(auth, client, token, refresh, GrantRefOut(code=code, type="authorization_code"))


async def _by_refresh(db: AsyncSession, params: TokenCreate) -> Issued:
    if params.refresh_token is None or not params.refresh_token.token:
        raise InvalidParams(
            "Invalid refresh_token.token provided: required when grant.type is refresh_token."
        )
    digest = token_digest(params.refresh_token.token)
    found = (
        await db.execute(select(Authorization).where(Authorization.refresh_token_hash == digest))
    ).scalar_one_or_none()
    auth, client = await _client_of(db, found, params.client.secret)
    # Refresh tokens rotate: the one presented stops working with this exchange.
    claimed = await db.execute(
        update(Authorization)
        .where(Authorization.id == auth.id, Authorization.refresh_token_hash == digest)
        .values(refresh_token_hash=None)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Unauthorized(INVALID)
    token, refresh = rotate_tokens(auth)
    assert refresh is not None
    await db.flush()
    return Issued(auth, client, token, refresh, GrantRefOut(code="", type="refresh_token"))


def token_out(
    auth: Authorization,
    client: OAuthClient | None,
    grant: GrantRefOut,
    token: str | None = None,
    refresh: str | None = None,
) -> OAuthTokenOut:
    """The token resource: `token`/`refresh` as issued, or None for their redacted hints."""
    return OAuthTokenOut(
        access_token=TokenOut(
            expires_in=seconds_left(auth.access_token_expires_at),
            id=auth.access_token_id,
            token=token if token is not None else auth.access_token_hint or "",
        ),
        authorization=IdRef(id=auth.id),
        client=ClientSecretOut(secret=client.secret_hint) if client is not None else None,
        # The token is as new as the authorization's last change of tokens.
        created_at=auth.updated_at,
        grant=grant,
        id=auth.access_token_id,
        refresh_token=TokenOut(
            expires_in=None,
            id=auth.refresh_token_id or auth.id,
            token=refresh if refresh is not None else auth.refresh_token_hint or "",
        ),
        # The reference describes session:id as the token's own id; there are no sessions.
        session=IdRef(id=auth.access_token_id),
        updated_at=auth.updated_at,
        user=IdRef(id=auth.account_id),
    )


async def revocable(db: AsyncSession, caller: Principal, ident: str) -> Authorization:
    """The client authorization whose access token `ident` is, if the caller may revoke it:
    the token itself may (a client signing out), and so may its user with a global token.
    Direct authorizations are revoked whole (DELETE /oauth/authorizations/{id})."""
    uid = as_uuid(ident)
    auth = None
    if uid is not None:
        auth = (
            await db.execute(
                select(Authorization).where(
                    Authorization.access_token_id == uid,
                    Authorization.access_token_hash.is_not(None),
                    Authorization.client_id.is_not(None),
                )
            )
        ).scalar_one_or_none()
    itself = (
        auth is not None
        and caller.authorization is not None
        and (caller.authorization.id == auth.id)
    )
    if not itself:
        caller.require("global")
    if auth is None or auth.account_id != caller.account.id:
        raise NotFound("oauth_token", "Couldn't find that OAuth token.")
    return auth


async def revoke(db: AsyncSession, auth: Authorization) -> None:
    revoke_access_token(auth)
    await db.flush()


def obtained_by(auth: Authorization) -> GrantRefOut:
    """How the authorization was obtained: a code from the approval page, or directly
    (POST /oauth/authorizations with a client), after which only refreshes renew it.
    Codes are not kept, so none is shown."""
    kind = "authorization_code" if auth.grant_id is not None else "refresh_token"
    return GrantRefOut(code="", type=kind)
