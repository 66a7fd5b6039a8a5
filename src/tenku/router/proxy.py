"""The router: an HTTP/1.1 reverse proxy from app host names to their web dynos.

It behaves like Heroku's router (vegur) as far as apps and their users can tell: a random
`up` web dyno per request, retries on refused or timed-out connections, the same request
headers, timeouts, H error codes, log lines and error pages. Bodies stream both ways;
nothing is buffered whole, so uploads, long polling, server-sent events and WebSockets
work. On HTTPS, a custom domain gets its app's own certificate, picked by SNI from a
`CertificateTable`.

Unlike Heroku's 2016 router it keeps connections to dynos open between requests (per
dyno, see upstream.py), and it runs on asyncio's protocol callbacks with httptools'
parsers rather than streams: a request costs a task and a few callbacks, and bytes go
from one socket to the other without a coroutine hop per chunk. With `processes` above
one, other processes of its own serve the same ports (SO_REUSEPORT), each with a copy of
the route table this one is given (see processes.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenku.router.client import ClientConnection
from tenku.router.dispatch import Dispatcher, route_key
from tenku.router.logbatch import Line, LineBatch, LineStats, to_callback
from tenku.router.memory import keep_freed_memory
from tenku.router.options import CLIENT_WRITE_BUFFER, RouterOptions
from tenku.router.routes import (
    CertificateTable,
    MemoryRouteTable,
    RouterLog,
    RouteTable,
    Target,
)

if TYPE_CHECKING:
    from tenku.router.processes import Workers

logger = logging.getLogger("tenku.router")


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
        dyno_concurrency: int = 50,
        dyno_backlog: int = 50,
        app_connections: int = 10_000,
        pool_idle: float = 1.5,
        affinity_key: bytes | None = None,
        certificates: CertificateTable | None = None,
        processes: int = 1,
    ) -> None:
        self.routes = routes
        # Routing from memory, without a task, where the table can.
        self.find: Callable[[str], Target | None] | None = (
            routes.find if isinstance(routes, MemoryRouteTable) else None
        )
        self.log = log
        # Apps' own certificates for their custom domains, picked by SNI on HTTPS.
        self.certificates = certificates
        self.options = RouterOptions(
            connect_timeout=connect_timeout,
            first_byte_timeout=first_byte_timeout,
            idle_timeout=idle_timeout,
            boot_wait=boot_wait,
            dyno_concurrency=dyno_concurrency,
            dyno_backlog=dyno_backlog,
            app_connections=app_connections,
            pool_idle=pool_idle,
        )
        # Signs session affinity cookies; give it a stable key so they outlive a restart.
        self.affinity_key = affinity_key or secrets.token_bytes(32)
        self.processes = max(1, processes)
        self.client_write_buffer = CLIENT_WRITE_BUFFER
        self.connections: set[ClientConnection] = set()
        # Requests under way per app (by the app id's int: H22).
        self.app_load: dict[int, int] = {}
        self.stopping = False
        self._servers: dict[str, asyncio.Server] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatch: Dispatcher | None = None
        self._lines: LineBatch | None = None
        self._workers: Workers | None = None
        self.deliver: Callable[[list[Line]], None] = to_callback(log)
        # Set in a router process of the router's own: its lines (and how many it dropped
        # since the last batch) go home through this instead.
        self.send_lines: Callable[[list[Line], int], None] | None = None
        self._dropped_sent = 0

    # --- what the connections share ---------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the router is not started"
        return self._loop

    @property
    def dispatch(self) -> Dispatcher:
        assert self._dispatch is not None, "the router is not started"
        return self._dispatch

    @property
    def lines(self) -> LineBatch:
        assert self._lines is not None, "the router is not started"
        return self._lines

    def line_stats(self) -> LineStats:
        """What became of this router's log lines, its other processes' included."""
        stats = LineStats()
        if self._lines is not None:
            stats.add(self._lines.stats)
        if self._workers is not None:
            stats.add(self._workers.line_stats)
        return stats

    def worker_pids(self) -> list[int]:
        """The router's other processes."""
        return self._workers.pids() if self._workers is not None else []

    def _hand_over(self, lines: list[Line]) -> None:
        if self.send_lines is None:
            self.deliver(lines)
            return
        dropped = self.lines.stats.dropped
        self.send_lines(lines, dropped - self._dropped_sent)
        self._dropped_sent = dropped

    # --- lifecycle ------------------------------------------------------------------

    async def start(
        self,
        host: str,
        http_port: int | None,
        https_port: int | None,
        ssl_context: ssl.SSLContext | None = None,
        *,
        ssl_factory: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        """Listen for plain HTTP and/or HTTPS; a port of None leaves that listener off.

        `ssl_context` serves Tenku's own certificate; with a certificate table, the router
        sets its `sni_callback`, so the context must be the router's alone. With processes
        of its own, `ssl_factory` makes the same context in each (it is pickled to them),
        and the route table must be a RouteFeed (the certificates a CertificateFeed).
        """
        if https_port is not None and ssl_context is None:
            raise ValueError("an HTTPS listener needs an ssl_context")
        self._prepare(ssl_context)
        loop = self.loop
        shared = self.processes > 1
        if shared:
            from tenku.router.processes import Workers

            if https_port is not None and ssl_factory is None:
                raise ValueError("router processes of its own need an ssl_factory for HTTPS")

            # Checks the tables can be shared before anything listens.
            self._workers = Workers(self, self.processes - 1, ssl_factory)
        try:
            if http_port is not None:
                self._servers["http"] = await loop.create_server(
                    lambda: ClientConnection(self, "http"), host, http_port, reuse_port=shared
                )
            if https_port is not None:
                self._servers["https"] = await loop.create_server(
                    lambda: ClientConnection(self, "https"),
                    host,
                    https_port,
                    ssl=ssl_context,
                    reuse_port=shared,
                )
        except BaseException:
            await self.stop()
            raise
        workers = self._workers
        if workers is not None:
            try:
                await workers.start(self._servers)
            except Exception:
                # Apps are still served, by this process alone.
                logger.exception("the router's other processes could not start")
                self._workers = None
                await workers.stop()

    async def sync(self) -> None:
        """Return once the router's other processes route by the table as it is now."""
        if self._workers is not None:
            await self._workers.sync()

    async def serve(
        self, sockets: list[tuple[str, socket.socket]], ssl_context: ssl.SSLContext | None
    ) -> None:
        """Serve listening sockets made by another process (a router process of its own)."""
        self._prepare(ssl_context)
        for number, (scheme, sock) in enumerate(sockets):
            self._servers[f"{scheme}.{number}"] = await self.loop.create_server(
                functools.partial(ClientConnection, self, scheme),
                sock=sock,
                ssl=ssl_context if scheme == "https" else None,
            )

    def _prepare(self, ssl_context: ssl.SSLContext | None) -> None:
        keep_freed_memory()
        if ssl_context is not None and self.certificates is not None:
            ssl_context.sni_callback = self._select_certificate
        loop = self._loop = asyncio.get_running_loop()
        self._dispatch = Dispatcher(loop, self.options, self.affinity_key)
        self._lines = LineBatch(loop, self._hand_over)
        self.stopping = False

    async def stop(self) -> None:
        """Stop listening and end every open connection, mid-request or not."""
        self.stopping = True
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()
        if self._workers is not None:
            await self._workers.stop()
        connections = list(self.connections)
        tasks = [c.current.task for c in connections if c.current and c.current.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in connections:
            connection.abort()
        self.connections.clear()
        if self._dispatch is not None:
            self._dispatch.close()
        if self._lines is not None:
            self._lines.flush()
        for server in servers:
            await server.wait_closed()

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
