"""The client side of the router: one protocol object per accepted connection.

httptools parses requests as bytes arrive. Each request becomes an `Exchange` (one task,
see exchange.py); requests pipelined behind one in flight wait their turn here, and their
bytes count against MAX_AHEAD, past which the socket is not read until the dyno catches
up. Requests the router will not route (unparseable, CONNECT, oversized) are answered
here and end the connection; no app is known for them, so nothing is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from tenku.router import wire
from tenku.router.clock import Deadline
from tenku.router.codes import H25_REQUEST_HEADER, H26, RouterError
from tenku.router.dispatch import route_key
from tenku.router.exchange import Exchange
from tenku.router.headers import Fields, appended, request_id
from tenku.router.logline import RequestRecord
from tenku.router.options import DRAIN_TIME, MAX_AHEAD, MAX_LINE, MAX_REQUEST_HEAD
from tenku.router.pages import bad_request
from tenku.router.request import Request
from tenku.router.wire import Chunk

if TYPE_CHECKING:
    from tenku.router.proxy import Router
    from tenku.router.tunnel import Tunnel

logger = logging.getLogger("tenku.router")

# What a request refused before routing is logged as, by the status it is answered with.
_REFUSED: dict[int, tuple[RouterError, str | None]] = {
    431: (H25_REQUEST_HEADER, None),
    400: (H26, "bad header"),
}


class _Reject(Exception):
    """Raised from a parser callback: answer `status` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ClientConnection(asyncio.Protocol):
    def __init__(self, router: Router, scheme: str) -> None:
        self.router = router
        self.scheme = scheme
        self.loop = router.loop
        self.transport: asyncio.Transport | None = None
        self.peer_ip = ""
        self.port = 0
        self.parser = httptools.HttpRequestParser(self)
        self.deadline = Deadline(self.loop, self._expired)
        # The exchange under way, and parsed requests waiting for it to finish.
        self.current: Exchange | None = None
        self.queue: deque[Request] = deque()
        # The request whose body the parser is reading.
        self.parsing: Request | None = None
        self._method: bytes | None = None
        self._url: list[bytes] = []
        self._fields = Fields()
        self._in_head = True
        # The head's size as parsed, and the bytes since the parser last finished a line
        # (httptools holds an unfinished header line whole, so that too is bounded).
        self._head_size = 0
        self._unparsed = 0
        # Bytes still to come of a request body with a Content-Length (see _pass_body).
        self._body_left = 0
        # Bytes after an upgrade request (a WebSocket's first frames), for its tunnel.
        self.ahead = bytearray()
        self.raw = False
        self.tunnel: Tunnel | None = None
        # A later request that cannot be served: answered once the current one is done.
        self._broken: int | None = None
        # The exchange made for the request whose head was just parsed.
        self._starting: Exchange | None = None
        self._pauses: set[str] = set()
        self.writable = True
        self.gone = False

    # --- the connection -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer_ip = str(peer[0]) if isinstance(peer, tuple) else ""
        self.port = int(local[1]) if isinstance(local, tuple) else 0
        self.transport.set_write_buffer_limits(high=self.router.client_write_buffer)
        if self.router.stopping:
            self.transport.abort()
            return
        self.router.connections.add(self)
        self.deadline.set(self.loop.time() + self.router.options.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.deadline.cancel()
        self.router.connections.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
        elif self.current is not None:
            self.current.client_gone()

    def eof_received(self) -> bool | None:
        # A client that stops sending has given up on its request (H27), as on Heroku.
        return None

    def pause_writing(self) -> None:
        self.writable = False
        if self.tunnel is not None:
            self.tunnel.client_writable(False)
        elif self.current is not None:
            self.current.client_writable(False)

    def resume_writing(self) -> None:
        self.writable = True
        if self.tunnel is not None:
            self.tunnel.client_writable(True)
        elif self.current is not None:
            self.current.client_writable(True)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_client(data)
            return
        if not self.raw and self._body_left:
            data = self._pass_body(data)
        if self.raw:
            self.ahead += data
        elif data:
            self._parse(data)
        self.held_changed()

    def _parse(self, data: bytes) -> None:
        if self._in_head:
            self._unparsed += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.raw = True
            self.ahead += data[int(upgrade.args[0]) :]
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Reject):
                logger.error("router request parsing failed", exc_info=cause)
            self._unparseable(cause.status if isinstance(cause, _Reject) else 400)
        except httptools.HttpParserError:
            self._unparseable(400)
        else:
            if self._in_head and self._unparsed > MAX_REQUEST_HEAD:
                self._unparseable(431)
            request = self.parsing
            if request is not None and not request.chunked and not self.raw:
                # The rest of a sized body goes on as it arrives, without the parser.
                self._body_left = request.content_length - request.received
        # Started once the parser is done with what arrived: a request whose body came
        # with its head goes to the dyno whole.
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.start()

    def _pass_body(self, data: bytes) -> bytes:
        """Hand on what belongs to the sized body being read; return what follows it."""
        request, left = self.parsing, self._body_left
        assert request is not None
        if len(data) < left:
            self._body_left = left - len(data)
            request.feed(data)
            return b""
        self._body_left = 0
        request.feed(data if len(data) == left else data[:left])
        # The parser still waits for the body it never saw: a new one for what follows.
        self.parser = httptools.HttpRequestParser(self)
        self.on_message_complete()
        return data[left:]

    # --- what the exchange asks of its client -------------------------------------------

    def write(self, data: Chunk) -> None:
        if self.transport is not None and not self.gone:
            self.transport.write(data)

    def writelines(self, data: list[Chunk]) -> None:
        if self.transport is not None and not self.gone:
            self.transport.writelines(data)

    def pause(self, reason: str) -> None:
        if not self._pauses and self.transport is not None and not self.gone:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        if not self._pauses and self.transport is not None and not self.gone:
            self.transport.resume_reading()

    def paused(self, reason: str) -> bool:
        return reason in self._pauses

    def held_changed(self) -> None:
        """Stop reading while too much is held for requests not yet with their dyno."""
        current = self.current
        if not (self.queue or self.ahead or self._pauses) and (
            current is None or not current.request.pending_bytes
        ):
            return
        held = len(self.ahead) + sum(r.pending_bytes for r in self.queue)
        if self.current is not None:
            held += self.current.request.pending_bytes
        if held > MAX_AHEAD:
            self.pause("ahead")
        else:
            self.resume("ahead")

    def exchange_done(self, exchange: Exchange, keep: bool) -> None:
        """The exchange's response is complete (or failed): on to the next request, or close."""
        if exchange is not self.current:
            return
        self.current = None
        if self.gone:
            return
        if not keep or self.raw:
            self.close()
            return
        if self.queue:
            # Not from within the callback that ended the last one: its dyno's
            # connection may still be reading.
            self.loop.call_soon(self._next)
            return
        if self._broken is not None:
            self._reject(self._broken)
            return
        self.deadline.set(self.loop.time() + self.router.options.idle_timeout)

    def start_tunnel(self, tunnel: Tunnel) -> bytes:
        """Carry raw bytes from now on; what the client sent ahead goes first."""
        self.tunnel = tunnel
        ahead, self.ahead = bytes(self.ahead), bytearray()
        self.resume("ahead")
        return ahead

    def close(self) -> None:
        """Close once what was written has gone out (or the drain deadline passed)."""
        if self.transport is None or self.gone:
            return
        self.transport.close()
        self.deadline.set(self.loop.time() + DRAIN_TIME)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- the parser's callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._method = None
        self._url = []
        self._fields = Fields()
        self._in_head = True
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        if not self._url:
            self._method = self.parser.get_method()
        self._url.append(url)
        self._unparsed = 0
        if sum(map(len, self._url)) > MAX_LINE:
            raise _Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 2
        if size > MAX_LINE:
            raise _Reject(431)
        self._head_size += size + 2
        self._unparsed = 0
        if self._head_size > MAX_REQUEST_HEAD:
            raise _Reject(431)
        self._fields.add(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._unparsed = 0
        parser = self.parser
        method = parser.get_method()
        if method == b"CONNECT":
            raise _Reject(405)
        version = parser.get_http_version()
        hosts = len(self._fields.values(b"host"))
        if version not in ("1.0", "1.1") or hosts > 1 or (version == "1.1" and not hosts):
            raise _Reject(400)
        request = Request(
            method,
            b"".join(self._url),
            self._fields,
            version,
            upgrade=parser.should_upgrade(),
            received_at=time.time(),
            started=self.loop.time(),
        )
        self.parsing = request
        if self.current is None and not self.queue and self._broken is None:
            self._starting = self._start(request)
        else:
            self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        if self.parsing is not None:
            self.parsing.feed(body)

    def on_message_complete(self) -> None:
        request, self.parsing = self.parsing, None
        self._in_head = True
        self._unparsed = 0
        if request is not None:
            request.end()

    # --- internals ------------------------------------------------------------------

    def _start(self, request: Request) -> Exchange:
        self.deadline.clear()
        exchange = self.current = Exchange(self.router, self, request)
        return exchange

    def _next(self) -> None:
        if self.current is None and self.queue and not self.gone:
            self._start(self.queue.popleft()).start()
            self.held_changed()

    def _unparseable(self, status: int) -> None:
        """The bytes stopped being HTTP (or broke a limit): nothing after them is read."""
        self.raw = True
        self.ahead = bytearray()
        self.pause("broken")
        current = self.current
        if current is not None and self.parsing is current.request:
            # Its own body is broken: the exchange answers for it.
            current.client_error(H26, "bad chunk")
        elif current is not None:
            self._broken = status
            self.queue.clear()
        else:
            self._log_refused(status)
            self._reject(status)

    def _log_refused(self, status: int) -> None:
        """The router line of a request refused before routing, when the head got as far
        as naming an app: H25 for one over the limits, H26 for one that is not HTTP."""
        hosts = self._fields.values(b"host")
        find = self.router.find
        if find is None or self._method is None or len(hosts) != 1 or status not in _REFUSED:
            return
        host = hosts[0].decode("latin-1").strip()
        try:
            target = find(route_key(host))
        except Exception:
            logger.exception("route lookup for %r failed", host)
            return
        if target is None:
            return
        error, cause = _REFUSED[status]
        record = RequestRecord(
            method=self._method.decode("ascii", "replace"),
            path=b"".join(self._url).decode("latin-1"),
            host=host,
            request_id=request_id(self._fields.values(b"x-request-id")),
            fwd=appended(self._fields.joined(b"x-forwarded-for"), self.peer_ip),
            protocol=self.scheme,
            error=error,
            cause=cause,
            status=status,
        )
        self.router.lines.add(target.app_id, record.line())

    def _reject(self, status: int) -> None:
        self.write(wire.page(status, bad_request(status, wire.reason(status)), close=True))
        self.close()

    def _expired(self) -> None:
        if self.transport is None or self.gone:
            return
        if self.transport.is_closing():
            # Its last bytes never went out: the client stopped reading.
            self.transport.abort()
        elif self.tunnel is not None:
            self.tunnel.expired()
        elif self.current is not None:
            self.current.expired()
        else:
            # Idle between requests (or not reading what it was sent).
            self.close()
