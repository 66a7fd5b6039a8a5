"""Waking the runtime when the database holds something new for it.

Nudges reach a runtime in the same process directly and one in another process through a
datagram on a Unix socket in the data directory's `run/`; without either, the runtime still
finds the work by polling. A nudge is a hint only, never the work itself.

The socket lives in the private data directory rather than the abstract namespace, which
any process on the machine (a dyno included) could reach, list, or bind first to keep the
runtime from starting. Its path may be longer than a socket address holds (107 bytes), so
it is named through a descriptor of its directory. Which runtime owns the data directory
is settled by a lock beside it, held for the runtime's life.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tenku.config import Settings


class Wakeable(Protocol):
    settings: Settings

    def wake(self) -> None: ...


_local: weakref.WeakSet[Wakeable] = weakref.WeakSet()


SOCKET = "nudge"
LOCK = "runtime.lock"


def instance_name(settings: Settings) -> str:
    """A name for the installation, the same in every process that serves it."""
    digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:24]
    return "tenku-runtime-" + digest


def run_dir(settings: Settings) -> Path:
    return settings.data_dir / "run"


@contextlib.contextmanager
def _address(directory: Path) -> Iterator[str]:
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET}"
    finally:
        os.close(fd)


@dataclass
class Inbox:
    """The runtime's end: the socket nudges arrive on, and the lock that makes its holder
    the one runtime of the data directory."""

    sock: socket.socket
    lock: int

    @classmethod
    def open(cls, settings: Settings) -> Inbox | None:
        """None when another runtime holds the data directory."""
        directory = run_dir(settings)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            # A socket file left by a runtime that was killed outright: ours now.
            with contextlib.suppress(FileNotFoundError):
                (directory / SOCKET).unlink()
            with _address(directory) as address:
                sock.bind(address)
        except OSError:
            sock.close()
            os.close(lock)
            raise
        sock.setblocking(False)
        return cls(sock, lock)

    def close(self) -> None:
        self.sock.close()
        os.close(self.lock)


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
        _address(run_dir(settings)) as address,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.setblocking(False)
        sock.sendto(b"wake", address)
