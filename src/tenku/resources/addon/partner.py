"""The Platform API for add-on partners: grant exchange and add-on-scoped tokens.

A partner receives a one-time grant code in the provision request, exchanges
it (with its client secret, by default the manifest's `api.password`) for an
access token valid 8 hours and a refresh token, and may then read and complete
that one add-on: `GET /addons/{id}`, `GET`/`PATCH /addons/{id}/config`,
`POST /addons/{id}/actions/provision|deprovision`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.addons.catalog import Catalog
from tenku.db.models import Addon, AddonToken
from tenku.resources.addon.schemas import PartnerTokenOut
from tenku.security import new_token, token_digest
from tenku.web.deps import Credentials, Principal, app_context, authenticate, get_db
from tenku.web.errors import BadRequest, Forbidden, RateLimited, Unauthorized

ACCESS_TTL = timedelta(hours=8)


@dataclass
class AddonCaller:
    """A user (with a principal) or an add-on partner (with the one add-on it may use)."""

    db: AsyncSession
    principal: Principal | None = None
    partner_addon_id: uuid.UUID | None = None

    def partner_only(self, addon: Addon) -> None:
        if self.partner_addon_id != addon.id:
            raise Forbidden("Only the add-on's provider can do that.")


def presented_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


async def _partner_addon(request: Request, token: str) -> uuid.UUID | None:
    # A short read of its own, like user authentication: the request's own
    # transaction must not be open while the rate limiter writes.
    async with app_context(request).db.session(write=False) as db, db.begin():
        row = (
            await db.execute(
                select(AddonToken.addon_id, AddonToken.expires_at).where(
                    AddonToken.token_hash == token_digest(token), AddonToken.kind == "access"
                )
            )
        ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= datetime.now(UTC)):
        return None
    found: uuid.UUID = row.addon_id
    return found


class _AddonCredentials(Credentials):
    """The partner token of an add-on, or else a user whose token grants `need`."""

    def __init__(self, need: str) -> None:
        self.need = need

    async def __call__(self, request: Request, db: AsyncSession = Depends(get_db)) -> AddonCaller:
        token = presented_token(request)
        addon_id = await _partner_addon(request, token) if token else None
        if addon_id is not None:
            allowed, remaining = await app_context(request).ratelimiter.consume(f"addon:{addon_id}")
            request.state.ratelimit_remaining = remaining
            if not allowed:
                raise RateLimited()
            return AddonCaller(db, partner_addon_id=addon_id)
        principal = await authenticate(request, db)
        principal.require(self.need)
        return AddonCaller(db, principal=principal)


def addon_caller(need: str) -> Any:
    """Dependency: the partner token of an add-on, or else a user whose token grants `need`."""
    return Depends(_AddonCredentials(need))


# A partner's add-on token, or a user's token with these scopes.
AddonReader = Annotated[AddonCaller, addon_caller("app:read")]
AddonWriter = Annotated[AddonCaller, addon_caller("app:write")]
SecretsReader = Annotated[AddonCaller, addon_caller("secrets:read")]
SecretsWriter = Annotated[AddonCaller, addon_caller("secrets:write")]


async def token_params(request: Request) -> dict[str, str]:
    """OAuth token requests come form-encoded (as at id.heroku.com), as JSON, or in the query."""
    params = dict(request.query_params.items())
    raw = await request.body()
    text = raw.decode("utf-8", "replace").strip()
    if text:
        data: Any = None
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        else:
            data = dict(parse_qsl(text))
        if isinstance(data, dict):
            params.update({k: str(v) for k, v in data.items() if isinstance(v, str | int)})
    return params


async def _mint(db: AsyncSession, addon_id: uuid.UUID, kind: str, ttl: timedelta | None) -> str:
    token = new_token()
    expires = datetime.now(UTC) + ttl if ttl is not None else None
    db.add(
        AddonToken(addon_id=addon_id, kind=kind, token_hash=token_digest(token), expires_at=expires)
    )
    await db.flush()
    return token


async def exchange(db: AsyncSession, catalog: Catalog, params: dict[str, str]) -> PartnerTokenOut:
    secret = params.get("client_secret", "")
    if not secret:
        raise Unauthorized("Invalid client credentials: `client_secret` is required.")
    grant_type = params.get("grant_type", "")
    if grant_type == "authorization_code":
        kind, presented = "grant", params.get("code", "")
    elif grant_type == "refresh_token":
        kind, presented = "refresh", params.get("refresh_token", "")
    else:
        raise BadRequest("`grant_type` must be authorization_code or refresh_token.")
    row = (
        await db.execute(
            select(AddonToken).where(
                AddonToken.token_hash == token_digest(presented), AddonToken.kind == kind
            )
        )
    ).scalar_one_or_none()
    expired = row is not None and row.expires_at is not None and row.expires_at <= datetime.now(UTC)
    addon = await db.get(Addon, row.addon_id) if row is not None and not expired else None
    spec = catalog.services.get(addon.service) if addon is not None else None
    expected = spec.partner.client_secret if spec is not None and spec.partner else None
    if addon is None or expected is None or not hmac.compare_digest(secret, expected):
        raise Unauthorized("Invalid grant or client credentials.")
    assert row is not None
    if kind == "grant":
        # Grants are single use.
        await db.execute(delete(AddonToken).where(AddonToken.id == row.id))
        refresh = await _mint(db, addon.id, "refresh", None)
    else:
        refresh = presented
    access = await _mint(db, addon.id, "access", ACCESS_TTL)
    return PartnerTokenOut(
        access_token=access,
        expires_in=int(ACCESS_TTL.total_seconds()),
        refresh_token=refresh,
        token_type="Bearer",
        user_id=addon.id,
    )
