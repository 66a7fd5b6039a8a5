"""Messages between the router's processes, over a Unix socket pair.

Each message is a pickled tuple behind its length. Both ends are the router's own
processes, started by it with the pair's other socket, so nothing else can write to it.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

_LENGTH = struct.Struct("!I")
# A full route table of a large installation fits many times over.
MAX_MESSAGE = 256 * 1024 * 1024


class Channel(asyncio.Protocol):
    def __init__(self, received: Callable[[Any], None], lost: Callable[[], None]) -> None:
        self._received = received
        self._lost = lost
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    async def connect(self, sock: socket.socket) -> None:
        """Talk over `sock` (messages may arrive before this returns)."""
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: self, sock=sock)

    def send(self, message: Any) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        self.transport.writelines([_LENGTH.pack(len(data)), data])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._lost()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer)
            if length > MAX_MESSAGE:
                self.close()
                return
            end = _LENGTH.size + length
            if len(buffer) < end:
                return
            message = pickle.loads(buffer[_LENGTH.size : end])
            del buffer[:end]
            self._received(message)
