"""Child processes of the runtime: each in its own process group, killed as a group.

A buildpack may leave background processes behind, or ignore SIGTERM; killing the whole
group once the step is over (or timed out, or the runtime stops) leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

# Seconds a process group gets between SIGTERM and SIGKILL.
GRACE = 5.0
READ_CHUNK = 64 * 1024
MAX_PARTIAL = 16 * 1024

Sink = Callable[[str, str], None]


class StepTimeout(Exception):
    pass


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(proc: asyncio.subprocess.Process, grace: float = GRACE) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after `grace`."""
    kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), grace)
    kill_group(proc.pid, signal.SIGKILL)
    await proc.wait()


def _group_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields resume after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[2]) if len(fields) > 2 else None


def kill_leftovers(pgid: int, marker: str) -> int:
    """SIGKILL the processes of group `pgid` whose environment holds `marker`.

    Used for groups recorded by an earlier runtime that died: the group id may have been
    reused since, so only processes that carry the build's own marker are touched.
    """
    killed = 0
    needle = marker.encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _group_of(pid) != pgid:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ + b"\0":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


async def pump(stream: asyncio.StreamReader | None, name: str, sink: Sink) -> None:
    if stream is None:
        return
    partial = b""
    while chunk := await stream.read(READ_CHUNK):
        partial += chunk
        *lines, partial = partial.split(b"\n")
        for line in lines:
            sink(name, line.decode(errors="replace"))
        if len(partial) > MAX_PARTIAL:
            sink(name, partial.decode(errors="replace"))
            partial = b""
    if partial:
        sink(name, partial.decode(errors="replace"))


async def run(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    sink: Sink,
    limit: float,
    on_start: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Run one step, feeding each output line to `sink(stream, line)`; its exit status.

    Raises StepTimeout after `limit` seconds; on timeout or cancellation the process
    group is stopped before this returns.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    pumps = asyncio.gather(pump(proc.stdout, "STDOUT", sink), pump(proc.stderr, "STDERR", sink))
    try:
        if on_start is not None:
            await on_start(proc.pid)
        try:
            code = await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError as exc:
            await stop_group(proc)
            raise StepTimeout(argv[0]) from exc
    except BaseException:
        await asyncio.shield(stop_group(proc))
        pumps.cancel()
        with contextlib.suppress(BaseException):
            await pumps
        raise
    # Whatever the step left running in its group goes too; that also closes the pipes
    # such leftovers held open, so the readers reach the end.
    kill_group(proc.pid)
    try:
        await asyncio.wait_for(pumps, GRACE)
    except TimeoutError:
        pumps.cancel()
    return code


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _group_of(int(entry.name)) == pgid:
            pids.append(int(entry.name))
    return pids


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in the group."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in group_pids(pgid):
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        if len(fields) > 1:
            total += int(fields[1]) * page
    return total


def group_swap(pgid: int) -> int:
    """Swapped-out bytes of every process in the group."""
    total = 0
    for pid in group_pids(pgid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmSwap:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def listeners() -> dict[int, set[int]]:
    """Every listening TCP port on this machine (IPv4 and IPv6) and the uids of the sockets
    listening on it (more than one where several addresses are bound)."""
    owners: dict[int, set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # st == 0A is LISTEN; the eighth field is the owner's uid.
            if len(fields) > 7 and fields[3] == "0A":
                port = int(fields[1].rsplit(":", 1)[1], 16)
                owners.setdefault(port, set()).add(int(fields[7]))
    return owners


def listening_ports() -> set[int]:
    """Ports with a listening TCP socket on this machine (IPv4 and IPv6)."""
    return set(listeners())


def kill_marked(marker: str) -> int:
    """SIGKILL every process (of any group) whose environment holds `marker` exactly."""
    killed = 0
    needle = b"\0" + marker.encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ + b"\0":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed
