"""Waking the runtime when the database holds something new for it.

Nudges reach a runtime in the same process directly and one in another process through a
datagram on an abstract Unix socket named after the data directory; without either, the
runtime still finds the work by polling. A nudge is a hint only, never the work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable
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


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; whether it was set.

    Unlike `asyncio.wait_for` on Python 3.11, a cancellation that arrives as the event is
    set is never lost, so a loop waiting here always stops when its task is cancelled.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


class Passes:
    """Runs `step` at once, then again on every `wake()` and at least every `interval`
    seconds, until `stop()`. A pass that fails is logged and the next one still runs;
    `after` runs after every pass, failed or not."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        interval: float,
        *,
        logger: logging.Logger,
        failure: str,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.logger = logger
        self.failure = failure
        self.after = after
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.logger.exception(self.failure)
            if self.after is not None:
                self.after()
            await wait_event(self._wake, self.interval)
            self._wake.clear()
