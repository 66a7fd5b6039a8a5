from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import urlsplit

from pydantic import field_validator

from tenku.db.models import OAuthClient
from tenku.resources.common import In, Out
from tenku.web.render import Timestamp

MAX_NAME = 255
MAX_REDIRECT_URI = 2048
# Hosts a redirect may reach over plain http: this machine and the local network, as the
# CLI's own check allows (clients:create refuses other http URLs before sending them).
LOCAL_SUFFIXES = (".localhost", ".local")


class OAuthClientOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    ignores_delinquent: bool | None
    name: str
    redirect_uri: str
    # The secret itself when it was just made (create, rotate); else its redacted hint.
    secret: str
    updated_at: Timestamp

    @classmethod
    def of(cls, client: OAuthClient, secret: str | None = None) -> OAuthClientOut:
        return cls(
            created_at=client.created_at,
            id=client.id,
            ignores_delinquent=False,
            name=client.name,
            redirect_uri=client.redirect_uri,
            secret=secret if secret is not None else client.secret_hint,
            updated_at=client.updated_at,
        )


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


def _local(host: str) -> bool:
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _redirect_uri(value: str | None) -> str | None:
    """An absolute https URL (http for local hosts) without credentials or a fragment
    (RFC 6749 3.1.2), matched exactly when a client names it."""
    if value is None:
        return None
    if len(value) > MAX_REDIRECT_URI:
        raise ValueError(f"must be at most {MAX_REDIRECT_URI} characters")
    if not value.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise ValueError("must be an absolute https URL") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an absolute https URL")
    if "#" in value:
        raise ValueError("must not contain a fragment")
    if "@" in parts.netloc:
        raise ValueError("must not contain credentials")
    if parts.scheme == "http" and not _local(host):
        raise ValueError("must use https (plain http only for local addresses)")
    return value


class ClientCreate(In):
    name: str
    redirect_uri: str

    _names = field_validator("name")(_name)
    _redirects = field_validator("redirect_uri")(_redirect_uri)


class ClientUpdate(In):
    name: str | None = None
    redirect_uri: str | None = None

    _names = field_validator("name")(_name)
    _redirects = field_validator("redirect_uri")(_redirect_uri)
