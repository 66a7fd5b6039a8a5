"""One request through the router: its app, its dyno, its answer and its log line.

An exchange is one task. It looks the app up, waits for a dyno to boot if one is
booting, gets a connection to a dyno (dispatch.py), sends the request head and then
awaits the outcome. Everything after the head is driven by the two connections'
callbacks: request body chunks go to the dyno as the client parser yields them, response
chunks go to the client as the dyno's parser yields them, each side pausing the other
when its buffers fill. Timeouts are one deadline on the client connection, whose meaning
depends on where the request is (H12 waiting for the first byte, H15/H28 idle).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import TYPE_CHECKING, Literal

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
from tenku.router.headers import (
    ROUTER_SET,
    VIA,
    Header,
    appended,
    end_to_end,
    joined,
    request_id,
    tokens,
    values,
)
from tenku.router.logline import RequestRecord
from tenku.router.options import DRAIN_LIMIT, DRAIN_TIME
from tenku.router.routes import Target
from tenku.router.tunnel import Tunnel

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

# What one attempt at the dyno came to: the client connection goes on ("keep") or not
# ("close"), the request goes to a fresh connection ("retry"), or the connection is a
# tunnel now ("tunnel").
Ending = Literal["keep", "close", "retry", "tunnel"]
Framing = Literal["length", "chunked", "close", "none"]


class Exchange:
    task: asyncio.Task[None] | None = None

    def __init__(self, router: Router, client: ClientConnection, request: Request) -> None:
        self.router = router
        self.client = client
        self.request = request
        self.loop = router.loop
        raw = request.headers
        hosts = values(raw, b"host")
        self.host = hosts[0].decode("latin-1").strip() if hosts else ""
        self.record = RequestRecord(
            method=request.method.decode("ascii", "replace"),
            path=request.target.decode("latin-1"),
            host=self.host,
            request_id=request_id(raw),
            fwd=appended(joined(raw, b"x-forwarded-for"), client.peer_ip),
            protocol=client.scheme,
        )
        self.target: Target | None = None
        self.upstream: Upstream | None = None
        self.pool: Pool | None = None
        self.connected_at: float | None = None
        # A Set-Cookie for session affinity, when the client has none for its dyno.
        self.affinity_cookie: bytes | None = None
        self._outcome: asyncio.Future[Ending] | None = None
        # A failure that came while no attempt was under way (the client left).
        self._failure: Failure | None = None
        self._released = True
        self._counted = False
        self._logged = False
        self._body_done_at: float | None = None
        self._head_seen = False
        self._switch: tuple[bytes, list[Header]] | None = None
        self._framing: Framing = "none"
        self._close_after = False
        self.response_started = False
        self.response_complete = False
        self.tunnel: Tunnel | None = None

    async def run(self) -> None:
        keep = False
        try:
            keep = await self._run()
        except Failure as failure:
            keep = await self._fail(failure)
        except Exception:
            logger.exception("router request %s failed", self.record.request_id)
            keep = await self._fail(Failure(H99))
        finally:
            self._release(reusable=False)
            self._uncount()
        self.client.exchange_done(self, keep)

    async def _run(self) -> bool:
        request = self.request
        if not request.complete:
            self.client.deadline.set(self.loop.time() + self.router.options.idle_timeout)
        target = await self.lookup()
        if target is None:
            return await self._answer(404, pages.no_such_app())
        self.target = target
        if any(v != b"100-continue" for v in tokens(request.headers, b"expect")):
            raise Failure(H26_EXPECT, "unsupported expect header value")
        target = self.target = await self._await_backends(target)
        self._count(target)
        fresh = False
        while True:
            upstream = await self.router.dispatch.connect(self, target, fresh=fresh)
            ending = await self._attempt(upstream)
            if ending != "retry":
                break
            fresh = True
        if ending == "tunnel":
            assert self.tunnel is not None
            await self.tunnel.closed
            return False
        self._finish()
        return ending == "keep"

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
            self.check()
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
        load = self.router.app_load
        if load[target.app_id] >= self.router.options.app_connections:
            raise Failure(H22)
        load[target.app_id] += 1
        self._counted = True

    def _uncount(self) -> None:
        if self._counted and self.target is not None:
            self._counted = False
            load = self.router.app_load
            load[self.target.app_id] -= 1
            if not load[self.target.app_id]:
                del load[self.target.app_id]

    def check(self) -> None:
        """Raise the failure that came while the request was being routed (the client left)."""
        if self._failure is not None:
            raise self._failure

    def connected(self, upstream: Upstream, pool: Pool, begun: float, held: set[bytes]) -> None:
        """Dispatch found a connection for this request."""
        target = self.target
        assert target is not None
        backend = pool.backend
        self.record.dyno = backend.dyno
        self.connected_at = self.loop.time()
        self.record.connect_ms = ms(self.connected_at - begun)
        if target.affinity:
            value = self.router.dispatch.affinity(target, backend)
            if value not in held:
                self.affinity_cookie = _affinity_cookie(value)

    # --- one attempt at the dyno --------------------------------------------------------

    async def _attempt(self, upstream: Upstream) -> Ending:
        request = self.request
        self.upstream, self.pool = upstream, upstream.pool
        self._released = False
        try:
            self.check()
            self._outcome = self.loop.create_future()
            self._head_seen = False
            self._body_done_at = None
            self.record.bytes = 0
            upstream.begin(self, head_request=request.method == b"HEAD")
            if not self.client.writable:
                upstream.pause()
            upstream.write(self._upstream_head())
            if request.pending:
                for data in request.take_pending():
                    self._forward(data)
                self.client.held_changed()
            if request.complete:
                self._body_done()
            else:
                request.sink = self._forward
                request.on_end = self._body_done
                self._touch()
            return await self._outcome
        finally:
            request.sink = request.on_end = None
            self._outcome = None
            if not self.response_complete and self.tunnel is None:
                self._release(reusable=False)

    def _upstream_head(self) -> bytes:
        request = self.request
        raw = request.headers
        headers = [
            (k, v)
            for k, v in end_to_end(raw)
            if k.lower() not in ROUTER_SET
            and not (request.chunked and k.lower() == b"content-length")
        ]
        if request.chunked:
            # The body is chunked again on the way out; trailers are not passed on.
            headers.append((b"Transfer-Encoding", b"chunked"))
        if request.upgrade:
            headers.append((b"Connection", b"Upgrade"))
            headers.append((b"Upgrade", joined(raw, b"upgrade").encode("latin-1")))
        record = self.record
        router_set = {
            "X-Forwarded-For": record.fwd,
            "X-Forwarded-Proto": self.client.scheme,
            "X-Forwarded-Port": str(self.client.port),
            "X-Request-Id": record.request_id,
            "X-Request-Start": str(int(request.received_at * 1000)),
            "Via": appended(joined(raw, b"via"), VIA),
            "Connect-Time": str(record.connect_ms or 0),
            "Total-Route-Time": str(ms(self.loop.time() - request.started)),
        }
        headers += [(k.encode(), v.encode("latin-1")) for k, v in router_set.items()]
        return wire.head(b"%s %s HTTP/1.1" % (request.method, request.target), headers)

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

    def informational(self, status: int, reason: bytes, headers: list[Header]) -> None:
        if self.request.version == "1.1" and not self.response_started:
            self.client.write(wire.head(wire.status_line(status, reason), end_to_end(headers)))

    def response_head(self, status: int, reason: bytes, headers: list[Header]) -> None:
        if self._settled:
            return
        self._head_seen = True
        self._touch()
        self.record.status = status
        request = self.request
        if status == 101:
            if request.upgrade:
                self._switch = (reason, headers)
            else:
                self._abort(Failure(H17))
            return
        chunked = b"chunked" in tokens(headers, b"transfer-encoding")
        sized = not chunked and bool(values(headers, b"content-length"))
        if request.method == b"HEAD" or status in (204, 304):
            self._framing = "none"
        elif sized:
            self._framing = "length"
        elif request.version == "1.1":
            self._framing = "chunked"
        else:
            self._framing = "close"
        self._close_after = not request.keep_alive or self._framing == "close"
        out = self._response_headers(headers)
        if self._framing == "chunked":
            out.append((b"Transfer-Encoding", b"chunked"))
        if self._close_after:
            out.append((b"Connection", b"close"))
        self.client.write(wire.head(wire.status_line(status, reason), out))
        self.response_started = True

    def _response_headers(self, raw: list[Header]) -> list[Header]:
        chunked = bool(values(raw, b"transfer-encoding"))
        headers = [
            (k, v)
            for k, v in end_to_end(raw)
            if k.lower() != b"via" and not (chunked and k.lower() == b"content-length")
        ]
        headers.append((b"Via", appended(joined(raw, b"via"), VIA).encode("latin-1")))
        if self.affinity_cookie is not None:
            headers.append((b"Set-Cookie", self.affinity_cookie))
        return headers

    def response_body(self, data: bytes) -> None:
        if self._settled or self._framing == "none":
            return
        if self._framing == "chunked":
            self.client.writelines(wire.chunk(data))
        else:
            self.client.write(data)
        assert self.record.bytes is not None
        self.record.bytes += len(data)
        self._touch()

    def response_end(self) -> None:
        if self._settled or self.response_complete:
            return
        self.response_complete = True
        if self._framing == "chunked":
            self.client.write(wire.LAST_CHUNK)
        upstream = self.upstream
        request_sent = self.request.complete
        self._release(reusable=request_sent and upstream is not None and upstream.keep_alive)
        # A dyno that answered before the whole request arrived has not read the rest.
        self._settle("keep" if request_sent and not self._close_after else "close")

    def upgraded(self, ahead: bytes) -> None:
        """The dyno switched protocols (101): from now on the two sockets are a tunnel."""
        upstream, pool, switch = self.upstream, self.pool, self._switch
        if self._settled or upstream is None or pool is None:
            return
        if switch is None or not self.request.complete:
            self._abort(Failure(H17))
            return
        reason, raw = switch
        headers = self._response_headers(raw)
        upgrade = joined(raw, b"upgrade") or joined(self.request.headers, b"upgrade")
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade.encode("latin-1"))]
        client = self.client
        client.write(wire.head(wire.status_line(101, reason or b"Switching Protocols"), headers))
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
        self._settle("tunnel")

    def upstream_error(self, error: RouterError) -> None:
        self._abort(Failure(error))

    def upstream_lost(self, received_any: bool) -> None:
        """The dyno closed the connection before the response was complete."""
        if self._settled:
            return
        upstream = self.upstream
        if not self._head_seen:
            reused = upstream is not None and upstream.reused
            if not received_any and reused and self.request.resendable:
                # A kept connection the dyno had just closed: the request never reached
                # the app, so it goes again on a fresh connection.
                self._settle("retry")
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
        if self.upstream is None or self._released:
            # Still being routed: boot_wait and the connect timeout bound that.
            return
        if self._body_done_at is not None and not self._head_seen:
            error = H12
        elif not self.request.complete:
            error = H15 if self.client.paused("upstream") else H28
        else:
            error = H28 if self.upstream.reading_paused else H15
        self._abort(Failure(error))

    # --- endings --------------------------------------------------------------------

    @property
    def _settled(self) -> bool:
        return self._outcome is None or self._outcome.done()

    def _settle(self, ending: Ending) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(ending)

    def _abort(self, failure: Failure) -> None:
        if self._outcome is None:
            self._failure = self._failure or failure
        elif not self._outcome.done():
            self._outcome.set_exception(failure)

    def _release(self, reusable: bool) -> None:
        upstream, pool = self.upstream, self.pool
        if self._released or upstream is None or pool is None:
            return
        self._released = True
        self.client.resume("upstream")
        pool.release(upstream, reusable)

    async def _fail(self, failure: Failure) -> bool:
        error = failure.error
        record = self.record
        record.error = error
        record.cause = failure.cause
        record.status = error.status
        self._release(reusable=False)
        keep = False
        if self.connected_at is not None:
            record.service_ms = ms(self.loop.time() - self.connected_at)
        if error.respond and not self.response_started and not self.client.gone:
            config = self.target.config if self.target else {}
            if error is H80:
                page = pages.maintenance(config.get("MAINTENANCE_PAGE_URL"))
            elif error.code == "H26":
                page = pages.bad_request(error.status, wire.reason(error.status))
            else:
                page = pages.application_error(config.get("ERROR_PAGE_URL"))
            keep = await self._answer(error.status, page)
        self._emit()
        return keep

    def _finish(self) -> None:
        if self.connected_at is not None:
            self.record.service_ms = ms(self.loop.time() - self.connected_at)
        self._emit()

    def _emit(self) -> None:
        # Requests for unknown hosts belong to no app, and are not logged anywhere.
        if self.target is None or self._logged:
            return
        self._logged = True
        self.router.lines.add(self.target.app_id, self.record.line())

    async def _answer(self, status: int, body: bytes) -> bool:
        """Answer with one of the router's own pages; True if the connection may go on."""
        complete = await self._drain()
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
