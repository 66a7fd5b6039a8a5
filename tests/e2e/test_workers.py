"""Several API workers over one database answer exactly as one does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import V3, LiveServer, launch, throwaway_pg_database

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(throwaway_pg_database())
        # A small budget refills slowly (one request per 36 s), so what the test reads
        # from RateLimit-Remaining does not depend on how fast the machine is.
        budget = {"TENKU_RATE_LIMIT_PER_HOUR": "100"}
        yield stack.enter_context(launch(request.param, tmp_path, url, 2, budget))


async def test_concurrent_changes_across_workers(two_workers: LiveServer) -> None:
    key = two_workers.create_user("workers@example.com").key
    headers = {"Accept": V3, "Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=24, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=two_workers.url, headers=headers, limits=limits, timeout=60, trust_env=False
    ) as client:
        assert (await client.post("/apps", json={"name": "busy-app"})).status_code == 201
        changes = await asyncio.gather(
            *(client.patch("/apps/busy-app/config-vars", json={f"K{i}": str(i)}) for i in range(30))
        )
        assert [r.status_code for r in changes] == [200] * 30
        releases = (await client.get("/apps/busy-app/releases")).json()
        assert [r["version"] for r in releases] == list(range(1, 32))
        assert sum(r["current"] for r in releases) == 1
        config = (await client.get("/apps/busy-app/config-vars")).json()
        assert config == {f"K{i}": str(i) for i in range(30)}
        # The budget is the account's, not a worker's: it goes down by one per request,
        # whichever worker answers.
        seen = [
            int(r.headers["ratelimit-remaining"])
            for r in [await client.get("/account") for _ in range(6)]
        ]
        assert seen == sorted(seen, reverse=True)
        assert seen[0] - seen[-1] == 5


def _tcp_sockets() -> dict[str, tuple[int, int, str]]:
    """Every IPv4 TCP socket of the machine by inode: (local port, remote port, state)."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        found[inode] = (int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state)
    return found


def _socket_owners(group: int) -> dict[str, int]:
    """The inodes of the sockets the processes of a process group hold, with their pids."""
    owners = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != group:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owners[target[8:-1]] = int(proc.name)
        except OSError:
            continue
    return owners


async def test_each_worker_listens_and_connections_spread_over_them(tmp_path: Path) -> None:
    """Every worker listens on the ports with a socket of its own (SO_REUSEPORT), so the
    kernel hands new connections to all of them: a burst of keep-alive connections (a
    client's pool) is not all taken by the worker that woke first."""
    with launch("sqlite", tmp_path, None, 2) as live:
        # The server answers once one worker does; the other may still be starting.
        deadline = time.monotonic() + 60
        while True:
            owners = _socket_owners(live.pid)
            listeners = {
                owners[inode]
                for inode, (port, _, state) in _tcp_sockets().items()
                if port == live.http_port and state == "0A" and inode in owners
            }
            if len(listeners) == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert len(listeners) == 2
        streams = [await asyncio.open_connection("127.0.0.1", live.http_port) for _ in range(16)]
        try:
            for reader, writer in streams:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                await writer.drain()
                assert (await reader.readline()).startswith(b"HTTP/1.1 ")
            ours = {writer.get_extra_info("sockname")[1] for _, writer in streams}
            owners = _socket_owners(live.pid)
            serving = {
                owners[inode]
                for inode, (port, remote, _) in _tcp_sockets().items()
                if port == live.http_port and remote in ours and inode in owners
            }
        finally:
            for _, writer in streams:
                writer.close()
        # Sixteen connections all hashed to one of two workers: about 3 times in 100,000.
        assert len(serving) == 2
