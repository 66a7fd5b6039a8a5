"""Process helpers the benchmarks share: ports, the `tenku` command, stopping groups."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

HOST = "127.0.0.1"


def tenku_command() -> list[str]:
    script = Path(sys.executable).with_name("tenku")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tenku.cli"]


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on; held open together so that they differ."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def has_exited(pid: int) -> bool:
    """True once `pid` has exited, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a process started in a session of its own, and all it spawned.

    The leader stays unreaped until its group has been killed, so that the group
    id cannot be taken over by an unrelated process in between.
    """
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not has_exited(proc.pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Every live process's pid and the fields of its /proc/PID/stat after the command
    name (state, ppid, pgrp, session, ...: field 3 of proc(5) is the first)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow its last ")".
        yield int(entry.name), stat[stat.rfind(")") + 2 :].split()


def session_cpu_seconds(session: int) -> float:
    """CPU time used so far by the live processes of a session."""
    ticks = sum(
        int(fields[11]) + int(fields[12])
        for _, fields in process_stats()
        if int(fields[3]) == session
    )
    return ticks / os.sysconf("SC_CLK_TCK")


async def settled(session: int, *, idle: float = 0.1, limit: float = 120.0) -> float | None:
    """Wait until a session's processes use under `idle` of one CPU over a second; the
    seconds it took, or None if they were still busy after `limit` seconds. A server that
    has just started may still be doing its start-up work (the runtime's first pass over
    every app) and would compete with what is measured for the same CPUs."""
    started = time.monotonic()
    before = session_cpu_seconds(session)
    while time.monotonic() - started < limit:
        await asyncio.sleep(1.0)
        now = session_cpu_seconds(session)
        if now - before < idle:
            return time.monotonic() - started
        before = now
    return None


class SetupError(Exception):
    """The benchmark could not set up what it measures; printed without a traceback."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


async def cancelled_by_signals(work: Coroutine[Any, Any, None]) -> None:
    """Await `work`; a stop signal cancels it, which unwinds every await (killing any tool
    still running) before the caller's cleanups stop the servers."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signalled: list[int] = []

    def stop(signum: int) -> None:
        signalled.append(signum)
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        await work
    except asyncio.CancelledError:
        if signalled:
            raise KeyboardInterrupt(signal.Signals(signalled[0]).name) from None
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, interrupt)
    if signalled:
        raise KeyboardInterrupt(signal.Signals(signalled[0]).name)


def run_until_stopped(run: Callable[[], None]) -> int:
    """Run a benchmark; its exit status, with servers stopped on any stop signal."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    # Outside the event loop a stop signal raises at once. SIGINT is set too because
    # a shell ignores it in commands it starts in the background.
    for signum in STOP_SIGNALS:
        signal.signal(signum, interrupt)
    try:
        run()
    except SetupError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
    return 0
