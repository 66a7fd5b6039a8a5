"""Header rewriting between client and dyno.

A proxy must not forward hop-by-hop headers (they describe one connection, and the
router frames its two connections independently), and the router adds the headers apps
use to see past it: who the client is, how it connected, and when the request arrived.

Headers are kept as received, in order and with their case, beside an index of their
values by lowercased name that the parser's callbacks fill as they go: every question
the router asks of a head is then one dict lookup, not a scan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

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
_NONE: list[bytes] = []
_NO_TOKENS: frozenset[bytes] = frozenset()


def split_tokens(header_values: Iterable[bytes]) -> set[bytes]:
    """The lowercased comma-separated tokens of a header such as Connection."""
    found: set[bytes] = set()
    for value in header_values:
        found.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return found


class Fields:
    """A message's headers, in order, and their values by lowercased name."""

    __slots__ = ("by_name", "raw")

    def __init__(self) -> None:
        self.raw: list[Header] = []
        self.by_name: dict[bytes, list[bytes]] = {}

    @classmethod
    def of(cls, headers: Iterable[Header]) -> Fields:
        fields = cls()
        for name, value in headers:
            fields.add(name, value)
        return fields

    def add(self, name: bytes, value: bytes) -> None:
        self.raw.append((name, value))
        key = name.lower()
        found = self.by_name.get(key)
        if found is None:
            self.by_name[key] = [value]
        else:
            found.append(value)

    def values(self, name: bytes) -> list[bytes]:
        """Every value of `name` (lowercase), in order."""
        return self.by_name.get(name, _NONE)

    def __contains__(self, name: bytes) -> bool:
        return name in self.by_name

    def joined(self, name: bytes) -> str:
        """All values of a list-valued header as one comma-separated string."""
        found = self.by_name.get(name)
        if found is None:
            return ""
        return ", ".join(v.decode("latin-1").strip() for v in found if v.strip())

    def tokens(self, name: bytes) -> frozenset[bytes] | set[bytes]:
        found = self.by_name.get(name)
        return split_tokens(found) if found else _NO_TOKENS

    def end_to_end(self, drop: frozenset[bytes] = HOP_BY_HOP) -> list[Header]:
        """The headers without those in `drop` (hop-by-hop ones, and any more the caller
        adds to them) and without those the Connection header names."""
        if b"connection" in self.by_name:
            drop = drop | self.tokens(b"connection")
        return [(k, v) for k, v in self.raw if k.lower() not in drop]


def request_id(given: list[bytes]) -> str:
    """The client's X-Request-Id when it is one Heroku would keep, else a new one."""
    if len(given) == 1:
        candidate = given[0].decode("latin-1")
        if _REQUEST_ID.fullmatch(candidate):
            return candidate
    return _ids.new()


class _RequestIds:
    """UUID v4 strings, from random bytes drawn from the OS a few kilobytes at a time
    (uuid.uuid4() makes a system call per id, and costs more than routing a request)."""

    _SIZE = 4096

    def __init__(self) -> None:
        self._random = b""
        self._at = 0

    def new(self) -> str:
        at = self._at
        if at + 16 > len(self._random):
            self._random, at = os.urandom(self._SIZE), 0
        self._at = at + 16
        raw = bytearray(self._random[at : at + 16])
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ids = _RequestIds()


def appended(existing: str, value: str) -> str:
    return f"{existing}, {value}" if existing else value
