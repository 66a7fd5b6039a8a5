"""Periodic work in the runtime: a loop that runs a step at once, on a wake, or on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

# How often, at most, a loop that writes wake makes a pass while writes keep coming. Every
# write to the API wakes the runtime's loops (dynos, builds, setups, add-on calls, drains,
# promotions, transfers); a pass each, back to back, took a whole core of a busy API's
# machine. A wake after a quiet spell still runs a pass at once.
WAKE_GAP = 0.1


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
    `after` runs after every pass, failed or not.

    With `gap`, passes start at least `gap` seconds apart: wakes that arrive meanwhile
    make one pass between them, so a burst of writes costs a few passes, not one each.
    A wake after a quiet spell still runs a pass at once."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        interval: float,
        *,
        logger: logging.Logger,
        failure: str,
        after: Callable[[], None] | None = None,
        gap: float = 0.0,
    ) -> None:
        self.name = name
        self.gap = gap
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
            if self.gap:
                await asyncio.sleep(self.gap)
            await wait_event(self._wake, self.interval)
            self._wake.clear()


class Periodic:
    """A component whose work is one `Passes` loop, kept in `self._passes`: it starts,
    stops and wakes with it."""

    _passes: Passes

    def start(self) -> None:
        self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()

    def wake(self) -> None:
        self._passes.wake()
