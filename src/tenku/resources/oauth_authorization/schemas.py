from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import field_validator

from tenku.db.models import Account, Authorization, OAuthClient
from tenku.resources.common import In, Out
from tenku.resources.oauth_authorization.tokens import VALID_SCOPES
from tenku.web.render import Timestamp

# Keeps `now + expires_in` far from datetime's limits on every backend (~68 years).
MAX_EXPIRES_IN = 2**31 - 1


class TokenOut(Out):
    expires_in: int | None
    id: uuid.UUID
    token: str


class ClientOut(Out):
    id: uuid.UUID
    name: str
    redirect_uri: str


class GrantOut(Out):
    code: str
    expires_in: int
    id: uuid.UUID


class SessionOut(Out):
    id: uuid.UUID


class UserOut(Out):
    email: str
    full_name: str | None
    id: uuid.UUID


def seconds_left(expires_at: datetime | None) -> int | None:
    if expires_at is None:
        return None
    # Rounded up: a token reported as having 0 seconds left has really expired.
    return max(0, math.ceil((expires_at - datetime.now(UTC)).total_seconds()))


class AuthorizationOut(Out):
    access_token: TokenOut | None
    client: ClientOut | None = None
    created_at: Timestamp
    # Not in the reference, but `authorizations --json` sorts on it.
    description: str = ""
    grant: GrantOut | None = None
    id: uuid.UUID
    refresh_token: TokenOut | None
    scope: list[str]
    session: SessionOut | None = None
    updated_at: Timestamp
    user: UserOut

    @classmethod
    def of(
        cls,
        auth: Authorization,
        account: Account,
        token: str | None,
        refresh: str | None = None,
        client: OAuthClient | None = None,
    ) -> AuthorizationOut:
        """`token`/`refresh` are what to show: the secret itself, or None for its redacted
        hint. `client` is the OAuth client the authorization belongs to, if any."""
        access_out = None
        if auth.access_token_hash is not None:
            access_out = TokenOut(
                expires_in=seconds_left(auth.access_token_expires_at),
                id=auth.access_token_id,
                token=token if token is not None else auth.access_token_hint or "",
            )
        refresh_out = None
        if auth.refresh_token_id is not None and auth.refresh_token_hash is not None:
            refresh_out = TokenOut(
                expires_in=None,
                id=auth.refresh_token_id,
                token=refresh if refresh is not None else auth.refresh_token_hint or "",
            )
        client_out = None
        if client is not None:
            client_out = ClientOut(id=client.id, name=client.name, redirect_uri=client.redirect_uri)
        return cls(
            access_token=access_out,
            client=client_out,
            created_at=auth.created_at,
            description=auth.description or "",
            id=auth.id,
            refresh_token=refresh_out,
            scope=list(auth.scope),
            updated_at=auth.updated_at,
            user=UserOut(email=account.email, full_name=account.name, id=account.id),
        )


def _expires_in(value: Any) -> int | None:
    """Seconds as a JSON number or a numeric string (`authorizations:create -e` sends one)."""
    if value is None:
        return None
    seconds: int | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    if seconds is None or not 0 < seconds <= MAX_EXPIRES_IN:
        raise ValueError(
            f"must be a whole number of seconds between 1 and {MAX_EXPIRES_IN}, or null"
        )
    return seconds


def _scope(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("at least one scope is required")
    unknown = [s for s in value if s not in VALID_SCOPES]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} is not a valid scope "
            f"(valid scopes: {', '.join(sorted(VALID_SCOPES))})"
        )
    return list(dict.fromkeys(value))


class AuthorizationCreate(In):
    # The id of an OAuth client to authorize directly: the answer carries the access and
    # refresh tokens to give it (a refresh needs the client's secret).
    client: str | None = None
    description: str | None = None
    expires_in: int | None = None
    scope: list[str] | None = None

    _expires = field_validator("expires_in", mode="before")(_expires_in)
    _scopes = field_validator("scope")(_scope)


class ClientCredentials(In):
    id: str
    secret: str


class AuthorizationUpdate(In):
    # `authorizations:update --client-id --client-secret`: the client the authorization is
    # to belong to, proven by its secret.
    client: ClientCredentials | None = None
    description: str | None = None
