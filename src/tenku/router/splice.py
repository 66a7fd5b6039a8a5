"""Large response bodies moved from a dyno's socket to its client's inside the kernel.

Forwarding a body through user space costs two copies per byte (the dyno's socket into
the read buffer, the buffer into the client's socket), and on a busy machine those copies
are most of what the router spends on a large response. With splice(2) the bytes go
from the dyno's socket into a pipe and from the pipe into the client's socket as
references to the same pages, and never reach Python.

Only the rest of a body with a Content-Length is spliced, once its head and what came
with it have gone out through the client's transport and nothing of them is left in its
write buffer, and only to plain HTTP clients (a TLS connection's bytes must be
encrypted in user space). Both transports stay as they are: the dyno's stops reading for
the body's duration, and the splice works on duplicates of the two descriptors, which
the event loop can watch where it would refuse the transports' own. When the body is
through, the dyno's transport reads again and both connections go on as before.

The pipe is filled only when empty and emptied before the next fill, so a wakeup always
means there is something to do: a pipe that refuses more bytes is never confused with a
dyno that has none. A pipe holds at most PIPE_SIZE, what the router would otherwise hold
in a slow client's write buffer; past that, the dyno waits in its socket buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
from collections.abc import Callable

AVAILABLE = sys.platform == "linux" and hasattr(os, "splice")
# Below this much of a body left, setting a splice up costs more than it saves.
SPLICE_MIN = 128 * 1024
# What a dyno connection reads at once until a response's head is parsed (see
# Upstream.get_buffer): most heads in one read, and little of a body.
HEAD_READ = 16 * 1024
# What a pipe holds: the router's response buffer per client (CLIENT_WRITE_BUFFER).
PIPE_SIZE = 1024 * 1024
# Empty pipes a router process keeps for the next bodies.
KEEP_PIPES = 16

_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


class Pipe:
    __slots__ = ("read", "size", "write")

    def __init__(self, read: int, write: int, size: int) -> None:
        self.read = read
        self.write = write
        self.size = size

    def close(self) -> None:
        os.close(self.read)
        os.close(self.write)


class Pipes:
    """A router process's pipes for splicing: an empty one is used again."""

    def __init__(self) -> None:
        self._free: list[Pipe] = []

    def take(self) -> Pipe | None:
        """A pipe, or None when none can be had (out of descriptors, say)."""
        if self._free:
            return self._free.pop()
        try:
            read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            size = fcntl.fcntl(write, _SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            # Over the system's or the user's limit for pipe memory: the pipe as it is.
            size = fcntl.fcntl(write, _GETPIPE_SZ)
        return Pipe(read, write, size)

    def give(self, pipe: Pipe, *, empty: bool) -> None:
        if empty and len(self._free) < KEEP_PIPES:
            self._free.append(pipe)
        else:
            pipe.close()

    def close(self) -> None:
        for pipe in self._free:
            pipe.close()
        self._free.clear()


class Splice:
    """The rest of one body, `left` bytes, from socket `source` to socket `sink`.

    `moved(n)` reports bytes taken from the dyno (for the log line and the timeouts),
    `ended(complete)` the end: the whole body went out, or the dyno's socket ended or
    failed first (whatever it held has gone to the client by then). A client that
    fails takes `client_failed()`; the splice then stops and waits to be cancelled.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipes: Pipes,
        pipe: Pipe,
        source: int,
        sink: int,
        left: int,
        *,
        moved: Callable[[int], None],
        ended: Callable[[bool], None],
        client_failed: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._pipes = pipes
        self._pipe = pipe
        self._source = os.dup(source)
        try:
            self._sink = os.dup(sink)
        except OSError:
            os.close(self._source)
            raise
        self.left = left
        # Bytes in the pipe, not yet in the client's socket.
        self.held = 0
        self._moved = moved
        self._ended = ended
        self._client_failed = client_failed
        self._dyno_done = False
        self._reading = False
        self._writing = False
        self._closed = False

    @property
    def waiting_on_client(self) -> bool:
        """Bytes are waiting for the client to take them (H28 if that lasts)."""
        return self.held > 0

    def start(self) -> None:
        self._pump()

    def cancel(self) -> None:
        """Stop, and let go of the descriptors; what the pipe held is dropped."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if self._reading:
            loop.remove_reader(self._source)
        if self._writing:
            loop.remove_writer(self._sink)
        os.close(self._source)
        os.close(self._sink)
        self._pipes.give(self._pipe, empty=not self.held)

    def _pump(self) -> None:
        if self._closed:
            return
        pipe = self._pipe
        taken = 0
        want_read = want_write = False
        while True:
            if not self.held:
                if not self.left or self._dyno_done:
                    break
                try:
                    n = os.splice(self._source, pipe.write, min(self.left, pipe.size), flags=_FLAGS)
                except BlockingIOError:
                    want_read = True
                    break
                except InterruptedError:
                    continue
                except OSError:
                    # Reset by the dyno: its transport finds out for itself (see _finish).
                    n = 0
                if not n:
                    self._dyno_done = True
                    continue
                self.left -= n
                self.held += n
                taken += n
            try:
                n = os.splice(pipe.read, self._sink, self.held, flags=_FLAGS)
            except BlockingIOError:
                want_write = True
                break
            except InterruptedError:
                continue
            except OSError:
                self._stop()
                if taken:
                    self._moved(taken)
                self._client_failed()
                return
            if not n:
                # Nothing taken though the pipe holds bytes: wait for room rather than spin.
                want_write = True
                break
            self.held -= n
        self._watch(want_read, want_write)
        if taken:
            self._moved(taken)
        if not self.held and (not self.left or self._dyno_done) and not self._closed:
            self._finish()

    def _watch(self, read: bool, write: bool) -> None:
        loop = self._loop
        if read != self._reading:
            self._reading = read
            if read:
                loop.add_reader(self._source, self._pump)
            else:
                loop.remove_reader(self._source)
        if write != self._writing:
            self._writing = write
            if write:
                loop.add_writer(self._sink, self._pump)
            else:
                loop.remove_writer(self._sink)

    def _stop(self) -> None:
        self._watch(False, False)

    def _finish(self) -> None:
        complete = not self.left
        self.cancel()
        self._ended(complete)


def descriptor(transport: asyncio.BaseTransport) -> int:
    """The socket descriptor under a plain TCP transport; -1 when it has none to splice."""
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None:
        return -1
    with contextlib.suppress(OSError, ValueError):
        fd: int = sock.fileno()
        return fd
    return -1
