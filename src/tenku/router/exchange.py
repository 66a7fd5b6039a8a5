"""One request through the router: its app, its dyno, its answer and its log line.

Most requests never need a task: when the route table answers from memory and the chosen
dyno has a kept connection idle, the request head goes out from the client's parser
callback, and everything after it is driven by the two connections' callbacks: body
chunks go to the dyno as the client's parser yields them, response chunks go to the
client as the dyno's parser yields them (gathered into one write per read), each side
pausing the other when its buffers fill. Anything that has to wait (a lookup that does,
a booting app, a new connection, a dyno's queue, draining a body before an error page)
runs in a task of the exchange's own.

Timeouts are one deadline on the client connection, whose meaning depends on where the
request is: H12 waiting for the first byte, H15 or H28 when nothing moves.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

from tenku.router import pages, wire
from tenku.router.codes import (
    H10,
    H12,
    H13,
    H14,
    H15,
    H17,
    H18,
    H20,
    H22,
    H26_EXPECT,
    H27,
    H28,
    H80,
    H81,
    H99,
    RouterError,
)
from tenku.router.dispatch import AFFINITY_COOKIE, Failure, ms, route_key
from tenku.router.headers import HOP_BY_HOP, ROUTER_SET, VIA, Fields, appended, request_id
from tenku.router.logline import RequestRecord
from tenku.router.options import DRAIN_LIMIT, DRAIN_TIME
from tenku.router.routes import Target
from tenku.router.tunnel import Tunnel
from tenku.router.wire import Chunk

if TYPE_CHECKING:
    from tenku.router.client import ClientConnection
    from tenku.router.proxy import Router
    from tenku.router.request import Request
    from tenku.router.upstream import Pool, Upstream

logger = logging.getLogger("tenku.router")

# How often a request held for a booting app asks the route table again.
BOOT_POLL = 0.2
# Heroku's session affinity cookie lasts a day, refreshed whenever its dyno goes away.
AFFINITY_MAX_AGE = 86400

# How the response goes to the client: as the dyno sized it, chunked by the router,
# delimited by closing the connection (HTTP/1.0 clients), or without a body.
Framing = Literal["length", "chunked", "close", "none"]

# Headers not passed on as they came, besides hop-by-hop ones: on requests, those the
# router sets (and a chunked body's Content-Length, as it is chunked again); on responses,
# Via (extended) and a chunked body's Content-Length.
_REQUEST_DROP = HOP_BY_HOP | ROUTER_SET
_CHUNKED_DROP = _REQUEST_DROP | {b"content-length"}
_VIA = HOP_BY_HOP | {b"via"}
_VIA_AND_LENGTH = _VIA | {b"content-length"}
_VIA_VALUE = VIA.encode()
# The headers the router sets on every request to a dyno (ROUTER_SET), in one format.
_ROUTER_SET = (
    b"X-Forwarded-For: %s\r\n"
    b"X-Forwarded-Proto: %s\r\n"
    b"X-Forwarded-Port: %d\r\n"
    b"X-Request-Id: %s\r\n"
    b"X-Request-Start: %d\r\n"
    b"Via: %s\r\n"
    b"Connect-Time: %d\r\n"
    b"Total-Route-Time: %d\r\n"
)


class Exchange:
    def __init__(self, router: Router, client: ClientConnection, request: Request) -> None:
        self.router = router
        self.client = client
        self.request = request
        self.loop = router.loop
        fields = request.fields
        hosts = fields.values(b"host")
        self.host = hosts[0].decode("latin-1").strip() if hosts else ""
        self.record = RequestRecord(
            method=request.method.decode("ascii", "replace"),
            path=request.target.decode("latin-1"),
            host=self.host,
            request_id=request_id(fields.values(b"x-request-id")),
            fwd=appended(fields.joined(b"x-forwarded-for"), client.peer_ip),
            protocol=client.scheme,
        )
        self.task: asyncio.Task[None] | None = None
        self.target: Target | None = None
        self.upstream: Upstream | None = None
        self.pool: Pool | None = None
        self.connected_at: float | None = None
        # A Set-Cookie for session affinity, when the client has none for its dyno.
        self.affinity_cookie: bytes | None = None
        self.tunnel: Tunnel | None = None
        self.response_started = False
        self.response_complete = False
        # The request is with a dyno and its outcome comes through callbacks.
        self._attempting = False
        # A failure that came while the request was being routed (the client left).
        self._failure: Failure | None = None
        self._released = True
        # The app (its id's int) this request counts against (H22), once it does.
        self._counted: int | None = None
        self._logged = False
        self._done = False
        self._failing = False
        self._body_done_at: float | None = None
        self._head_seen = False
        self._switch: tuple[bytes, Fields] | None = None
        self._framing: Framing = "none"
        self._close_after = False
        self._out: list[Chunk] = []

    # --- starting -----------------------------------------------------------------------

    def start(self) -> None:
        """Route the request: at once when nothing has to wait, else in a task."""
        if self._failure is not None:
            self._failed(self._failure)
            return
        try:
            if self._start_now():
                return
        except Failure as failure:
            self._failed(failure)
            return
        except Exception:
            logger.exception("router request %s failed", self.record.request_id)
            self._failed(Failure(H99))
            return
        self._spawn(self._route())

    def _start_now(self) -> bool:
        """The request goes out on a kept connection without waiting; False when it
        cannot (it then goes through `_route`)."""
        find = self.router.find
        if find is None or not self.host:
            return False
        try:
            target = find(route_key(self.host))
        except Exception as exc:
            logger.exception("route lookup for %r failed", self.host)
            raise Failure(H99) from exc
        if target is None or target.maintenance or not target.backends:
            return False
        if b"expect" in self.request.fields:
            return False
        self.target = target
        self._count(target)
        upstream = self.router.dispatch.kept(self, target)
        if upstream is None:
            return False
        self._begin(upstream)
        return True

    async def _route(self) -> None:
        request = self.request
        if not request.complete:
            self.client.deadline.set(self.loop.time() + self.router.options.idle_timeout)
        target = await self.lookup()
        if target is None:
            keep = await self._answer(404, pages.no_such_app())
            self._finish_exchange(keep)
            return
        self.target = target
        if any(v != b"100-continue" for v in request.fields.tokens(b"expect")):
            raise Failure(H26_EXPECT, "unsupported expect header value")
        target = self.target = await self._await_backends(target)
        self._count(target)
        upstream = await self.router.dispatch.connect(self, target, fresh=False)
        self._begin(upstream)

    async def _again(self) -> None:
        """The request goes again, on a fresh connection (see upstream_lost)."""
        assert self.target is not None
        upstream = await self.router.dispatch.connect(self, self.target, fresh=True)
        self._begin(upstream)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.task = self.loop.create_task(self._guarded(work))

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Failure as failure:
            self._failed(failure)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._failure is None or task is None or self.router.stopping:
                raise
            # Cancelled by client_gone while waiting: that is how the request ends.
            task.uncancel()
            self._failed(self._failure)
        except Exception:
            logger.exception("router request %s failed", self.record.request_id)
            self._failed(Failure(H99))

    # --- routing ------------------------------------------------------------------------

    async def lookup(self) -> Target | None:
        """The app the request's Host names, as the route table has it right now."""
        if not self.host:
            return None
        try:
            return await self.router.routes.lookup(route_key(self.host))
        except Exception as exc:
            logger.exception("route lookup for %r failed", self.host)
            raise Failure(H99) from exc

    async def _await_backends(self, target: Target) -> Target:
        """The target once it has a dyno to route to, holding the request while one boots."""
        deadline = self.loop.time() + self.router.options.boot_wait
        while True:
            if target.maintenance:
                raise Failure(H80)
            if target.backends:
                return target
            if target.web_state == "blank":
                raise Failure(H81)
            if target.web_state == "none":
                raise Failure(H14)
            if target.web_state == "crashed":
                raise Failure(H10)
            # Starting (or momentarily between dynos): wait for one to come up.
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise Failure(H20)
            await asyncio.sleep(min(BOOT_POLL, remaining))
            fresh = await self.lookup()
            if fresh is None:
                # The app went away (renamed, deleted) while the request waited.
                raise Failure(H99)
            self.target = target = fresh

    def _count(self, target: Target) -> None:
        if self._counted is not None:
            return
        load, app = self.router.app_load, target.app_id.int
        count = load.get(app, 0)
        if count >= self.router.options.app_connections:
            raise Failure(H22)
        load[app] = count + 1
        self._counted = app

    def _uncount(self) -> None:
        app, self._counted = self._counted, None
        if app is not None:
            load = self.router.app_load
            count = load[app] - 1
            if count:
                load[app] = count
            else:
                del load[app]

    def connected(self, upstream: Upstream, pool: Pool, begun: float, held: set[bytes]) -> None:
        """Dispatch found a connection for this request."""
        target = self.target
        assert target is not None
        backend = pool.backend
        self.record.dyno = backend.dyno
        self.connected_at = now = self.loop.time()
        self.record.connect_ms = ms(now - begun)
        if target.affinity:
            value = self.router.dispatch.affinity(target, backend)
            if value not in held:
                self.affinity_cookie = _affinity_cookie(value)

    # --- the request goes to the dyno ---------------------------------------------------

    def _begin(self, upstream: Upstream) -> None:
        """Send the request on `upstream`; from here on callbacks carry it."""
        request = self.request
        self.upstream, self.pool = upstream, upstream.pool
        self._released = False
        if self._failure is not None:
            self._failed(self._failure)
            return
        self._attempting = True
        self._head_seen = False
        self._body_done_at = None
        self.record.bytes = 0
        upstream.begin(self, head_request=request.method == b"HEAD")
        if not self.client.writable:
            upstream.pause()
        head = self._upstream_head()
        if request.pending:
            upstream.writelines([head, *self._framed(request.take_pending())])
            self.client.held_changed()
        else:
            upstream.write(head)
        if request.complete:
            self._body_done()
        else:
            request.sink = self._forward
            request.on_end = self._body_done
            self._touch()

    def _upstream_head(self) -> bytes:
        request = self.request
        fields = request.fields
        headers = fields.end_to_end(_CHUNKED_DROP if request.chunked else _REQUEST_DROP)
        if request.chunked:
            # The body is chunked again on the way out; trailers are not passed on.
            headers.append((b"Transfer-Encoding", b"chunked"))
        if request.upgrade:
            headers.append((b"Connection", b"Upgrade"))
            headers.append((b"Upgrade", fields.joined(b"upgrade").encode("latin-1")))
        record = self.record
        client = self.client
        via = fields.joined(b"via")
        router_set = _ROUTER_SET % (
            record.fwd.encode("latin-1"),
            client.scheme.encode(),
            client.port,
            record.request_id.encode("latin-1"),
            int(request.received_at * 1000),
            f"{via}, {VIA}".encode("latin-1") if via else _VIA_VALUE,
            record.connect_ms or 0,
            ms(self.loop.time() - request.started),
        )
        start = b"%s %s HTTP/1.1" % (request.method, request.target)
        return wire.head(start, headers, router_set)

    def _framed(self, chunks: list[bytes]) -> list[Chunk]:
        if not self.request.chunked:
            return list(chunks)
        return [part for data in chunks for part in wire.chunk(data)]

    def _forward(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is None or self._released:
            return
        if self.request.chunked:
            upstream.writelines(wire.chunk(data))
        else:
            upstream.write(data)
        self._touch()

    def _body_done(self) -> None:
        upstream = self.upstream
        if upstream is None or self._released:
            return
        if self.request.chunked:
            upstream.write(wire.LAST_CHUNK)
        self._body_done_at = now = self.loop.time()
        if not self._head_seen:
            self.client.deadline.set(now + self.router.options.first_byte_timeout)

    def _touch(self) -> None:
        if self._head_seen or self._body_done_at is None:
            self.client.deadline.set(self.loop.time() + self.router.options.idle_timeout)

    # --- what the dyno's connection reports -------------------------------------------

    def informational(self, status: int, reason: bytes, fields: Fields) -> None:
        if self.request.version == "1.1" and self._attempting and not self.response_started:
            self._out.append(wire.head(wire.status_line(status, reason), fields.end_to_end()))

    def response_head(
        self, status: int, reason: bytes, fields: Fields, *, chunked: bool, sized: bool
    ) -> None:
        if not self._attempting:
            return
        self._head_seen = True
        self._touch()
        self.record.status = status
        request = self.request
        if status == 101:
            if request.upgrade:
                self._switch = (reason, fields)
            else:
                self._abort(Failure(H17))
            return
        if request.method == b"HEAD" or status in (204, 304):
            self._framing = "none"
        elif sized and not chunked:
            self._framing = "length"
        elif request.version == "1.1":
            self._framing = "chunked"
        else:
            self._framing = "close"
        self._close_after = not request.keep_alive or self._framing == "close"
        tail = self._response_tail(fields)
        if self._framing == "chunked":
            tail += b"Transfer-Encoding: chunked\r\n"
        if self._close_after:
            tail += b"Connection: close\r\n"
        headers = fields.end_to_end(_VIA_AND_LENGTH if chunked else _VIA)
        self._out.append(wire.head(wire.status_line(status, reason), headers, tail))
        self.response_started = True

    def _response_tail(self, fields: Fields) -> bytes:
        """The headers the router adds to a response, formatted."""
        via = fields.joined(b"via")
        tail = b"Via: %s\r\n" % (f"{via}, {VIA}".encode("latin-1") if via else _VIA_VALUE)
        if self.affinity_cookie is not None:
            tail += b"Set-Cookie: %s\r\n" % self.affinity_cookie
        return tail

    def response_body(self, data: Chunk) -> None:
        if not self._attempting or self._framing == "none":
            return
        if self._framing == "chunked":
            self._out += wire.chunk(data)
        else:
            self._out.append(data)
        assert self.record.bytes is not None
        self.record.bytes += len(data)
        self._touch()

    def response_end(self) -> None:
        if not self._attempting:
            return
        self._attempting = False
        self.response_complete = True
        if self._framing == "chunked":
            self._out.append(wire.LAST_CHUNK)
        self.flush()
        upstream = self.upstream
        request_sent = self.request.complete
        self._release(reusable=request_sent and upstream is not None and upstream.keep_alive)
        self._finish()
        # A dyno that answered before the whole request arrived has not read the rest.
        self._finish_exchange(request_sent and not self._close_after)

    def flush(self) -> None:
        """Write what the dyno's last read produced for the client, in one go."""
        out = self._out
        if not out:
            return
        self._out = []
        if len(out) == 1:
            self.client.write(out[0])
        else:
            self.client.writelines(out)

    def upgraded(self, ahead: Chunk) -> None:
        """The dyno switched protocols (101): from now on the two sockets are a tunnel."""
        upstream, pool, switch = self.upstream, self.pool, self._switch
        if not self._attempting or upstream is None or pool is None:
            return
        if switch is None or not self.request.complete:
            self._abort(Failure(H17))
            return
        self._attempting = False
        reason, fields = switch
        upgrade = fields.joined(b"upgrade") or self.request.fields.joined(b"upgrade")
        tail = self._response_tail(fields) + b"Connection: Upgrade\r\nUpgrade: %s\r\n" % (
            upgrade.encode("latin-1")
        )
        headers = fields.end_to_end(_VIA)
        client = self.client
        self.flush()
        start = wire.status_line(101, reason or b"Switching Protocols")
        client.write(wire.head(start, headers, tail))
        self.response_started = True
        self._released = True
        pool.detach(upstream)
        self.tunnel = tunnel = Tunnel(client, upstream, self.router.options.idle_timeout)
        upstream.tunnel = tunnel
        upstream.resume()
        client.resume("upstream")
        client_ahead = client.start_tunnel(tunnel)
        if client_ahead:
            upstream.write(client_ahead)
        if ahead:
            client.write(ahead)
        self._finish()
        tunnel.closed.add_done_callback(lambda _: self._finish_exchange(False))

    def upstream_error(self, error: RouterError) -> None:
        self._abort(Failure(error))

    def upstream_lost(self, received_any: bool) -> None:
        """The dyno closed the connection before the response was complete."""
        if not self._attempting:
            return
        upstream = self.upstream
        if not self._head_seen:
            reused = upstream is not None and upstream.reused
            if not received_any and reused and self.request.resendable:
                # A kept connection the dyno had just closed: the request never reached
                # the app, so it goes again on a fresh connection.
                self._attempting = False
                self._release(reusable=False)
                self._spawn(self._again())
                return
            self._abort(Failure(H18 if received_any else H13))
        else:
            self._abort(Failure(H18))

    def upstream_writable(self, writable: bool) -> None:
        if writable:
            self.client.resume("upstream")
        else:
            self.client.pause("upstream")

    # --- what the client's connection reports -------------------------------------------

    def client_gone(self) -> None:
        self._abort(Failure(H27))

    def client_error(self, error: RouterError, cause: str) -> None:
        self._abort(Failure(error, cause))

    def client_writable(self, writable: bool) -> None:
        upstream = self.upstream
        if upstream is None or self._released:
            return
        if writable:
            upstream.resume()
        else:
            upstream.pause()

    def expired(self) -> None:
        """The client connection's deadline passed while this request was under way."""
        upstream = self.upstream
        if not self._attempting or upstream is None:
            # Still being routed: boot_wait and the connect timeout bound that.
            return
        if self._body_done_at is not None and not self._head_seen:
            error = H12
        elif not self.request.complete:
            error = H15 if self.client.paused("upstream") else H28
        else:
            error = H28 if upstream.reading_paused else H15
        self._abort(Failure(error))

    # --- endings --------------------------------------------------------------------

    def _abort(self, failure: Failure) -> None:
        if self._done or self._failing:
            return
        if self._attempting:
            self._attempting = False
            self._failed(failure)
            return
        if self._failure is None:
            self._failure = failure
            # Whatever the routing task waits for, this ends it (see _guarded).
            if self.task is not None and not self.task.done():
                self.task.cancel()

    def _failed(self, failure: Failure) -> None:
        """The request ends with one of the router's errors: its page, and its line."""
        if self._done or self._failing:
            return
        self._failing = True
        self._attempting = False
        error = failure.error
        record = self.record
        record.error = error
        record.cause = failure.cause
        record.status = error.status
        self.flush()
        self._release(reusable=False)
        if self.connected_at is not None:
            record.service_ms = ms(self.loop.time() - self.connected_at)
        if not error.respond or self.response_started or self.client.gone:
            self._emit()
            self._finish_exchange(False)
            return
        config = self.target.config if self.target else {}
        if error is H80:
            page = pages.maintenance(config.get("MAINTENANCE_PAGE_URL"))
        elif error.code == "H26":
            page = pages.bad_request(error.status, wire.reason(error.status))
        else:
            page = pages.application_error(config.get("ERROR_PAGE_URL"))
        if self.request.complete:
            keep = self._write_page(error.status, page, complete=True)
            self._emit()
            self._finish_exchange(keep)
        else:
            self._spawn(self._answer_failure(error.status, page))

    async def _answer_failure(self, status: int, page: bytes) -> None:
        keep = await self._answer(status, page)
        self._emit()
        self._finish_exchange(keep)

    def _finish(self) -> None:
        if self.connected_at is not None:
            self.record.service_ms = ms(self.loop.time() - self.connected_at)
        self._emit()

    def _emit(self) -> None:
        # Requests for unknown hosts belong to no app, and are not logged anywhere.
        if self.target is None or self._logged or self.router.stopping:
            return
        self._logged = True
        self.router.lines.add(self.target.app_id, self.record.line())

    def _finish_exchange(self, keep: bool) -> None:
        if self._done:
            return
        self._done = True
        self.flush()
        self._release(reusable=False)
        self._uncount()
        self.client.exchange_done(self, keep)

    def _release(self, reusable: bool) -> None:
        upstream, pool = self.upstream, self.pool
        if self._released or upstream is None or pool is None:
            return
        self._released = True
        request = self.request
        request.sink = request.on_end = None
        self.client.resume("upstream")
        pool.release(upstream, reusable)

    async def _answer(self, status: int, body: bytes) -> bool:
        """Answer with one of the router's own pages; True if the connection may go on."""
        complete = await self._drain()
        return self._write_page(status, body, complete=complete)

    def _write_page(self, status: int, body: bytes, *, complete: bool) -> bool:
        keep = complete and self.request.keep_alive and not self.client.raw
        self.client.write(
            wire.page(status, body, close=not keep, with_body=self.request.method != b"HEAD")
        )
        return keep

    async def _drain(self) -> bool:
        """Read and drop what is left of the request body, if that is quick and small."""
        request = self.request
        if request.complete:
            return True
        if request.expects_continue and not request.received:
            # It waits to hear whether to send its body: it will not be sent.
            return False
        done: asyncio.Future[bool] = self.loop.create_future()
        taken = request.pending_bytes
        request.take_pending()
        self.client.held_changed()

        def drop(data: bytes) -> None:
            nonlocal taken
            taken += len(data)
            if taken > DRAIN_LIMIT and not done.done():
                done.set_result(False)

        def ended() -> None:
            if not done.done():
                done.set_result(True)

        request.sink, request.on_end = drop, ended
        try:
            async with asyncio.timeout(DRAIN_TIME):
                return await done
        except TimeoutError:
            return False
        finally:
            request.sink = request.on_end = None


def _affinity_cookie(value: bytes) -> bytes:
    expires = email.utils.formatdate(time.time() + AFFINITY_MAX_AGE, usegmt=True)
    return b"%s=%s; Version=1; Expires=%s; Max-Age=%d; Path=/; HttpOnly" % (
        AFFINITY_COOKIE,
        value,
        expires.encode(),
        AFFINITY_MAX_AGE,
    )
