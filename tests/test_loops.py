"""Passes: wakes that arrive during the gap after a pass make one pass, not one each."""

from __future__ import annotations

import asyncio
import logging

from tenku.loops import Passes

log = logging.getLogger(__name__)


class Counted:
    """A step that counts its runs and lets a test wait for the n-th."""

    def __init__(self) -> None:
        self.runs = 0
        self.ran = asyncio.Condition()

    async def __call__(self) -> None:
        async with self.ran:
            self.runs += 1
            self.ran.notify_all()

    async def reach(self, n: int) -> None:
        async with self.ran:
            await asyncio.wait_for(self.ran.wait_for(lambda: self.runs >= n), 10)


async def test_wakes_during_the_gap_make_one_pass() -> None:
    step = Counted()
    passes = Passes("test", step, 3600, logger=log, failure="failed", gap=0.2)
    passes.start()
    try:
        await step.reach(1)
        for _ in range(10):
            passes.wake()
            await asyncio.sleep(0)
        await step.reach(2)
        # The ten wakes were all taken by the second pass: nothing else is pending.
        await asyncio.sleep(0.5)
        assert step.runs == 2
    finally:
        await passes.stop()


async def test_without_a_gap_each_wake_after_a_pass_runs_another() -> None:
    step = Counted()
    passes = Passes("test", step, 3600, logger=log, failure="failed")
    passes.start()
    try:
        for n in range(1, 4):
            await step.reach(n)
            passes.wake()
        await step.reach(4)
    finally:
        await passes.stop()
