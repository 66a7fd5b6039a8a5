"""After a protocol switch (WebSockets): raw bytes both ways between client and dyno.

The bytes are no longer HTTP, so neither side parses them. A byte in either direction
keeps both alive for the idle timeout, as on Heroku, so a client that only listens stays
connected while the app talks. Either side closing closes both.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenku.router.client import ClientConnection
    from tenku.router.upstream import Upstream
    from tenku.router.wire import Chunk


class Tunnel:
    def __init__(self, client: ClientConnection, upstream: Upstream, idle_timeout: float) -> None:
        self.client = client
        self.upstream = upstream
        self.idle_timeout = idle_timeout
        self.loop = client.loop
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self._touch()
        if not client.writable:
            upstream.pause()

    def from_client(self, data: bytes) -> None:
        self.upstream.write(data)
        self._touch()

    def from_dyno(self, data: Chunk) -> None:
        self.client.write(data)
        self._touch()

    def client_writable(self, writable: bool) -> None:
        if writable:
            self.upstream.resume()
        else:
            self.upstream.pause()

    def dyno_writable(self, writable: bool) -> None:
        if writable:
            self.client.resume("dyno")
        else:
            self.client.pause("dyno")

    def expired(self) -> None:
        self.close()

    def close(self) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        self.upstream.close()
        self.client.close()

    def _touch(self) -> None:
        self.client.deadline.set(self.loop.time() + self.idle_timeout)
