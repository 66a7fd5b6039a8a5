"""The router: an HTTP/1.1 reverse proxy from app host names to their web dynos.

It behaves like Heroku's 2016 router (vegur) as far as apps and their users can tell:
a fresh connection to a random `up` web dyno per request, retries on refused or
timed-out connections, the same request headers, timeouts, H error codes, log lines
and error pages. Bodies stream both ways; nothing is buffered whole, so uploads,
long polling, server-sent events and WebSockets work. On HTTPS, a custom domain gets its
app's own certificate, picked by SNI from a `CertificateTable`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import functools
import hashlib
import hmac
import http
import logging
import random
import secrets
import ssl
import time
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import h11

from tenku.router import pages
from tenku.router.codes import (
    H10,
    H12,
    H13,
    H14,
    H15,
    H17,
    H18,
    H19,
    H20,
    H21,
    H26,
    H26_EXPECT,
    H27,
    H28,
    H80,
    H81,
    H99,
    RouterError,
)
from tenku.router.headers import (
    ROUTER_SET,
    VIA,
    Header,
    appended,
    end_to_end,
    is_upgrade,
    joined,
    request_id,
    tokens,
    values,
)
from tenku.router.logline import RequestRecord
from tenku.router.routes import Backend, CertificateTable, RouterLog, RouteTable, Target
from tenku.router.streams import HttpStream, PeerGone, splice

logger = logging.getLogger("tenku.router")

T = TypeVar("T")

# A request head may be large (cookies), but not unboundedly so.
MAX_REQUEST_HEAD = 64 * 1024
# Heroku drops requests whose request line or any header line exceeds 8 KB.
MAX_LINE = 8 * 1024
# Responses may carry single headers up to 512 KB on Heroku.
MAX_RESPONSE_HEAD = 1024 * 1024
MAX_ATTEMPTS = 10
# A dyno that refused or timed out is tried last by later requests for this long.
QUARANTINE = 5.0
# How often a request held for a booting app asks the route table again.
BOOT_POLL = 0.2
# An unread request body is read and dropped before answering with a page (so the
# connection can be reused) only while it is small and arrives promptly.
DRAIN_LIMIT = 1024 * 1024
DRAIN_TIME = 2.0
# Bytes a client may send ahead (pipelining) while its previous request is in flight.
PIPELINE_LIMIT = 64 * 1024
AFFINITY_COOKIE = b"heroku-session-affinity"
# Heroku's session affinity cookie lasts a day, refreshed whenever its dyno goes away.
AFFINITY_MAX_AGE = 86400


class _Failure(Exception):
    """A request ends with one of the router's H errors."""

    def __init__(self, error: RouterError, cause: str | None = None) -> None:
        super().__init__(error.code)
        self.error = error
        self.cause = cause


def affinity_value(key: bytes, app_id: uuid.UUID, dyno: str) -> bytes:
    """The cookie value that sends a client of `app_id` to `dyno`: opaque and unforgeable."""
    mac = hmac.new(key, f"{app_id}/{dyno}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=")


def cookie_values(raw: list[Header], name: bytes) -> list[bytes]:
    """Every value the request's Cookie headers give `name`."""
    found: list[bytes] = []
    for header in values(raw, b"cookie"):
        for pair in header.split(b";"):
            key, sep, value = pair.partition(b"=")
            if sep and key.strip() == name:
                found.append(value.strip().strip(b'"'))
    return found


