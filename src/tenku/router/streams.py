"""HTTP/1.1 over asyncio streams, one h11 state machine per socket.

The router sits between two connections, each framed independently: h11 parses what
arrives and serializes what is sent, so a body arriving chunked from one side can leave
with a Content-Length or close-delimited on the other without the router handling
framing itself.
"""

from __future__ import annotations

import asyncio
from typing import cast

import h11

CHUNK = 65536
# How long a closing connection may take to say goodbye (TLS close_notify) before its
# socket is simply dropped.
CLOSE_GRACE = 2.0


class PeerGone(Exception):
    """The other end closed or reset the connection while we were writing to it."""


class HttpStream:
    """One socket and its h11 connection."""

    def __init__(
        self,
        role: type[h11.CLIENT] | type[h11.SERVER],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_head: int,
    ) -> None:
        self.conn = h11.Connection(role, max_incomplete_event_size=max_head)
        self.reader = reader
        self.writer = writer
        # Whether the peer ever sent a byte: tells "closed without response" (H13)
        # from "closed mid-response" (H18).
        self.received_any = False
        self.eof = False

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        """The next h11 event, reading from the socket as needed.

        An EOF in the middle of a message surfaces as h11's RemoteProtocolError with
        `eof` set, which is how callers tell a peer that hung up from one that sent
        garbage.
        """
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return cast("h11.Event | type[h11.PAUSED]", event)
            await self._receive()

    async def _receive(self) -> None:
        try:
            data = await self.reader.read(CHUNK)
        except OSError:
            # A reset or a broken TLS session ends the conversation as surely as a FIN.
            data = b""
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if data:
            self.received_any = True
        else:
            self.eof = True
        self.conn.receive_data(data)

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            await self.write(data)

    async def write(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise PeerGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except OSError as exc:
            raise PeerGone from exc

    async def wait_for_hangup(self, limit: int) -> None:
        """Return when the peer closes its side of the connection.

        Used while the peer has nothing more to say (its request is complete), to
        notice a client giving up. Whatever it does send meanwhile (a pipelined next
        request) is kept in h11's buffer for later; past `limit` bytes this stops
        reading, so a client cannot make the router buffer without bound.
        """
        taken = 0
        while taken < limit:
            try:
                data = await self.reader.read(CHUNK)
            except OSError:
                data = b""
            self._feed(data)
            if not data:
                return
            taken += len(data)
        await asyncio.Event().wait()

    async def close(self) -> None:
        writer = self.writer
        writer.close()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
            raise


async def splice(a: HttpStream, b: HttpStream, idle_timeout: float) -> None:
    """Copy raw bytes both ways until either side closes or nothing moves for a while.

    Used after a protocol switch (WebSockets): the bytes are no longer HTTP, so they
    bypass h11. A byte in either direction keeps both directions alive, as on Heroku,
    so a client that only listens stays connected while the app talks.
    """
    loop = asyncio.get_running_loop()
    last = loop.time()

    async def copy(src: HttpStream, dst: HttpStream) -> None:
        nonlocal last
        while True:
            try:
                data = await src.reader.read(CHUNK)
            except OSError:
                return
            if not data:
                return
            last = loop.time()
            try:
                await dst.write(data)
            except PeerGone:
                return
            last = loop.time()

    tasks = [asyncio.create_task(copy(a, b)), asyncio.create_task(copy(b, a))]
    try:
        while True:
            remaining = last + idle_timeout - loop.time()
            if remaining <= 0:
                return
            done, _ = await asyncio.wait(
                tasks, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if done:
                return
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
