"""Waking the runtime when the database holds something new for it.

Nudges reach a runtime in the same process directly and one in another process through a
datagram on an abstract Unix socket named after the data directory; without either, the
runtime still finds the work by polling. A nudge is a hint only, never the work itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import weakref
from typing import Protocol

from tenku.config import Settings


class Wakeable(Protocol):
    settings: Settings

    def wake(self) -> None: ...


_local: weakref.WeakSet[Wakeable] = weakref.WeakSet()


def socket_name(settings: Settings) -> bytes:
    digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:24]
    return b"\0tenku-runtime-" + digest.encode()


def register(runtime: Wakeable) -> None:
    _local.add(runtime)


def unregister(runtime: Wakeable) -> None:
    _local.discard(runtime)


def nudge(settings: Settings) -> None:
    """Tell the runtime that builds or dynos may have changed (best effort)."""
    woke = False
    for runtime in list(_local):
        if runtime.settings.data_dir == settings.data_dir:
            runtime.wake()
            woke = True
    if woke:
        return
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.setblocking(False)
        sock.sendto(b"wake", socket_name(settings))
