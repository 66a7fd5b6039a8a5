from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from tenku.db.models import LogDrain
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp

SYSLOG_SCHEMES = ("syslog", "syslog+tls")
SCHEMES = (*SYSLOG_SCHEMES, "https", "http")
MAX_PORT = 65535


def check_url(value: str) -> str:
    url = value.strip()
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL") from exc
    if parts.scheme not in SCHEMES:
        raise ValueError("the URL must start with syslog://, syslog+tls://, https:// or http://")
    if not parts.hostname:
        raise ValueError("the URL must name a host")
    if parts.scheme in SYSLOG_SCHEMES and port is None:
        raise ValueError("a syslog URL must include a port")
    if port is not None and not 0 < port <= MAX_PORT:
        raise ValueError("the port must be between 1 and 65535")
    return url


class DrainExtension(Out):
    drain_id: uuid.UUID


class LogDrainOut(Out):
    addon: Ref | None
    created_at: Timestamp
    id: uuid.UUID
    token: str
    updated_at: Timestamp
    url: str
    # Only with `?extended=true`, as `heroku drains --extended` asks.
    extended: DrainExtension | None = Field(default=None, exclude_if=lambda v: v is None)

    @classmethod
    def of(cls, drain: LogDrain, extended: bool = False) -> LogDrainOut:
        return cls(
            # Add-ons cannot be provisioned yet, so no drain belongs to one.
            addon=None,
            created_at=drain.created_at,
            id=drain.id,
            token=drain.token,
            updated_at=drain.updated_at,
            url=drain.url,
            extended=DrainExtension(drain_id=drain.id) if extended else None,
        )


class LogDrainCreate(In):
    url: str = Field(min_length=1, max_length=4096)

    _url = field_validator("url")(check_url)
