from __future__ import annotations

import uuid
from typing import Literal

from tenku.resources.common import IdRef, In, Out
from tenku.resources.oauth_authorization.schemas import TokenOut
from tenku.web.render import Timestamp


class ClientSecretIn(In):
    secret: str


class GrantIn(In):
    # Required with `authorization_code`: the code the approval page's redirect carried.
    code: str | None = None
    type: Literal["authorization_code", "refresh_token"]


class RefreshTokenIn(In):
    token: str


class TokenCreate(In):
    client: ClientSecretIn
    grant: GrantIn
    # Required with `refresh_token`.
    refresh_token: RefreshTokenIn | None = None


class ClientSecretOut(Out):
    # Redacted: the client sent it, and answers carry no secret but the new tokens.
    secret: str


class GrantRefOut(Out):
    code: str
    type: str


class OAuthTokenOut(Out):
    access_token: TokenOut
    authorization: IdRef
    client: ClientSecretOut | None
    created_at: Timestamp
    grant: GrantRefOut
    id: uuid.UUID
    refresh_token: TokenOut
    session: IdRef
    updated_at: Timestamp
    user: IdRef
