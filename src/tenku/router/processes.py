"""The router's other processes: same ports, same route table, lines sent home.

Python runs one core per process, so a router that should use several runs several
processes. The one the platform starts (the runtime's) keeps listening and routing, and
starts the others (`python -m tenku.router.worker`). Each gets its own listening sockets,
bound here with SO_REUSEPORT to the same addresses and ports, so the kernel spreads new
connections across all of them; sockets made here rather than by the workers mean the
ports are open before `Router.start` returns and are never bound by anyone else.

Every process routes from a copy of this process's table: the worker gets all of it when
it starts, then the apps whose routing changed (a deploy, a scale, a dyno coming up,
the preboot switch, maintenance, features) as soon as the table reports them, so the
copies lag by a message, not by a poll. Session affinity cookies are signed with the same
key everywhere. Custom certificates go over as PEM, for each worker to serve by SNI.
Each worker's `heroku[router]` lines come back in batches and go to this router's log.

A worker that dies is started again (with new sockets); one that cannot talk to this
process any more stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import ssl
import sys
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenku.children import die_with_parent
from tenku.router.channel import Channel
from tenku.router.logbatch import Line, LineStats
from tenku.router.options import RouterOptions
from tenku.router.routes import CertificateFeed, RouteFeed, Target

if TYPE_CHECKING:
    from tenku.router.proxy import Router

logger = logging.getLogger("tenku.router")

# A worker that dies is started again after FIRST_DELAY seconds, doubling up to MAX_DELAY
# while it keeps dying within STEADY seconds of its start.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STEADY = 60.0
# How long a worker has to say it serves, and to stop when asked.
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker is told first: everything but the routes and certificates."""

    options: RouterOptions
    affinity_key: bytes
    # Makes the HTTPS listener's own context (Tenku's certificate); picklable.
    ssl_factory: Callable[[], ssl.SSLContext] | None
    certificates: bool
    # Each listening socket's scheme, in the order their descriptors are passed.
    schemes: tuple[str, ...]


class _Published:
    """The route table as the workers have it, and what changed since they got it."""

    def __init__(self, feed: RouteFeed) -> None:
        self.feed = feed
        self.hosts: dict[str, uuid.UUID] = {}
        self.targets: dict[uuid.UUID, Target] = {}
        # Apps to look at again; None: all of them.
        self.dirty: set[uuid.UUID] | None = None

    def changed(self, apps: Collection[uuid.UUID] | None) -> None:
        if apps is None:
            self.dirty = None
        elif self.dirty is not None:
            self.dirty.update(apps)

    def changes(self) -> tuple[dict[str, uuid.UUID] | None, dict[uuid.UUID, Target | None]]:
        """What changed since the last call: the host table (when it did), and each
        changed app's target (None for an app gone)."""
        dirty, self.dirty = self.dirty, set()
        hosts: dict[str, uuid.UUID] | None = None
        if dirty is None:
            current = dict(self.feed.hosts())
            if current != self.hosts:
                self.hosts = hosts = current
            dirty = set(self.targets) | set(current.values())
        targets: dict[uuid.UUID, Target | None] = {}
        for app_id in dirty:
            target = self.feed.target(app_id)
            if target != self.targets.get(app_id):
                targets[app_id] = target
                if target is None:
                    self.targets.pop(app_id, None)
                else:
                    self.targets[app_id] = target
        return hosts, targets


