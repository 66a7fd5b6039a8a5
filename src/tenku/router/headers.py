"""Header rewriting between client and dyno.

A proxy must not forward hop-by-hop headers (they describe one connection, and the
router's two connections are framed independently by h11), and the router adds the
headers apps use to see past it: who the client is, how it connected, and when the
request arrived.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1, plus the non-standard ones proxies still meet.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Set by the router on every request to a dyno; a client's own values are replaced or
# extended, never passed through as they are.
ROUTER_SET = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-request-id",
        b"x-request-start",
        b"via",
        b"connect-time",
        b"total-route-time",
    }
)

VIA = "1.1 vegur"
_REQUEST_ID = re.compile(r"[A-Za-z0-9+/=-]{20,200}")


def values(headers: Iterable[Header], name: bytes) -> list[bytes]:
    """Every value of `name` (lowercase), in order."""
    return [value for key, value in headers if key.lower() == name]


def joined(headers: Iterable[Header], name: bytes) -> str:
    """All values of a list-valued header as one comma-separated string."""
    return ", ".join(v.decode("latin-1").strip() for v in values(headers, name) if v.strip())


def tokens(headers: Iterable[Header], name: bytes) -> set[bytes]:
    """The lowercased comma-separated tokens of a header such as Connection."""
    found: set[bytes] = set()
    for value in values(headers, name):
        found.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return found


def end_to_end(headers: Sequence[Header]) -> list[Header]:
    """`headers` without hop-by-hop ones, including those the Connection header names."""
    dropped = HOP_BY_HOP | tokens(headers, b"connection")
    return [(k, v) for k, v in headers if k.lower() not in dropped]


def is_upgrade(headers: Sequence[Header]) -> bool:
    return b"upgrade" in tokens(headers, b"connection") and bool(values(headers, b"upgrade"))


def request_id(headers: Sequence[Header]) -> str:
    """The client's X-Request-Id when it is one Heroku would keep, else a new one."""
    given = values(headers, b"x-request-id")
    if len(given) == 1:
        candidate = given[0].decode("latin-1")
        if _REQUEST_ID.fullmatch(candidate):
            return candidate
    return str(uuid.uuid4())


def appended(existing: str, value: str) -> str:
    return f"{existing}, {value}" if existing else value
