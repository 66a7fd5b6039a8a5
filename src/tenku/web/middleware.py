"""Cross-cutting HTTP conventions as one pure ASGI middleware.

Request-Id, API versioning, method override, encoded slashes in path segments,
CORS, ETag/304, RateLimit-Remaining, and a last-resort 500 that still carries
the Request-Id. Kept as plain ASGI so streaming responses pass untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from tenku.ids import UUID_RE
from tenku.web.errors import ApiError, MissingVersion, NotAcceptable

log = logging.getLogger("tenku.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# Stands in for an encoded "/" inside one path segment until routing is done.
SLASH = "\x00"
VERSION_RE = re.compile(r"version\s*=\s*([^;,\s]+)")
CORS_ALLOW_HEADERS = (
    "Content-Type, Accept, Authorization, Cache-Control, If-None-Match, If-Modified-Since, "
    "Origin, Range, Request-Id, Heroku-Two-Factor-Code, X-Http-Method-Override"
)
CORS_EXPOSE_HEADERS = (
    "Cache-Control, Content-Language, Content-Type, Expires, Last-Modified, Pragma, ETag, "
    "Request-Id, RateLimit-Remaining, Content-Range, Next-Range, Accept-Ranges, "
    "Heroku-Two-Factor-Required, X-Confirmation-Required, X-Heroku-Warning"
)


def unversioned(path: str) -> bool:
    """Paths that are not Platform API calls (blob, git, log-stream URLs...)."""
    return (
        path.startswith(UNVERSIONED_PREFIXES)
        or path in UNVERSIONED_PATHS
        or path.endswith(".git")
        or ".git/" in path
    )


# Add-on partners exchange grants here as they would at Heroku's identity host; browsers
# open the OAuth approval page; testing tools read the OpenAPI document. None of them
# sends Heroku's Accept header.
UNVERSIONED_PATHS = frozenset({"/oauth/token", "/oauth/authorize", "/openapi.json"})
# Heroku's Data API (tenku.data_api) versions itself in its paths; the CLI sends the
# Platform API's Accept header there, other clients need not.
DATA_API_PREFIXES = ("/client/v11/", "/postgres/v0/", "/redis/v0/", "/data/")
UNVERSIONED_PREFIXES: tuple[str, ...] = ("/blobs/", "/streams/", "/healthz", *DATA_API_PREFIXES)


def check_version(accept: str) -> None:
    if "vnd.heroku+json" not in accept:
        raise MissingVersion()
    m = VERSION_RE.search(accept)
    if not m:
        raise MissingVersion()
    version = m.group(1).strip("\"'")
    if not (version == "3" or version.startswith("3.") or version == "edge"):
        raise NotAcceptable()


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


def _error_messages(err: ApiError, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    body = json.dumps(err.body()).encode()
    hdrs = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
        *((k.lower().encode(), v.encode()) for k, v in err.headers.items()),
    ]
    return [
        {"type": "http.response.start", "status": err.status, "headers": hdrs},
        {"type": "http.response.body", "body": body},
    ]


def _request_ids(scope: Scope) -> tuple[str, list[str]]:
    """A new Request-Id, and the caller's chain of UUIDs from Request-Id / X-Request-Id."""
    request_id = str(uuid.uuid4())
    incoming = _header(scope, b"request-id") or _header(scope, b"x-request-id") or ""
    chain = [i.strip() for i in incoming.split(",") if UUID_RE.match(i.strip())]
    state = scope.setdefault("state", {})
    state["request_id"] = request_id
    state["request_id_chain"] = chain
    return request_id, chain


def _rewrite(scope: Scope) -> None:
    """X-Http-Method-Override on POST, and `%2F` kept inside its path segment."""
    override = _header(scope, b"x-http-method-override")
    if scope["method"] == "POST" and override:
        scope["method"] = override.upper()
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path and b"%2f" in raw_path.lower():
        raw = raw_path.decode("latin-1").split("?", 1)[0]
        scope["path"] = unquote(re.sub("%2[fF]", SLASH, raw))


