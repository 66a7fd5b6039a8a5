"""A router process of the router's own (see processes.py): `python -m tenku.router.worker
CHANNEL_FD LISTEN_FD...`.

It serves the listening sockets it was handed, routing from a copy of the starting
process's route table that the channel keeps current, and sends its log lines back.
It stops when asked, on SIGTERM or SIGINT, or when the channel closes (the process that
started it is gone).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import sys
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

import uvloop

from tenku.router.channel import Channel
from tenku.router.logbatch import Line
from tenku.router.processes import WorkerConfig
from tenku.router.proxy import Router
from tenku.router.routes import Target
from tenku.tls import pem_ssl_context

logger = logging.getLogger("tenku.router")


class MirrorRoutes:
    """The starting process's route table, as its messages last said."""

    def __init__(self) -> None:
        self._hosts: dict[str, uuid.UUID] = {}
        self._targets: dict[uuid.UUID, Target] = {}

    def apply(
        self, hosts: Mapping[str, uuid.UUID] | None, targets: Mapping[uuid.UUID, Target | None]
    ) -> None:
        if hosts is not None:
            self._hosts = dict(hosts)
        for app_id, target in targets.items():
            if target is None:
                self._targets.pop(app_id, None)
            else:
                self._targets[app_id] = target

    def find(self, host: str) -> Target | None:
        app_id = self._hosts.get(host)
        return self._targets.get(app_id) if app_id is not None else None

    async def lookup(self, host: str) -> Target | None:
        return self.find(host)

    # A worker starts no processes of its own, but it is a RouteFeed all the same.
    def hosts(self) -> Mapping[str, uuid.UUID]:
        return self._hosts

    def target(self, app_id: uuid.UUID) -> Target | None:
        return self._targets.get(app_id)

    def watch(self, changed: Callable[[Collection[uuid.UUID] | None], None]) -> None:
        pass


class MirrorCertificates:
    """Apps' own certificates, loaded from the PEM the starting process sends."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[bytes, bytes], ssl.SSLContext] = {}
        self._hosts: dict[str, ssl.SSLContext] = {}

    def apply(self, pems: Mapping[str, tuple[bytes, bytes]]) -> None:
        loaded: dict[tuple[bytes, bytes], ssl.SSLContext] = {}
        hosts: dict[str, ssl.SSLContext] = {}
        for host, pem in pems.items():
            context = loaded.get(pem) or self._loaded.get(pem)
            if context is None:
                try:
                    context = pem_ssl_context(*pem)
                except (ssl.SSLError, ValueError) as exc:
                    logger.warning("the certificate for %s cannot be served: %s", host, exc)
                    continue
            loaded[pem] = hosts[host] = context
        self._loaded, self._hosts = loaded, hosts

    def certificate(self, host: str) -> ssl.SSLContext | None:
        return self._hosts.get(host)


class _Worker:
    def __init__(self, channel_fd: int, listen_fds: list[int]) -> None:
        self.channel_fd = channel_fd
        self.listen_fds = listen_fds
        self.routes = MirrorRoutes()
        self.certificates = MirrorCertificates()
        self.stop = asyncio.Event()
        self.config: asyncio.Future[WorkerConfig] = asyncio.get_running_loop().create_future()
        self.channel: Channel | None = None

    def received(self, message: Any) -> None:
        kind = message[0]
        if kind == "config" and not self.config.done():
            self.config.set_result(message[1])
        elif kind == "routes":
            self.routes.apply(message[1], message[2])
        elif kind == "certificates":
            self.certificates.apply(message[1])
        elif kind == "ping" and self.channel is not None:
            self.channel.send(("pong", message[1]))
        elif kind == "stop":
            self.stop.set()

    def lost(self) -> None:
        self.stop.set()
        if not self.config.done():
            self.config.cancel()

    def send_lines(self, lines: list[Line], dropped: int) -> None:
        if self.channel is not None:
            self.channel.send(("lines", lines, dropped))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        self.channel = Channel(self.received, self.lost)
        await self.channel.connect(socket.socket(fileno=self.channel_fd))
        config = await self.config
        router = Router(
            self.routes,
            _unused_log,
            affinity_key=config.affinity_key,
            certificates=self.certificates if config.certificates else None,
        )
        router.options = config.options
        router.send_lines = self.send_lines
        ssl_context = config.ssl_factory() if config.ssl_factory is not None else None
        sockets = [
            (scheme, socket.socket(fileno=fd))
            for scheme, fd in zip(config.schemes, self.listen_fds, strict=True)
        ]
        await router.serve(sockets, ssl_context)
        self.channel.send(("ready",))
        try:
            await self.stop.wait()
        finally:
            await router.stop()
            self.channel.close()


def _unused_log(_app_id: uuid.UUID, _line: str) -> None:
    """Lines go back over the channel (Router.send_lines), never here."""


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    channel_fd, *listen_fds = map(int, argv)

    async def run() -> None:
        await _Worker(channel_fd, listen_fds).run()

    uvloop.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