class Worker:
    """One router process of this router's, and the channel to it."""

    def __init__(self, workers: Workers, slot: int) -> None:
        self.workers = workers
        self.slot = slot
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Its failure is read where it matters (start, _supervise), and only there.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.stats = LineStats()
        self._pings: dict[int, asyncio.Future[None]] = {}

    async def start(self) -> None:
        workers = self.workers
        listening = [workers.bind(family, address) for _, family, address in workers.listeners]
        ours, theirs = socket.socketpair()
        fds = [theirs.fileno(), *(sock.fileno() for sock in listening)]
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tenku.router.worker",
                *map(str, fds),
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=fds,
                # The router's processes end with the one that started them.
                preexec_fn=die_with_parent,
            )
        finally:
            # The worker has its own copies: these would keep its ports open after it dies.
            theirs.close()
            for sock in listening:
                sock.close()
        self.channel = Channel(self._received, self._lost)
        await self.channel.connect(ours)
        self.channel.send(("config", workers.config))
        self.channel.send(("routes", *workers.snapshot()))
        if workers.certificates is not None:
            self.channel.send(("certificates", dict(workers.certificates.pems())))

    def send(self, message: tuple[Any, ...]) -> None:
        if self.channel is not None:
            self.channel.send(message)

    def _received(self, message: Any) -> None:
        kind = message[0]
        if kind == "lines":
            _, lines, dropped = message
            self.workers.deliver(lines)
            self.stats.delivered += len(lines)
            self.stats.batches += 1
            self.stats.dropped += dropped
        elif kind == "ready" and not self.ready.done():
            self.ready.set_result(None)
        elif kind == "pong":
            waiter = self._pings.pop(message[1], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def ping(self) -> None:
        """Return once the worker has handled every message sent before this one."""
        if self.channel is None:
            return
        number = len(self._pings) + 1
        while number in self._pings:
            number += 1
        waiter = self._pings[number] = asyncio.get_running_loop().create_future()
        self.send(("ping", number))
        async with asyncio.timeout(READY_TIMEOUT):
            await waiter

    def _lost(self) -> None:
        self.channel = None
        for waiter in self._pings.values():
            if not waiter.done():
                waiter.set_result(None)
        if not self.ready.done():
            self.ready.set_exception(RuntimeError("a router process ended as it started"))

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        self.send(("stop",))
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        finally:
            if self.channel is not None:
                self.channel.close()


class Workers:
    def __init__(
        self, router: Router, count: int, ssl_factory: Callable[[], ssl.SSLContext] | None
    ) -> None:
        routes, certificates = router.routes, router.certificates
        if not isinstance(routes, RouteFeed):
            raise ValueError("router processes of its own need a route table that is a RouteFeed")
        if certificates is not None and not isinstance(certificates, CertificateFeed):
            raise ValueError("router processes of its own need certificates as a CertificateFeed")
        self.router = router
        self.count = count
        self.certificates: CertificateFeed | None = certificates
        self.published = _Published(routes)
        self.ssl_factory = ssl_factory
        self.listeners: list[tuple[str, int, Any]] = []
        self.workers: list[Worker] = []
        self.stopping = False
        self._publishing: asyncio.Handle | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        # The line counts of workers that died and were replaced.
        self._retired_stats = LineStats()
        self.deliver: Callable[[list[Line]], None] = router.deliver
        routes.watch(self._routes_changed)
        if certificates is not None:
            certificates.watch(self._certificates_changed)

    @property
    def config(self) -> WorkerConfig:
        return WorkerConfig(
            options=self.router.options,
            affinity_key=self.router.affinity_key,
            ssl_factory=self.ssl_factory,
            certificates=self.certificates is not None,
            schemes=tuple(scheme for scheme, _, _ in self.listeners),
        )

    @property
    def line_stats(self) -> LineStats:
        stats = LineStats()
        stats.add(self._retired_stats)
        for worker in self.workers:
            stats.add(worker.stats)
        return stats

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process is not None]

    async def start(self, servers: dict[str, asyncio.Server]) -> None:
        if "https" in servers:
            # Pickled here first, so a factory that cannot go to another process fails here.
            pickle.dumps(self.ssl_factory)
        self.listeners = [
            (scheme, sock.family, sock.getsockname())
            for scheme, server in servers.items()
            for sock in server.sockets
        ]
        self.published.changed(None)
        self.published.changes()
        for slot in range(self.count):
            worker = Worker(self, slot)
            self.workers.append(worker)
            await worker.start()
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.gather(*(w.ready for w in self.workers))
        for worker in self.workers:
            self._watch(worker)

    def bind(self, family: int, address: Any) -> socket.socket:
        """A listening socket on the same address and port as this process's own."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(socket.SOMAXCONN)
        except BaseException:
            sock.close()
            raise
        return sock

    async def sync(self) -> None:
        """Return once every worker has the route table as it is now."""
        self._publish()
        await asyncio.gather(*(worker.ping() for worker in self.workers))

    def snapshot(self) -> tuple[dict[str, uuid.UUID], dict[uuid.UUID, Target | None]]:
        """The whole table as the workers have it (after sending what is pending)."""
        self._publish()
        published = self.published
        return dict(published.hosts), dict(published.targets)

    def _routes_changed(self, apps: Collection[uuid.UUID] | None) -> None:
        self.published.changed(apps)
        if self._publishing is None and not self.stopping:
            # Once per loop pass, however many changes came in it.
            self._publishing = asyncio.get_running_loop().call_soon(self._publish)

    def _publish(self) -> None:
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        hosts, targets = self.published.changes()
        if hosts is None and not targets:
            return
        for worker in self.workers:
            worker.send(("routes", hosts, targets))

    def _certificates_changed(self) -> None:
        if self.certificates is None or self.stopping:
            return
        pems = dict(self.certificates.pems())
        for worker in self.workers:
            worker.send(("certificates", pems))

    def _watch(self, worker: Worker) -> None:
        task = asyncio.get_running_loop().create_task(self._supervise(worker))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _supervise(self, worker: Worker) -> None:
        """Start a worker that died again, waiting longer each time it dies soon after."""
        loop = asyncio.get_running_loop()
        delay = FIRST_DELAY
        started = loop.time()
        while not self.stopping:
            if worker.process is not None:
                status = await worker.process.wait()
                if self.stopping:
                    return
                if loop.time() - started >= STEADY:
                    delay = FIRST_DELAY
                logger.error(
                    "router process %d exited with status %s; starting it again in %.0f s",
                    worker.process.pid,
                    status,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
            started = loop.time()
            self._retired_stats.add(worker.stats)
            worker = self.workers[worker.slot] = Worker(self, worker.slot)
            try:
                await worker.start()
                async with asyncio.timeout(READY_TIMEOUT):
                    await worker.ready
            except Exception:
                logger.exception("could not start router process %d again", worker.slot)

    async def stop(self) -> None:
        self.stopping = True
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
