"""The listeners `tenku up` serves, in one process or in several workers.

HTTPS on `port` carries the API, git and blob URLs, so that one HEROKU_HOST gives
the CLI both its API and its git remote. An optional plain-HTTP listener on
`http_port` serves the same application. Each worker process serves every listener
from one application instance, on sockets of its own that share the ports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
import socket
import ssl
import threading
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from tenku.config import Settings
from tenku.tls import server_ssl_context

# uvicorn configures this one, so supervisor lines land with its own.
log = logging.getLogger("uvicorn.error")
SHUTDOWN_GRACE = 30.0


@dataclass(frozen=True)
class Listener:
    port: int
    tls: bool


def listeners(settings: Settings) -> list[Listener]:
    found = [Listener(settings.port, tls=True)]
    if settings.http_port is not None:
        found.append(Listener(settings.http_port, tls=False))
    return found


class _TlsContext:
    """Picklable, so that configs can travel to worker processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, _config: uvicorn.Config, _default: Any) -> ssl.SSLContext:
        return server_ssl_context(self.settings)


def uvicorn_config(
    settings: Settings,
    listener: Listener,
    app: Any = "tenku.asgi:create",
    lifespan: bool = True,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=listener.port,
        # One application serves every listener; only one of them runs its lifespan.
        lifespan="on" if lifespan else "off",
        log_level="info",
        access_log=False,
        # Build streams and git pushes can stay open for a whole build; don't let them
        # hold a shutdown hostage.
        timeout_graceful_shutdown=10,
        ssl_context_factory=_TlsContext(settings) if listener.tls else None,
        # uvicorn believes X-Forwarded-For from loopback by default, and dynos are local.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


def make_servers(
    settings: Settings, bound: list[tuple[Listener, socket.socket]], app: Any = None
) -> list[tuple[uvicorn.Server, socket.socket]]:
    """One uvicorn server per bound listener, all serving one application."""
    if app is None:
        from tenku.app import create_app

        app = create_app(settings)
    return [
        (uvicorn.Server(uvicorn_config(settings, listener, app, lifespan=i == 0)), sock)
        for i, (listener, sock) in enumerate(bound)
    ]


async def serve_sockets(settings: Settings, bound: list[tuple[Listener, socket.socket]]) -> None:
    """Serve the already bound sockets until a signal stops them all."""
    # Each server takes over SIGINT/SIGTERM while it runs and hands a caught signal on to
    # the handler it replaced when it stops, so one signal stops them all, last started
    # first: the listener running the lifespan (and closing the database) stops last.
    servers = make_servers(settings, bound)
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))


def _run_in_process(settings: Settings, bound: list[tuple[Listener, socket.socket]]) -> None:
    loop_factory = uvicorn_config(settings, bound[0][0]).get_loop_factory()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve_sockets(settings, bound))
    except KeyboardInterrupt:
        pass


def _worker(settings: Settings, shared: list[Listener]) -> None:
    _run_in_process(
        settings, [(listener, _shared_socket(settings, listener)) for listener in shared]
    )


def bind(settings: Settings) -> list[tuple[Listener, socket.socket]]:
    bound = []
    for listener in listeners(settings):
        bound.append((listener, uvicorn_config(settings, listener).bind_socket()))
    return bound


def _shared_socket(settings: Settings, listener: Listener) -> socket.socket:
    """A socket on the listener's port that each worker binds for itself (SO_REUSEPORT):
    the kernel spreads new connections over the workers' sockets. Workers that shared one
    socket took connections as fast as each could accept them, so a burst of keep-alive
    connections (a client's pool) could all land on one worker while the others idled."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((settings.host, listener.port))
    except OSError as exc:
        sock.close()
        log.error("%s", exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    return sock


def run(settings: Settings, workers: int = 1) -> None:
    """Serve every listener; with several workers, each worker process serves them all."""
    # Issue certificates once here, before any worker races to.
    server_ssl_context(settings)
    if workers <= 1:
        _run_in_process(settings, bind(settings))
        return
    # Held, not listened on, while the workers run: the ports are taken (and chosen, for
    # port 0) once, here, and a port in use stops `tenku up` before any worker starts.
    held = [_shared_socket(settings, listener) for listener in listeners(settings)]
    shared = [
        dataclasses.replace(listener, port=sock.getsockname()[1])
        for listener, sock in zip(listeners(settings), held, strict=True)
    ]
    try:
        _Supervisor(dataclasses.replace(settings, api_workers=workers), shared, workers).run()
    finally:
        for sock in held:
            sock.close()


class _Supervisor:
    def __init__(self, settings: Settings, shared: list[Listener], workers: int) -> None:
        self.settings = settings
        self.shared = shared
        self.workers = workers
        self.stop = threading.Event()
        self.failed = False
        self.context = multiprocessing.get_context("spawn")

    def _start(self) -> BaseProcess:
        process = self.context.Process(target=_worker, args=(self.settings, self.shared))
        process.start()
        return process

    def _on_signal(self, _sig: int, _frame: FrameType | None) -> None:
        self.stop.set()

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        processes = [self._start() for _ in range(self.workers)]
        log.info("started %d workers", self.workers)
        while not self.stop.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    # It would fail again, forever: stop rather than spin.
                    log.error("worker %s failed to start; stopping", process.pid)
                    self.failed = True
                    self.stop.set()
                    break
                log.warning(
                    "worker %s exited (%s); starting another", process.pid, process.exitcode
                )
                processes[i] = self._start()
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(SHUTDOWN_GRACE)
            if process.is_alive():
                process.kill()
                process.join()
        if self.failed:
            raise SystemExit(STARTUP_FAILURE)
