"""The dyno side of the router: connections to web dynos, and a pool of them per dyno.

A connection carries one request at a time (HTTP/1.1 keep-alive, no pipelining). Once
its response is complete it goes back to its dyno's pool for the next request to that
dyno; idle ones are closed after `pool_idle`. Pools are per app and dyno, never per
address alone, so a connection opened for one app's dyno never carries another app's
request, whatever later listens on that port.

A pool also bounds the requests in flight to its dyno (`dyno_concurrency`); requests past
that wait in its queue, which the exchange bounds per app (H11).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections import defaultdict, deque
from typing import TYPE_CHECKING, cast

import httptools

from tenku.router.clock import Deadline
from tenku.router.codes import (
    H17,
    H25_CONTENT_LENGTH,
    H25_COOKIE,
    H25_HEADER,
    H25_STATUS_LINE,
    RouterError,
)
from tenku.router.headers import Fields
from tenku.router.options import (
    MAX_RESPONSE_HEAD,
    MAX_RESPONSE_HEADER,
    MAX_SET_COOKIE,
    MAX_STATUS_LINE,
    RouterOptions,
)
from tenku.router.routes import Backend
from tenku.router.wire import Chunk

if TYPE_CHECKING:
    from tenku.router.client import ClientConnection
    from tenku.router.exchange import Exchange
    from tenku.router.tunnel import Tunnel

logger = logging.getLogger("tenku.router")

NO_BODY_STATUSES = frozenset({204, 304})


class Restricted(Exception):
    """A response the router will not pass on (H25), raised from a parser callback."""

    def __init__(self, error: RouterError) -> None:
        super().__init__(error.desc)
        self.error = error


class _Unsolicited(Exception):
    pass


# What a dyno connection reads at once until a response's head is parsed: most heads
# whole, and little of a body.
HEAD_READ = 16 * 1024


class ReadBuffer:
    """The buffer every dyno connection of a router process reads into, one read at a time.

    A read is handed on as a view of it, without a copy. Once the read is dealt with, the
    buffer is read into again only if nothing it holds is still waiting to be written (a
    client that could not take it all at once); otherwise the next read gets a new one.
    """

    SIZE = 1024 * 1024

    def __init__(self) -> None:
        self._view: memoryview | None = None

    def get(self) -> memoryview:
        if self._view is None:
            self._view = memoryview(bytearray(self.SIZE))
        return self._view

    def done(self, client: ClientConnection | None) -> None:
        """The last read was dealt with; `client` is where it went, if anywhere."""
        if client is None:
            return
        transport = client.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            self._view = None


class Upstream(asyncio.BufferedProtocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.tunnel: Tunnel | None = None
        self.deadline = Deadline(pool.loop, self._idle_expired)
        # Whether it carried a request before the current one (a retry is then safe for some).
        self.reused = False
        self.closed = False
        self.reading_paused = False
        self._parser: httptools.HttpResponseParser | None = None
        self._spare: httptools.HttpResponseParser | None = None
        self._head_request = False
        self._reset()

    def _reset(self) -> None:
        self.received_any = False
        self.keep_alive = False
        self.complete = False
        self._head_done = False
        self._head_bytes = 0
        self._reason: list[bytes] = []
        self._fields = Fields()
        self._status = 0
        self._close_delimited = False
        # Body bytes still to come of a response with a Content-Length; once its head is
        # parsed they go to the client as they arrive, without the parser.
        self._remaining = 0
        self._bypass = False
        self._parsed_whole = False

    # --- use by an exchange -------------------------------------------------------------

    def begin(self, exchange: Exchange, *, head_request: bool) -> None:
        """Carry `exchange`'s request; its response events go to it."""
        self.exchange = exchange
        self._head_request = head_request
        parser, self._spare = self._spare, None
        # A parser that saw its last response to the end is ready for the next one.
        self._parser = parser or httptools.HttpResponseParser(self)
        self._reset()
        self.deadline.clear()

    def detach(self) -> None:
        if self._parsed_whole:
            self._spare = self._parser
        self.exchange = None
        self._parser = None
        self.resume()

    def write(self, data: Chunk) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, data: list[Chunk]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.writelines(data)

    def pause(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.deadline.cancel()
        if self.transport is not None and not self.closed:
            self.transport.close()

    # --- the connection -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Request heads are small writes the dyno should get at once.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline.cancel()
        if self.tunnel is not None:
            self.tunnel.close()
            return
        exchange = self.exchange
        if exchange is not None:
            if not self.complete and self._close_delimited and self._head_done:
                self._completed()
            else:
                exchange.upstream_lost(self.received_any)
        else:
            self.pool.forget(self)

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.dyno_writable(False)
        elif self.exchange is not None:
            self.exchange.upstream_writable(False)

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.dyno_writable(True)
        elif self.exchange is not None:
            self.exchange.upstream_writable(True)

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self.pool.pools.reader.get()
        if self._head_done or self.tunnel is not None:
            return view
        # Until the head is parsed, a read takes little more than a head. The parser hands
        # on whatever body it is fed as a new bytes object: a whole large body read with its
        # head was copied once more, into a fresh allocation. Left in the socket, the rest
        # of a sized body passes the parser by (see _pass_body).
        return view[:HEAD_READ]

    def buffer_updated(self, nbytes: int) -> None:
        reader = self.pool.pools.reader
        data = reader.get()[:nbytes]
        tunnel, exchange = self.tunnel, self.exchange
        try:
            self.data_received(data)
        finally:
            if tunnel is not None:
                reader.done(tunnel.client)
            elif exchange is not None:
                reader.done(exchange.client)

    def data_received(self, data: memoryview) -> None:
        if self.tunnel is not None:
            self.tunnel.from_dyno(data)
            return
        exchange, parser = self.exchange, self._parser
        if exchange is None or parser is None:
            # An idle connection has nothing to say; one that does cannot be trusted.
            self.close()
            return
        try:
            self._receive(exchange, parser, data)
        finally:
            # What the read produced for the client goes out in one write.
            exchange.flush()

    def _receive(
        self, exchange: Exchange, parser: httptools.HttpResponseParser, data: memoryview
    ) -> None:
        if self._bypass:
            self._pass_body(exchange, data)
            return
        self.received_any = True
        if not self._head_done:
            self._head_bytes += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            exchange.upgraded(data[int(upgrade.args[0]) :])
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Restricted):
                self._failed(exchange, cause.error)
            else:
                if not isinstance(cause, _Unsolicited):
                    logger.error("router response handling failed", exc_info=cause)
                self._failed(exchange, H17)
            return
        except httptools.HttpParserError as exc:
            self._failed(exchange, H25_CONTENT_LENGTH if "Content-Length" in str(exc) else H17)
            return
        if not self._head_done:
            if self._head_bytes > MAX_RESPONSE_HEAD:
                self._failed(exchange, H25_HEADER)
        elif self._remaining > 0 and not self.complete and self.exchange is exchange:
            self._bypass = True

    def _pass_body(self, exchange: Exchange, data: memoryview) -> None:
        left = self._remaining
        if len(data) > left:
            # More than the response holds: this connection cannot carry another request.
            self.keep_alive = False
            data = data[:left]
        self._remaining = left - len(data)
        exchange.response_body(data)
        if not self._remaining:
            self._completed()

    def _failed(self, exchange: Exchange, error: RouterError) -> None:
        if self.exchange is exchange and not self.complete:
            exchange.upstream_error(error)
        else:
            # Bytes after a complete response: nothing more from it can be trusted.
            self.close()

    # --- the parser's callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # A second response to one request.
            raise _Unsolicited

    def on_status(self, reason: bytes) -> None:
        self._reason.append(reason)
        if sum(map(len, self._reason)) > MAX_STATUS_LINE:
            raise Restricted(H25_STATUS_LINE)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(value) > MAX_RESPONSE_HEADER:
            raise Restricted(H25_HEADER)
        if len(value) > MAX_SET_COOKIE and name.lower() == b"set-cookie":
            raise Restricted(H25_COOKIE)
        self._fields.add(name, value)

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        assert self.exchange is not None
        status = self._parser.get_status_code()
        reason, fields = b"".join(self._reason), self._fields
        if status < 200 and status != 101:
            # Informational (100 Continue): passed on; the real answer follows.
            self._reason, self._fields = [], Fields()
            self.exchange.informational(status, reason, fields)
            return
        self._status = status
        self._head_done = True
        chunked = b"chunked" in fields.tokens(b"transfer-encoding")
        sized = b"content-length" in fields
        no_body = self._head_request or status in NO_BODY_STATUSES or status == 101
        self._close_delimited = not (chunked or sized or no_body)
        if sized and not (chunked or no_body):
            # One value: the parser refuses a response with two.
            self._remaining = int(fields.values(b"content-length")[0])
        version = self._parser.get_http_version()
        self.keep_alive = (
            version == "1.1"
            and b"close" not in fields.tokens(b"connection")
            and not self._close_delimited
            # A dyno that sends a body to HEAD anyway would poison the next request.
            and not self._head_request
        )
        self.exchange.response_head(status, reason, fields, chunked=chunked, sized=sized)
        if self._head_request and self.exchange is not None:
            self._completed()

    def on_body(self, body: bytes) -> None:
        if self._remaining:
            self._remaining -= len(body)
        if self.exchange is not None and not self.complete:
            self.exchange.response_body(body)

    def on_message_complete(self) -> None:
        if self._head_done and self._status != 101 and not self.complete:
            self._parsed_whole = not self._head_request
            self._completed()

    # --- internals ------------------------------------------------------------------

    def _completed(self) -> None:
        self.complete = True
        if self.exchange is not None:
            self.exchange.response_end()

    def _idle_expired(self) -> None:
        if self.exchange is None and self.tunnel is None:
            self.close()