def _base_headers(request_id: str, chain: list[str], origin: str | None) -> Headers:
    # Our id first, then the caller's chain (the CLI tracks and de-duplicates them).
    echoed = ",".join([request_id, *chain[:150]])
    headers: Headers = [(b"request-id", echoed.encode())]
    if origin:
        headers += [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
        ]
    return headers


async def _preflight(send: Send, base_headers: Headers) -> None:
    headers = [
        *base_headers,
        (b"access-control-max-age", b"1728000"),
        (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


# From this size on a body's ETag is worked out on another thread (half a millisecond for
# a 1,000-app page; a hop to a thread costs tens of microseconds).
_HASH_ASIDE = 256 * 1024


def _etag(body: bytes) -> str:
    # SHA-256, cut to 128 bits: where the CPU has SHA instructions (these machines do),
    # over twice as fast as MD5 on a 1,000-app page; and a stronger validator.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class _Finisher:
    """Wraps `send`: adds the common headers, and an ETag (or a 304) to whole GET bodies."""

    def __init__(self, scope: Scope, send: Send, request_id: str, base_headers: Headers) -> None:
        self.scope = scope
        self.send = send
        self.request_id = request_id
        self.base_headers = base_headers
        self.is_get = scope["method"] in ("GET", "HEAD")
        self.if_none_match = _header(scope, b"if-none-match") if self.is_get else None
        self.started = False
        self.pending_start: Message | None = None
        self.buffered: list[bytes] = []

    async def __call__(self, msg: Message) -> None:
        if msg["type"] == "http.response.start":
            await self._start(msg)
        elif self.pending_start is None:
            await self.send(msg)
        else:
            await self._body(msg)

    async def _start(self, msg: Message) -> None:
        self.started = True
        headers = [*msg.get("headers", []), *self.base_headers]
        remaining = self.scope["state"].get("ratelimit_remaining")
        if remaining is not None:
            headers.append((b"ratelimit-remaining", str(remaining).encode()))
        msg["headers"] = headers
        status = msg["status"]
        if status >= 500:
            log.error(
                "request_id=%s status=%s path=%s", self.request_id, status, self.scope["path"]
            )
        if self.is_get and status in (200, 206):
            self.pending_start = msg
            return
        await self.send(msg)

    async def _body(self, msg: Message) -> None:
        assert self.pending_start is not None
        self.buffered.append(msg.get("body", b""))
        start = self.pending_start
        if msg.get("more_body"):
            # A stream (log session, build output): no ETag, pass it on as is.
            if len(self.buffered) == 1:
                self.pending_start = None
                await self.send(start)
                await self.send({**msg, "body": self.buffered.pop()})
            return
        body = b"".join(self.buffered)
        self.pending_start = None
        if len(body) < _HASH_ASIDE:
            etag = _etag(body)
        else:
            # hashlib lets go of the interpreter over a long body: hashed on another
            # thread, it leaves the event loop to the other requests meanwhile.
            etag = await asyncio.to_thread(_etag, body)
        start["headers"].append((b"etag", etag.encode()))
        if self.if_none_match and etag in [t.strip() for t in self.if_none_match.split(",")]:
            start["status"] = 304
            start["headers"] = [
                (k, v) for k, v in start["headers"] if k not in (b"content-length", b"content-type")
            ]
            body = b""
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


class ConventionsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, chain = _request_ids(scope)
        _rewrite(scope)
        origin = _header(scope, b"origin")
        base_headers = _base_headers(request_id, chain, origin)
        if origin and scope["method"] == "OPTIONS":
            await _preflight(send, base_headers)
            return
        if not unversioned(scope["path"]):
            try:
                check_version(_header(scope, b"accept") or "")
            except ApiError as err:
                for msg in _error_messages(err, base_headers):
                    await send(msg)
                return
        finisher = _Finisher(scope, send, request_id, base_headers)
        try:
            await self.app(scope, receive, finisher)
        except Exception:
            log.exception("request_id=%s unhandled error on %s", request_id, scope["path"])
            if finisher.started:
                raise
            for msg in _error_messages(ApiError(), base_headers):
                await send(msg)