def route_key(host: str) -> str:
    """The Host header as the route table knows it: lowercased, without port or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class Router:
    """The HTTP and HTTPS listeners, and the state shared by their requests."""

    def __init__(
        self,
        routes: RouteTable,
        log: RouterLog,
        *,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 30.0,
        idle_timeout: float = 55.0,
        boot_wait: float = 75.0,
        affinity_key: bytes | None = None,
        certificates: CertificateTable | None = None,
    ) -> None:
        self.routes = routes
        self.log = log
        # Apps' own certificates for their custom domains, picked by SNI on HTTPS.
        self.certificates = certificates
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self.boot_wait = boot_wait
        # Signs session affinity cookies; give it a stable key so they outlive a restart.
        self.affinity_key = affinity_key or secrets.token_bytes(32)
        self._servers: dict[str, asyncio.Server] = {}
        self._connections: set[asyncio.Task[Any]] = set()
        self._quarantine: dict[Backend, float] = {}
        self._stopping = False

    async def start(
        self,
        host: str,
        http_port: int | None,
        https_port: int | None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Listen for plain HTTP and/or HTTPS; a port of None leaves that listener off.

        `ssl_context` serves Tenku's own certificate; with a certificate table, the router
        sets its `sni_callback`, so the context must be the router's alone.
        """
        if https_port is not None and ssl_context is None:
            raise ValueError("an HTTPS listener needs an ssl_context")
        if ssl_context is not None and self.certificates is not None:
            ssl_context.sni_callback = self._select_certificate
        self._stopping = False
        try:
            if http_port is not None:
                self._servers["http"] = await asyncio.start_server(
                    functools.partial(self._accept, "http"), host, http_port
                )
            if https_port is not None:
                self._servers["https"] = await asyncio.start_server(
                    functools.partial(self._accept, "https"), host, https_port, ssl=ssl_context
                )
        except BaseException:
            await self.stop()
            raise

    def _select_certificate(
        self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        """During a handshake: switch to the app's certificate for the name the client
        asked for. No name, an app's default host or a name without one of its own: the
        listener's context (Tenku's certificate) stays."""
        if server_name is None or self.certificates is None:
            return
        try:
            chosen = self.certificates.certificate(route_key(server_name))
        except Exception:
            # Failing here would abort the handshake; Tenku's certificate is the answer.
            logger.exception("certificate lookup for %r failed", server_name)
            return
        if chosen is not None:
            conn.context = chosen

    @property
    def http_port(self) -> int | None:
        return self._port("http")

    @property
    def https_port(self) -> int | None:
        return self._port("https")

    def _port(self, protocol: str) -> int | None:
        server = self._servers.get(protocol)
        if server is None or not server.sockets:
            return None
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Stop listening and end every open connection, mid-request or not."""
        self._stopping = True
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        for server in servers:
            await server.wait_closed()

    async def _accept(
        self, protocol: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client = HttpStream(h11.SERVER, reader, writer, max_head=MAX_REQUEST_HEAD)
        task = asyncio.current_task()
        if self._stopping or task is None:
            await client.close()
            return
        self._connections.add(task)
        try:
            await self._serve(client, protocol)
        except asyncio.CancelledError:
            # Only stop() cancels these tasks, and nothing awaits their outcome. Ending
            # normally matters on Python 3.11, whose asyncio.start_server calls
            # task.exception() on a finished connection task, which raises (and logs an
            # error) for a cancelled one.
            pass
        except Exception:
            # One bad connection must never take the router down with it.
            logger.exception("router connection failed")
        finally:
            self._connections.discard(task)
            await client.close()

    async def _serve(self, client: HttpStream, protocol: str) -> None:
        """Answer requests on one client connection until either side ends it."""
        peer = client.writer.get_extra_info("peername")
        local = client.writer.get_extra_info("sockname")
        peer_ip = str(peer[0]) if isinstance(peer, tuple) else ""
        port = int(local[1]) if isinstance(local, tuple) else 0
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    event = await client.next_event()
            except TimeoutError:
                return
            except h11.RemoteProtocolError as exc:
                # No app is known for a request that cannot be parsed, so nothing
                # is logged; the client gets a 4xx and the connection closes.
                await _reject(client, exc.error_status_hint)
                return
            if not isinstance(event, h11.Request):
                return
            if event.method == b"CONNECT":
                await _reject(client, 405)
                return
            raw = event.headers.raw_items()
            if len(event.target) > MAX_LINE:
                await _reject(client, 414)
                return
            if any(len(k) + len(v) + 2 > MAX_LINE for k, v in raw):
                await _reject(client, 431)
                return
            exchange = _Exchange(self, client, event, protocol, peer_ip, port)
            if not await exchange.run():
                return
            conn = client.conn
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


async def _reject(client: HttpStream, status: int) -> None:
    """Answer a request the router will not route, and give up the connection."""
    reason = _reason(status)
    body = pages.bad_request(status, reason)
    try:
        async with asyncio.timeout(DRAIN_TIME):
            await client.send(
                h11.Response(
                    status_code=status,
                    headers=[*_page_headers(body), (b"Connection", b"close")],
                    reason=reason.encode(),
                )
            )
            await client.send(h11.Data(data=body))
            await client.send(h11.EndOfMessage())
    except (PeerGone, TimeoutError, h11.LocalProtocolError):
        pass


def _affinity_cookie(value: bytes) -> bytes:
    expires = email.utils.formatdate(time.time() + AFFINITY_MAX_AGE, usegmt=True)
    return b"%s=%s; Version=1; Expires=%s; Max-Age=%d; Path=/; HttpOnly" % (
        AFFINITY_COOKIE,
        value,
        expires.encode(),
        AFFINITY_MAX_AGE,
    )


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _page_headers(body: bytes) -> list[Header]:
    return [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Cache-Control", b"no-cache, no-store"),
        (b"Content-Length", str(len(body)).encode()),
    ]


class _Exchange:
    """One request: routing, the dyno connection, and the log line that describes it.

    While the request body is forwarded, a second task waits for the dyno's answer;
    once the body is complete, a third watches the client socket so a client that
    hangs up is noticed (H27) even while the dyno is still thinking.
    """

    def __init__(
        self,
        router: Router,
        client: HttpStream,
        request: h11.Request,
        protocol: str,
        peer_ip: str,
        port: int,
    ) -> None:
        self.router = router
        self.client = client
        self.request = request
        self.protocol = protocol
        self.port = port
        self.loop = asyncio.get_running_loop()
        self.received_at = time.time()
        self.started = self.loop.time()
        self.raw = list(request.headers.raw_items())
        hosts = values(self.raw, b"host")
        self.host = hosts[0].decode("latin-1").strip() if hosts else ""
        self.record = RequestRecord(
            method=request.method.decode("ascii", "replace"),
            path=request.target.decode("latin-1"),
            host=self.host,
            request_id=request_id(self.raw),
            fwd=appended(joined(self.raw, b"x-forwarded-for"), peer_ip),
            protocol=protocol,
        )
        self.target: Target | None = None
        self.upstream: HttpStream | None = None
        self.connected_at: float | None = None
        self.response_started = False
        self.logged = False
        self.tasks: list[asyncio.Task[Any]] = []
        # The request-body pump and the hang-up watcher, until their end is handled.
        self.side: set[asyncio.Task[Any]] = set()
        self.pump: asyncio.Task[bool] | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.body_done_at: float | None = None
        self.body_complete = False
        # A Set-Cookie for session affinity, when the client has none for its dyno.
        self.affinity_cookie: bytes | None = None

    async def run(self) -> bool:
        """Handle the request; True when the client connection may carry another."""
        try:
            return await self._run()
        except _Failure as failure:
            return await self._fail(failure)
        except Exception:
            logger.exception("router request %s failed", self.record.request_id)
            return await self._fail(_Failure(H99))
        finally:
            # Nested so the dyno connection is closed even when the router is stopped
            # (this task cancelled) while the helper tasks are being wound down.
            try:
                await self._cancel_tasks()
            finally:
                if self.upstream is not None:
                    await self.upstream.close()

    async def _run(self) -> bool:
        target = await self._lookup()
        if target is None:
            return await self._answer(404, pages.no_such_app())
        self.target = target
        expect = [v.strip().lower() for v in values(self.raw, b"expect")]
        if any(v != b"100-continue" for v in expect):
            raise _Failure(H26_EXPECT, "unsupported expect header value")
        self.target = await self._await_backends(target)
        reader, writer = await self._connect(self.target)
        self.upstream = HttpStream(h11.CLIENT, reader, writer, max_head=MAX_RESPONSE_HEAD)
        return await self._proxy()

    # Routing

    async def _lookup(self) -> Target | None:
        if not self.host:
            return None
        try:
            return await self.router.routes.lookup(route_key(self.host))
        except Exception as exc:
            logger.exception("route lookup for %r failed", self.host)
            raise _Failure(H99) from exc

    async def _await_backends(self, target: Target) -> Target:
        """The target once it has a dyno to route to, holding the request while one boots."""
        deadline = self.loop.time() + self.router.boot_wait
        while True:
            if target.maintenance:
                raise _Failure(H80)
            if target.backends:
                return target
            if target.web_state == "blank":
                raise _Failure(H81)
            if target.web_state == "none":
                raise _Failure(H14)
            if target.web_state == "crashed":
                raise _Failure(H10)
            # Starting (or momentarily between dynos): wait for one to come up.
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise _Failure(H20)
            await asyncio.sleep(min(BOOT_POLL, remaining))
            fresh = await self._lookup()
            if fresh is None:
                # The app went away (renamed, deleted) while the request waited.
                raise _Failure(H99)
            self.target = target = fresh

    async def _connect(self, target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to one of the target's dynos, retrying on others (H19/H21)."""
        router = self.router
        now = self.loop.time()
        quarantine = router._quarantine
        for backend, until in list(quarantine.items()):
            if until <= now:
                del quarantine[backend]
        fresh = [b for b in target.backends if b not in quarantine]
        stale = [b for b in target.backends if b in quarantine]
        random.shuffle(fresh)
        random.shuffle(stale)
        error = H21
        begun = self.loop.time()
        order = (fresh + stale)[:MAX_ATTEMPTS]
        held: set[bytes] = set()
        if target.affinity:
            # The client's dyno first, while it is routable; any other otherwise.
            held = set(cookie_values(self.raw, AFFINITY_COOKIE))
            order.sort(key=lambda b: self._affinity(b) not in held)
        tried: set[Backend] = set()
        while order:
            backend = order.pop(0)
            tried.add(backend)
            self.record.dyno = backend.dyno
            try:
                async with asyncio.timeout(router.connect_timeout):
                    reader, writer = await asyncio.open_connection(backend.host, backend.port)
            except TimeoutError:
                error = H19
            except OSError:
                error = H21
            else:
                self.connected_at = self.loop.time()
                self.record.connect_ms = _ms(self.connected_at - begun)
                if target.affinity and self._affinity(backend) not in held:
                    self.affinity_cookie = _affinity_cookie(self._affinity(backend))
                return reader, writer
            quarantine[backend] = self.loop.time() + QUARANTINE
            if not order and len(tried) < MAX_ATTEMPTS:
                # The app's set may have switched meanwhile (a restart, preboot): dynos
                # that came up since are worth the remaining attempts.
                again = await self._lookup()
                if again is not None:
                    order = [b for b in again.backends if b not in tried]
                    order = order[: MAX_ATTEMPTS - len(tried)]
        self.record.connect_ms = _ms(self.loop.time() - begun)
        raise _Failure(error)

    def _affinity(self, backend: Backend) -> bytes:
        assert self.target is not None
        return affinity_value(self.router.affinity_key, self.target.app_id, backend.dyno)

    # Proxying

    def _upstream_headers(self) -> list[Header]:
        raw = self.raw
        chunked = b"chunked" in tokens(raw, b"transfer-encoding")
        headers = [
            (k, v)
            for k, v in end_to_end(raw)
            if k.lower() not in ROUTER_SET and not (chunked and k.lower() == b"content-length")
        ]
        if chunked:
            # h11 re-chunks the body for the dyno; it only needs to be told to.
            headers.append((b"Transfer-Encoding", b"chunked"))
        if is_upgrade(raw):
            headers.append((b"Connection", b"Upgrade"))
            headers.append((b"Upgrade", joined(raw, b"upgrade").encode("latin-1")))
        else:
            # One connection per request: the dyno should not wait for another.
            headers.append((b"Connection", b"close"))
        connect_ms = self.record.connect_ms or 0
        route_ms = _ms(self.loop.time() - self.started)
        router_set = {
            "X-Forwarded-For": self.record.fwd,
            "X-Forwarded-Proto": self.protocol,
            "X-Forwarded-Port": str(self.port),
            "X-Request-Id": self.record.request_id,
            "X-Request-Start": str(int(self.received_at * 1000)),
            "Via": appended(joined(raw, b"via"), VIA),
            "Connect-Time": str(connect_ms),
            "Total-Route-Time": str(route_ms),
        }
        headers += [(k.encode(), v.encode("latin-1")) for k, v in router_set.items()]
        return headers

    async def _proxy(self) -> bool:
        upstream = self.upstream
        assert upstream is not None
        self.record.bytes = 0
        request = self.request
        try:
            await upstream.send(
                h11.Request(
                    method=request.method, target=request.target, headers=self._upstream_headers()
                )
            )
        except PeerGone as exc:
            raise _Failure(H13) from exc
        self.pump = self._spawn(self._pump_body())
        self.side.add(self.pump)
        head = await self._race(self._spawn(self._read_head()), first_byte=True)
        self.record.status = head.status_code
        if isinstance(head, h11.InformationalResponse):
            await self._upgrade(head)
            return False
        await self._to_client(
            h11.Response(
                status_code=head.status_code,
                headers=self._response_headers(head),
                reason=head.reason,
            )
        )
        self.response_started = True
        await self._race(self._spawn(self._relay_body()), first_byte=False)
        self._finish()
        return self.body_complete

    async def _pump_body(self) -> bool:
        """Forward the request body as it arrives.

        True once all of it reached the dyno. False when the dyno stopped taking it
        (it may have answered early, e.g. 413; its answer is still relayed).
        """
        client, upstream = self.client, self.upstream
        assert upstream is not None
        idle = self.router.idle_timeout
        while True:
            try:
                async with asyncio.timeout(idle):
                    event = await client.next_event()
            except TimeoutError as exc:
                raise _Failure(H28) from exc
            except h11.RemoteProtocolError as exc:
                if client.eof:
                    raise _Failure(H27) from exc
                raise _Failure(H26, "bad chunk") from exc
            if isinstance(event, h11.Data):
                forward: h11.Event = h11.Data(data=event.data)
            elif isinstance(event, h11.EndOfMessage):
                forward = h11.EndOfMessage()
            else:
                raise _Failure(H27)
            try:
                async with asyncio.timeout(idle):
                    await upstream.send(forward)
            except TimeoutError as exc:
                raise _Failure(H15) from exc
            except (PeerGone, h11.LocalProtocolError):
                return False
            if isinstance(forward, h11.EndOfMessage):
                return True

    async def _read_head(self) -> h11.Response | h11.InformationalResponse:
        """The dyno's response head; 1xx other than 101 are passed on along the way."""
        upstream = self.upstream
        assert upstream is not None
        while True:
            try:
                event = await upstream.next_event()
            except h11.RemoteProtocolError as exc:
                if upstream.eof:
                    raise _Failure(H18 if upstream.received_any else H13) from exc
                raise _Failure(H17) from exc
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return event
                if self.client.conn.their_http_version == b"1.1":
                    await self._to_client(
                        h11.InformationalResponse(
                            status_code=event.status_code,
                            headers=end_to_end(event.headers.raw_items()),
                            reason=event.reason,
                        )
                    )
                continue
            raise _Failure(H18 if upstream.received_any else H13)

    def _response_headers(self, head: h11.Response | h11.InformationalResponse) -> list[Header]:
        raw = list(head.headers.raw_items())
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

    async def _relay_body(self) -> None:
        upstream = self.upstream
        assert upstream is not None
        idle = self.router.idle_timeout
        while True:
            try:
                async with asyncio.timeout(idle):
                    event = await upstream.next_event()
            except TimeoutError as exc:
                raise _Failure(H15) from exc
            except h11.RemoteProtocolError as exc:
                raise _Failure(H18 if upstream.eof else H17) from exc
            if isinstance(event, h11.Data):
                await self._to_client(h11.Data(data=event.data))
                assert self.record.bytes is not None
                self.record.bytes += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                # Trailers are dropped: the client side may not be chunked.
                await self._to_client(h11.EndOfMessage())
                return
            else:
                raise _Failure(H18)

    async def _upgrade(self, head: h11.InformationalResponse) -> None:
        """Pass on a 101 and then carry raw bytes both ways (WebSockets)."""
        client, upstream = self.client, self.upstream
        assert upstream is not None
        if not self.body_complete:
            # Switching protocols before the request is over would lose its end.
            raise _Failure(H17)
        await self._cancel_tasks()
        headers = self._response_headers(head)
        upgrade = joined(head.headers.raw_items(), b"upgrade") or joined(self.raw, b"upgrade")
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade.encode("latin-1"))]
        switch = h11.InformationalResponse(
            status_code=101, headers=headers, reason=head.reason or b"Switching Protocols"
        )
        try:
            await self._to_client(switch)
        except h11.LocalProtocolError as exc:
            # h11 only allows the switch when the client asked for one.
            raise _Failure(H17) from exc
        self.response_started = True
        self._finish()
        client_ahead, _ = client.conn.trailing_data
        dyno_ahead, _ = upstream.conn.trailing_data
        try:
            if client_ahead:
                await upstream.write(client_ahead)
            if dyno_ahead:
                await client.write(dyno_ahead)
        except PeerGone:
            return
        await splice(client, upstream, self.router.idle_timeout)

    async def _to_client(self, event: h11.Event) -> None:
        try:
            async with asyncio.timeout(self.router.idle_timeout):
                await self.client.send(event)
        except PeerGone as exc:
            raise _Failure(H27) from exc
        except TimeoutError as exc:
            raise _Failure(H28) from exc

    # Concurrency

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro)
        task.add_done_callback(_retrieved)
        self.tasks.append(task)
        return task

    async def _race(self, main: asyncio.Task[T], *, first_byte: bool) -> T:
        """Wait for `main` while handling the pump and the watcher as they end.

        With `first_byte`, the dyno has first_byte_timeout from the end of the request
        body to start answering (H12).
        """
        while True:
            timeout = None
            if first_byte and self.body_done_at is not None:
                deadline = self.body_done_at + self.router.first_byte_timeout
                timeout = max(0.0, deadline - self.loop.time())
            done, _ = await asyncio.wait(
                {main, *self.side}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise _Failure(H12)
            for task in done - {main}:
                self._side_ended(task)
            if main in done:
                return main.result()

    def _side_ended(self, task: asyncio.Task[Any]) -> None:
        self.side.discard(task)
        if task is self.watcher:
            raise _Failure(H27)
        self.body_complete = bool(task.result())
        self.body_done_at = self.loop.time()
        if self.body_complete:
            self.watcher = self._spawn(self.client.wait_for_hangup(PIPELINE_LIMIT))
            self.side.add(self.watcher)

    async def _cancel_tasks(self) -> None:
        tasks, self.tasks = self.tasks, []
        self.side.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Endings

    async def _fail(self, failure: _Failure) -> bool:
        error = failure.error
        self.record.error = error
        self.record.cause = failure.cause
        self.record.status = error.status
        keep = False
        await self._cancel_tasks()
        if self.connected_at is not None:
            self.record.service_ms = _ms(self.loop.time() - self.connected_at)
        if error.respond and not self.response_started:
            config = self.target.config if self.target else {}
            if error is H80:
                page = pages.maintenance(config.get("MAINTENANCE_PAGE_URL"))
            elif error.code == "H26":
                page = pages.bad_request(error.status, _reason(error.status))
            else:
                page = pages.application_error(config.get("ERROR_PAGE_URL"))
            keep = await self._answer(error.status, page)
        self._emit()
        return keep

    def _finish(self) -> None:
        if self.connected_at is not None:
            self.record.service_ms = _ms(self.loop.time() - self.connected_at)
        self._emit()

    def _emit(self) -> None:
        # Requests for unknown hosts belong to no app, and are not logged anywhere.
        if self.target is None or self.logged:
            return
        self.logged = True
        try:
            self.router.log(self.target.app_id, self.record.line())
        except Exception:
            logger.exception("router log callback failed")

    async def _answer(self, status: int, body: bytes) -> bool:
        """Answer with one of the router's own pages; True if the connection may go on."""
        complete = await self._drain_request_body()
        headers = _page_headers(body)
        if not complete:
            headers.append((b"Connection", b"close"))
        client = self.client
        try:
            async with asyncio.timeout(self.router.idle_timeout):
                await client.send(
                    h11.Response(
                        status_code=status, headers=headers, reason=_reason(status).encode()
                    )
                )
                if self.request.method != b"HEAD":
                    await client.send(h11.Data(data=body))
                await client.send(h11.EndOfMessage())
        except (PeerGone, TimeoutError, h11.LocalProtocolError):
            return False
        return complete

    async def _drain_request_body(self) -> bool:
        """Read and drop what is left of the request body, if that is quick and small."""
        conn = self.client.conn
        if conn.their_state is not h11.SEND_BODY:
            # DONE, or waiting to hear whether its upgrade is accepted: nothing left.
            return conn.their_state not in (h11.ERROR, h11.MUST_CLOSE, h11.CLOSED)
        if conn.they_are_waiting_for_100_continue:
            return False
        taken = 0
        with contextlib.suppress(TimeoutError, h11.RemoteProtocolError):
            async with asyncio.timeout(DRAIN_TIME):
                while taken <= DRAIN_LIMIT:
                    event = await self.client.next_event()
                    if isinstance(event, h11.EndOfMessage):
                        return True
                    if not isinstance(event, h11.Data):
                        return False
                    taken += len(event.data)
        return False


def _retrieved(task: asyncio.Task[Any]) -> None:
    # A helper task's failure is read by _race when it matters; one that ends while the
    # request is already being wound down is of no interest, and must not be reported
    # as "never retrieved".
    if not task.cancelled():
        task.exception()


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