class Pool:
    """The connections to one dyno of one app, and the requests waiting for one."""

    def __init__(self, pools: Pools, app_id: uuid.UUID, backend: Backend) -> None:
        self.pools = pools
        self.loop = pools.loop
        self.app_id = app_id
        self.backend = backend
        self.idle: list[Upstream] = []
        # Connections carrying a request, being opened, or promised to a waiter.
        self.busy = 0
        self.waiters: deque[asyncio.Future[Upstream | None]] = deque()

    def take(self) -> Upstream | None:
        """An idle connection, now busy; None when there is none."""
        while self.idle:
            upstream = self.idle.pop()
            if not upstream.closed:
                self.busy += 1
                upstream.reused = True
                upstream.deadline.clear()
                return upstream
        return None

    @property
    def has_room(self) -> bool:
        return self.busy + len(self.idle) < self.pools.options.dyno_concurrency

    async def connect(self, *, reserved: bool = False) -> Upstream:
        """A new connection; `reserved` when a waiter was handed the slot for it."""
        if not reserved:
            self.busy += 1
        backend = self.backend
        try:
            async with asyncio.timeout(self.pools.options.connect_timeout):
                _, upstream = await self.loop.create_connection(
                    lambda: Upstream(self), backend.host, backend.port
                )
        except BaseException:
            self._freed()
            raise
        return upstream

    async def wait(self) -> Upstream | None:
        """Wait for a free slot: a connection handed over, or None to open one in its place."""
        waiter: asyncio.Future[Upstream | None] = self.loop.create_future()
        self.waiters.append(waiter)
        waiting, app = self.pools.waiting, self.app_id.int
        waiting[app] += 1
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a slot just as it gave up: the next waiter gets it.
                self._give_back(waiter.result())
            raise
        finally:
            waiting[app] -= 1
            if not waiting[app]:
                del waiting[app]

    def release(self, upstream: Upstream, reusable: bool) -> None:
        """A request is done with `upstream`; kept for the next one when `reusable`."""
        upstream.detach()
        if reusable and not upstream.closed:
            waiter = self._next_waiter()
            if waiter is not None:
                upstream.reused = True
                waiter.set_result(upstream)
                return
            self.busy -= 1
            self.idle.append(upstream)
            upstream.deadline.set(self.loop.time() + self.pools.options.pool_idle)
            return
        upstream.close()
        self._freed()

    def detach(self, upstream: Upstream) -> None:
        """`upstream` leaves the pool for good (a WebSocket's tunnel owns it now)."""
        upstream.exchange = None
        self._freed()

    def forget(self, upstream: Upstream) -> None:
        """An idle connection closed by the dyno."""
        if upstream in self.idle:
            self.idle.remove(upstream)
            self.pools.tidy(self)

    def close(self) -> None:
        for upstream in self.idle:
            upstream.close()
        self.idle.clear()
        for waiter in self.waiters:
            waiter.cancel()
        self.waiters.clear()

    def _freed(self) -> None:
        self.busy -= 1
        waiter = self._next_waiter()
        if waiter is not None:
            # The freed slot is the waiter's: it opens a connection of its own.
            self.busy += 1
            waiter.set_result(None)
        self.pools.tidy(self)

    def _give_back(self, handed: Upstream | None) -> None:
        if handed is None:
            self._freed()
        else:
            self.release(handed, reusable=True)

    def _next_waiter(self) -> asyncio.Future[Upstream | None] | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                return waiter
        return None


class Pools:
    """Every pool of one router process, by app and dyno."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: RouterOptions) -> None:
        self.loop = loop
        self.options = options
        # Keyed by plain values: UUID and dataclass hashes are Python code, run per request.
        self._pools: dict[tuple[int, str, str, int], Pool] = {}
        self.reader = ReadBuffer()
        # Requests waiting in any of an app's queues.
        self.waiting: defaultdict[int, int] = defaultdict(int)

    def get(self, app_id: uuid.UUID, backend: Backend) -> Pool:
        key = (app_id.int, backend.dyno, backend.host, backend.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self, app_id, backend)
        return pool

    def tidy(self, pool: Pool) -> None:
        """Forget a pool with nothing left in it (its dyno may be long gone)."""
        if not (pool.busy or pool.idle or pool.waiters):
            backend = pool.backend
            key = (pool.app_id.int, backend.dyno, backend.host, backend.port)
            if self._pools.get(key) is pool:
                del self._pools[key]

    def close(self) -> None:
        for pool in list(self._pools.values()):
            pool.close()
        self._pools.clear()

    def __len__(self) -> int:
        return len(self._pools)
