"""Which dyno a request goes to, and the connection it goes over.

A random `up` web dyno of the app, as on Heroku, preferring dynos with room: one that
refused or timed out is tried last for QUARANTINE seconds, a refused or timed-out
connection is retried on another dyno (H19, H21 after MAX_ATTEMPTS), and with session
affinity the client's own dyno comes first. A dyno at its concurrency limit is passed
over for one with room; when every dyno is busy the request waits in the queue of the
least loaded one, which holds at most `dyno_backlog` per web dyno of the app (H11).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import random
import uuid
from typing import TYPE_CHECKING

from tenku.router.codes import H11, H12, H19, H21, RouterError
from tenku.router.headers import Fields
from tenku.router.options import RouterOptions
from tenku.router.routes import Backend, Target
from tenku.router.upstream import Pool, Pools, Upstream

if TYPE_CHECKING:
    from tenku.router.exchange import Exchange

MAX_ATTEMPTS = 10
# A dyno that refused or timed out is tried last by later requests for this long.
QUARANTINE = 5.0
AFFINITY_COOKIE = b"heroku-session-affinity"


class Failure(Exception):
    """A request ends with one of the router's H errors."""

    def __init__(self, error: RouterError, cause: str | None = None) -> None:
        super().__init__(error.code)
        self.error = error
        self.cause = cause


def ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


@functools.lru_cache(maxsize=4096)
def route_key(host: str) -> str:
    """The Host header as the route table knows it: lowercased, without port or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def affinity_value(key: bytes, app_id: uuid.UUID, dyno: str) -> bytes:
    """The cookie value that sends a client of `app_id` to `dyno`: opaque and unforgeable."""
    mac = hmac.new(key, f"{app_id}/{dyno}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=")


def cookie_values(fields: Fields, name: bytes) -> list[bytes]:
    """Every value the request's Cookie headers give `name`."""
    found: list[bytes] = []
    for header in fields.values(b"cookie"):
        for pair in header.split(b";"):
            key, sep, value = pair.partition(b"=")
            if sep and key.strip() == name:
                found.append(value.strip().strip(b'"'))
    return found


class Dispatcher:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, options: RouterOptions, affinity_key: bytes
    ) -> None:
        self.loop = loop
        self.options = options
        self.affinity_key = affinity_key
        self.pools = Pools(loop, options)
        self.quarantine: dict[Backend, float] = {}

    def affinity(self, target: Target, backend: Backend) -> bytes:
        return affinity_value(self.affinity_key, target.app_id, backend.dyno)

    def kept(self, exchange: Exchange, target: Target) -> Upstream | None:
        """A kept connection to the dyno the request goes to, when one is idle."""
        held = self._held(exchange, target)
        if held or self.quarantine:
            backend = self._order(target, held)[0]
        else:
            backend = random.choice(target.backends)
        pool = self.pools.get(target.app_id, backend)
        upstream = pool.take()
        if upstream is not None:
            exchange.connected(upstream, pool, self.loop.time(), held)
        return upstream

    def _held(self, exchange: Exchange, target: Target) -> set[bytes]:
        """The affinity cookies the request carries, for an app that uses them."""
        if not target.affinity:
            return set()
        return set(cookie_values(exchange.request.fields, AFFINITY_COOKIE))

    async def connect(self, exchange: Exchange, target: Target, *, fresh: bool) -> Upstream:
        """A connection to one of the target's dynos, busy with `exchange` until released.

        `fresh`: a new connection, not a kept one (the request is being sent again).
        """
        begun = self.loop.time()
        held = (
            set(cookie_values(exchange.request.fields, AFFINITY_COOKIE))
            if target.affinity
            else set()
        )
        order = self._order(target, held)
        error = H21
        tried: set[Backend] = set()
        busy: list[Pool] = []
        while order:
            backend = order.pop(0)
            tried.add(backend)
            exchange.record.dyno = backend.dyno
            pool = self.pools.get(target.app_id, backend)
            upstream = None if fresh else pool.take()
            if upstream is None and pool.has_room:
                try:
                    upstream = await pool.connect()
                except TimeoutError:
                    error = H19
                    self._quarantine(backend)
                except OSError:
                    error = H21
                    self._quarantine(backend)
            if upstream is not None:
                exchange.connected(upstream, pool, begun, held)
                return upstream
            if not pool.has_room:
                if target.affinity and self.affinity(target, backend) in held:
                    # The client's dyno is busy, not gone: it waits for it.
                    busy = [pool]
                    break
                busy.append(pool)
            if not order and not busy and len(tried) < MAX_ATTEMPTS:
                # The app's set may have switched meanwhile (a restart, preboot): dynos
                # that came up since are worth the remaining attempts.
                again = await exchange.lookup()
                if again is not None:
                    order = [b for b in again.backends if b not in tried]
                    order = order[: MAX_ATTEMPTS - len(tried)]
        if busy:
            upstream, pool = await self._queue(exchange, target, busy)
            exchange.connected(upstream, pool, begun, held)
            return upstream
        exchange.record.connect_ms = ms(self.loop.time() - begun)
        raise Failure(error)

    async def _queue(
        self, exchange: Exchange, target: Target, busy: list[Pool]
    ) -> tuple[Upstream, Pool]:
        """Wait in the least loaded busy dyno's queue for a connection."""
        bound = self.options.dyno_backlog * max(1, len(target.backends))
        if self.pools.waiting[target.app_id.int] >= bound:
            raise Failure(H11)
        pool = min(busy, key=lambda p: len(p.waiters))
        exchange.record.dyno = pool.backend.dyno
        try:
            # The queue counts against the dyno's time to answer (H12).
            async with asyncio.timeout(self.options.first_byte_timeout):
                handed = await pool.wait()
        except TimeoutError as exc:
            raise Failure(H12) from exc
        if handed is not None:
            return handed, pool
        try:
            return await pool.connect(reserved=True), pool
        except TimeoutError as exc:
            self._quarantine(pool.backend)
            raise Failure(H19) from exc
        except OSError as exc:
            self._quarantine(pool.backend)
            raise Failure(H21) from exc

    def _order(self, target: Target, held: set[bytes]) -> list[Backend]:
        backends = target.backends
        quarantine = self.quarantine
        if quarantine:
            now = self.loop.time()
            for backend, until in list(quarantine.items()):
                if until <= now:
                    del quarantine[backend]
        if len(backends) == 1:
            return list(backends)
        fresh = [b for b in backends if b not in quarantine]
        stale = [b for b in backends if b in quarantine]
        random.shuffle(fresh)
        random.shuffle(stale)
        order = (fresh + stale)[:MAX_ATTEMPTS]
        if held:
            # The client's dyno first, while it is routable; any other otherwise.
            order.sort(key=lambda b: self.affinity(target, b) not in held)
        return order

    def _quarantine(self, backend: Backend) -> None:
        self.quarantine[backend] = self.loop.time() + QUARANTINE

    def close(self) -> None:
        self.pools.close()
