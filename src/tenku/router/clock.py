"""One coarse timer per connection instead of a timeout object per read.

A proxy moves its deadlines on every chunk it forwards. Arming a loop timer each time
would cost more than the forwarding itself, so a `Deadline` only stores the new time when
it moves later; the one loop timer it holds fires at the old time, sees the deadline has
moved, and sleeps again until the new one. A deadline that moves earlier re-arms at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    __slots__ = ("_armed_at", "_at", "_callback", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._at: float | None = None
        self._armed_at = 0.0
        self._handle: asyncio.TimerHandle | None = None

    @property
    def at(self) -> float | None:
        return self._at

    def set(self, at: float) -> None:
        """Call back at loop time `at` (replacing any earlier setting)."""
        self._at = at
        if self._handle is None or at < self._armed_at:
            self._arm(at)

    def clear(self) -> None:
        """No deadline; the armed timer, if any, finds nothing to do when it fires."""
        self._at = None

    def cancel(self) -> None:
        """No deadline and no timer: for a connection that is gone."""
        self._at = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = at
        self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        at = self._at
        if at is None:
            return
        if self._loop.time() < at:
            self._arm(at)
            return
        self._at = None
        self._callback()
