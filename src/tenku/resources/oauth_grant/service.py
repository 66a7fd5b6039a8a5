"""The authorization-code flow's approval: what a client asks for, and the code it gets.

A request names the client (`client_id`), `response_type=code`, the scopes and an opaque
`state`; `redirect_uri`, when given, must be the client's own exactly. Problems with the
client or its redirect are shown on the page (nobody is sent to an unverified address,
RFC 6749 4.1.2.1); the others go back to the client as `error=`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Authorization, OAuthClient
from tenku.resources.oauth_authorization.tokens import VALID_SCOPES
from tenku.resources.oauth_client.service import find
from tenku.security import GRANT_CODE_PREFIX, new_token, token_digest

# A code travels in one redirect and is exchanged at once: five minutes is ample (RFC 6749
# 4.1.2 says ten at most), and it works once.
GRANT_TTL = timedelta(minutes=5)
# Without a scope, the least a client can ask for (RFC 6749 3.3 allows a default).
DEFAULT_SCOPE = "identity"
MAX_STATE = 1024
FIELDS = ("client_id", "response_type", "scope", "state", "redirect_uri")
SCOPE_SEPARATORS = re.compile(r"[\s,]+")

# What each scope lets a client do, as the page says it (tenku.web.deps.SCOPE_GRANTS).
SCOPE_TEXT = {
    "identity": "read your email address and account details",
    "read": "read your apps and what they hold, except config vars and other secrets",
    "write": "read and change your apps and what they hold, except config vars and secrets",
    "read-protected": "read your apps and what they hold, config vars included",
    "write-protected": "read and change your apps and what they hold, config vars included",
    "global": "do anything you can: your account, every app and its secrets, your tokens",
}


class PageError(Exception):
    """A request the page refuses by itself, redirecting nowhere."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each parameter's value; the flow's own may be given once only (RFC 6749 3.1)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values and name in (*FIELDS, "csrf_token", "decision"):
            raise PageError(f"The parameter {name} was given more than once.")
        values.setdefault(name, value)
    return values


@dataclass
class Asked:
    client: OAuthClient
    response_type: str
    scope: str
    scopes: list[str]
    state: str | None
    redirect_uri: str | None

    def problem(self) -> tuple[str, str] | None:
        """(error, description) to send back to the client, if its request is wrong."""
        if self.response_type != "code":
            return "unsupported_response_type", "Only response_type=code is supported."
        unknown = [s for s in self.scopes if s not in VALID_SCOPES]
        if unknown or not self.scopes:
            return "invalid_scope", f"Unknown scope: {', '.join(unknown) or '(none)'}."
        return None

    def back(self, **params: str) -> str:
        """The client's redirect URI with `params` (and the state) added to its query."""
        if self.state is not None:
            params["state"] = self.state
        parts = urlsplit(self.client.redirect_uri)
        extra = urlencode(params)
        query = f"{parts.query}&{extra}" if parts.query else extra
        return urlunsplit(parts._replace(query=query))

    def hidden(self) -> list[tuple[str, str]]:
        """The request's parameters, carried through the form."""
        fields = [
            ("client_id", str(self.client.id)),
            ("response_type", self.response_type),
            ("scope", self.scope),
        ]
        if self.state is not None:
            fields.append(("state", self.state))
        if self.redirect_uri is not None:
            fields.append(("redirect_uri", self.redirect_uri))
        return fields

    def described_scopes(self) -> list[dict[str, str]]:
        return [{"name": s, "description": SCOPE_TEXT.get(s, s)} for s in self.scopes]

    def redirect_origin(self) -> str:
        parts = urlsplit(self.client.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}"


async def read(db: AsyncSession, values: dict[str, str]) -> Asked:
    client_id = values.get("client_id", "")
    client = await find(db, client_id) if client_id else None
    if client is None:
        raise PageError("There is no OAuth client with that client_id.")
    given = values.get("redirect_uri")
    if given is not None and given != client.redirect_uri:
        raise PageError("The redirect_uri is not the one registered for this client.")
    state = values.get("state")
    if state is not None and len(state) > MAX_STATE:
        raise PageError(f"The state parameter is longer than {MAX_STATE} characters.")
    scope = values.get("scope", "").strip() or DEFAULT_SCOPE
    scopes = list(dict.fromkeys(s for s in SCOPE_SEPARATORS.split(scope) if s))
    return Asked(client, values.get("response_type", ""), scope, scopes, state, given)


async def approve(db: AsyncSession, account: Account, asked: Asked) -> str:
    """A new authorization of the client, holding no token yet, and the code for it.

    The code is kept as a digest with the redirect URI it goes to; the client's secret
    and that same redirect URI must come with it (POST /oauth/tokens).
    """
    now = datetime.now(UTC)
    account.last_login = now
    # Approvals of this client whose code was never exchanged: nothing holds them.
    stale = await db.execute(
        select(Authorization).where(
            Authorization.account_id == account.id,
            Authorization.client_id == asked.client.id,
            Authorization.access_token_hash.is_(None),
            Authorization.refresh_token_hash.is_(None),
            Authorization.grant_expires_at < now,
        )
    )
    for old in stale.scalars():
        await db.delete(old)
    code = new_token(GRANT_CODE_PREFIX)
    db.add(
        Authorization(
            account_id=account.id,
            client_id=asked.client.id,
            description=asked.client.name,
            scope=asked.scopes,
            access_token_hash=None,
            access_token_hint=None,
            grant_id=uuid.uuid4(),
            grant_code_hash=token_digest(code),
            grant_redirect_uri=asked.client.redirect_uri,
            grant_expires_at=now + GRANT_TTL,
        )
    )
    await db.flush()
    return code
