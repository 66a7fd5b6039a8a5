"""`tenku up` keeps its runtime running: one that dies is started again, with a line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tenku.config import Settings
from tenku.runtime.worker import Supervisor


def wait_for(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def settings_in(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite://")


def test_a_runtime_that_dies_is_started_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        spawned.append(subprocess.Popen(["sleep", "600"]))
        return spawned[-1]

    supervisor = Supervisor(settings_in(tmp_path), spawn)
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        supervisor.start()
        try:
            wait_for(lambda: len(spawned) == 1, "the first runtime")
            first = spawned[0]
            os.kill(first.pid, signal.SIGKILL)
            wait_for(lambda: len(spawned) == 2, "a second runtime")
            assert supervisor.restarts == 1
            assert spawned[1].poll() is None
        finally:
            supervisor.stop(grace=5)
    assert f"the runtime (pid {first.pid}) exited with status -9; starting it again" in caplog.text
    # Stopping ends the one running, and nothing is started after.
    assert spawned[1].poll() is not None
    assert len(spawned) == 2


def test_a_runtime_that_was_asked_to_stop_is_not_restarted(tmp_path: Path) -> None:
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        spawned.append(subprocess.Popen(["true"]))
        return spawned[-1]

    supervisor = Supervisor(settings_in(tmp_path), spawn)
    supervisor.start()
    supervisor._thread.join(30)
    assert not supervisor._thread.is_alive()
    assert len(spawned) == 1
    assert supervisor.restarts == 0
    supervisor.stop()
