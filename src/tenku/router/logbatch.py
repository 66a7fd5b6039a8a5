"""`heroku[router]` lines on their way to the apps' logs, handed over in batches.

A router line is made for every request. Handing each one over on its own (to the
runtime's log writer, or across a socket from a router process of its own) would cost
more than the request, so lines gather here and go every FLUSH seconds, or sooner once
MAX_BATCH are waiting. What waits is bounded: past MAX_WAITING lines are dropped and
counted, so a stalled consumer cannot grow the router's memory.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("tenku.router")

FLUSH = 0.05
MAX_BATCH = 1024
MAX_WAITING = 50_000

Line = tuple[uuid.UUID, str]


@dataclass
class LineStats:
    """What became of the lines: handed over (in how many batches), or dropped."""

    delivered: int = 0
    batches: int = 0
    dropped: int = 0

    def add(self, other: LineStats) -> None:
        self.delivered += other.delivered
        self.batches += other.batches
        self.dropped += other.dropped


class LineBatch:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, deliver: Callable[[list[Line]], None]
    ) -> None:
        self.loop = loop
        self.deliver = deliver
        self.stats = LineStats()
        self._lines: list[Line] = []
        self._handle: asyncio.TimerHandle | None = None

    def add(self, app_id: uuid.UUID, line: str) -> None:
        lines = self._lines
        if len(lines) >= MAX_WAITING:
            self.stats.dropped += 1
            return
        lines.append((app_id, line))
        if len(lines) >= MAX_BATCH:
            self.flush()
        elif self._handle is None:
            self._handle = self.loop.call_later(FLUSH, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        lines, self._lines = self._lines, []
        if not lines:
            return
        try:
            self.deliver(lines)
        except Exception:
            logger.exception("router log lines could not be handed over")
            self.stats.dropped += len(lines)
            return
        self.stats.delivered += len(lines)
        self.stats.batches += 1


def to_callback(log: Callable[[uuid.UUID, str], None]) -> Callable[[list[Line]], None]:
    """Deliver a batch to a per-line callback; one failing line does not lose the others."""

    def deliver(lines: list[Line]) -> None:
        for app_id, line in lines:
            try:
                log(app_id, line)
            except Exception:
                logger.exception("router log callback failed")

    return deliver
