"""The runtime itself: one build per app at a time, live streams, shutdown, crash recovery,
and memory that does not grow with the size of the source."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tenku.db.models import Build
from tenku.runtime.worker import Runtime
from tests.conftest import User
from tests.resources.build.test_streams import parse_events
from tests.runtime.conftest import Live, sample, sample_buildpack

# The runtime's own SQL (claims, sweeps, cursors) runs on PostgreSQL here; the rest of the
# live tests run on SQLite.
pytestmark = pytest.mark.backend("postgresql")


async def gated_app(live: Live, user: User, name: str) -> tuple[Path, Path]:
    """An app whose builds (with the gated buildpack) wait until `gate` exists."""
    await user.create_app(name)
    gate, pids = live.tmp / f"{name}.gate", live.tmp / f"{name}.pids"
    r = await user.patch(f"/apps/{name}/config-vars", json={"GATE": str(gate), "PIDS": str(pids)})
    assert r.status_code == 200
    return gate, pids


async def gated_build(live: Live, user: User, app: str) -> dict[str, Any]:
    url = await live.upload(user, app, sample("worker", live.tmp))
    return await live.build(
        user, app, source_blob={"url": url}, buildpacks=[{"url": sample_buildpack("gated")}]
    )


async def until(check: Any, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def gone(pids: list[int]) -> None:
    """The processes have ended: SIGKILL was sent, but a loaded machine may take a moment
    to schedule a process so that it dies."""

    async def check() -> bool:
        return not any(alive(pid) for pid in pids)

    await until(check, limit=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not looked yet.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rfind(")") + 2] != "Z"
    return False


def read_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()]


@pytest.mark.unsandboxed
async def test_builds_of_one_app_run_one_at_a_time(live: Live, owner: User) -> None:
    gate, pids = await gated_app(live, owner, "queue-app")
    first = await gated_build(live, owner, "queue-app")
    second = await gated_build(live, owner, "queue-app")

    async def started() -> bool:
        return pids.exists()

    await until(started)
    # Another app's build goes ahead meanwhile.
    await owner.create_app("queue-other")
    other = await live.deploy(owner, "queue-other", sample("worker", live.tmp))
    assert other["status"] == "succeeded"
    waiting = await live.pending_result(owner, "queue-app", second["id"])
    assert waiting["lines"] == []
    assert waiting["exit_code"] is None
    assert (await owner.get(f"/apps/queue-app/builds/{second['id']}")).json()["status"] == (
        "pending"
    )
    gate.touch()
    done_first = await live.wait(owner, "queue-app", first["id"])
    done_second = await live.wait(owner, "queue-app", second["id"])
    assert (done_first["status"], done_second["status"]) == ("succeeded", "succeeded")
    versions = [(r["version"], r["description"]) for r in (
        await owner.get("/apps/queue-app/releases")
    ).json()]  # fmt: skip
    assert [v for v, _ in versions] == [1, 2, 3, 4]


@pytest.mark.unsandboxed
async def test_output_streams_live_and_resumes(live: Live, owner: User) -> None:
    gate, _ = await gated_app(live, owner, "stream-live")
    build = await gated_build(live, owner, "stream-live")
    url = build["output_stream_url"]
    assert url.startswith(live.url + "/streams/builds/")
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        # Plain text: read while the build waits, drop the connection, resume by offset.
        received = b""
        async with client.stream("GET", url) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_bytes():
                received += chunk
                if b"Waiting at the gate" in received:
                    break
        # Server-Sent Events: the same, resumed by the last event id.
        events: list[tuple[str, str]] = []
        async with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as r:
            buffer = ""
            async for text in r.aiter_text():
                buffer += text
                *blocks, buffer = buffer.split("\n\n")
                events += parse_events("\n\n".join(blocks))
                if any("Waiting at the gate" in line for _, line in events):
                    break
        gate.touch()
        rest = await client.get(url, headers={"Range": f"bytes={len(received)}-"})
        assert rest.status_code == 206
        more = await client.get(
            url, headers={"Accept": "text/event-stream", "Last-Event-Id": events[-1][0]}
        )
    done = await live.wait(owner, "stream-live", build["id"])
    assert done["status"] == "succeeded"
    lines = (await owner.get(f"/apps/stream-live/builds/{build['id']}/result")).json()["lines"]
    whole = "".join(line["line"] for line in lines)
    assert (received + rest.content).decode() == whole
    resumed = events + parse_events(more.text)
    assert [int(i) for i, _ in resumed] == list(range(1, len(lines) + 1))
    assert [line for _, line in resumed] == [line["line"].rstrip("\n") for line in lines]


@pytest.mark.unsandboxed
async def test_stopping_the_runtime_fails_running_builds_and_kills_them(
    live: Live, owner: User
) -> None:
    _, pids = await gated_app(live, owner, "stop-app")
    build = await gated_build(live, owner, "stop-app")

    async def started() -> bool:
        return pids.exists()

    await until(started)
    running = read_pids(pids)
    assert all(alive(pid) for pid in running)
    await live.runtime.stop()
    await gone(running)
    done = (await owner.get(f"/apps/stop-app/builds/{build['id']}")).json()
    assert done["status"] == "failed"
    out = await live.output(owner, "stop-app", build["id"])
    assert "the platform is shutting down" in out
    assert len((await owner.get("/apps/stop-app/releases")).json()) == 2  # config vars


@pytest.mark.unsandboxed
async def test_a_build_interrupted_by_a_crash_fails_when_the_runtime_returns(
    live: Live, owner: User, db_url: str
) -> None:
    await live.runtime.stop()
    env = live.process_env()
    runtime = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tenku.cli",
        "runtime",
        "--data-dir",
        str(live.settings.data_dir),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        _, pids = await gated_app(live, owner, "crash-app")
        build = await gated_build(live, owner, "crash-app")

        async def started() -> bool:
            # The build runs, and the runtime has recorded its process group: the script
            # can write its pids before that commit lands, and a runtime killed in between
            # leaves its successor no group to clean up.
            if not pids.exists():
                return False
            async with live.api.database.session(write=False) as db:
                pgid = await db.scalar(select(Build.pgid).where(Build.id == uuid.UUID(build["id"])))
            return pgid is not None

        # A hang guard, not a timing: a runtime process that has just started (its router
        # processes and loops with it) took over a minute to start its first build while
        # the whole suite loaded this two-core machine.
        await until(started, limit=240)
    finally:
        runtime.kill()
        await runtime.wait()
    orphans = read_pids(pids)
    # Killed outright, the runtime could clean up nothing: its build processes live on.
    assert all(alive(pid) for pid in orphans)
    assert (await owner.get(f"/apps/crash-app/builds/{build['id']}")).json()["status"] == (
        "pending"
    )
    async with Runtime(live.settings, live.api.database):
        done = (await owner.get(f"/apps/crash-app/builds/{build['id']}")).json()
        assert done["status"] == "failed"
    await gone(orphans)
    result = (await owner.get(f"/apps/crash-app/builds/{build['id']}/result")).json()
    assert result["exit_code"] == 1
    assert "interrupted: the platform restarted" in result["lines"][-1]["line"]
    assert len((await owner.get("/apps/crash-app/releases")).json()) == 2  # config vars


def peak_rss_reset() -> int:
    """Reset the peak RSS counter; the current RSS, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") * 1024


def peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


async def test_a_50_mb_source_builds_in_bounded_memory(live: Live, owner: User) -> None:
    await owner.create_app("big-app")
    source = live.tmp / "big"
    source.mkdir()
    (source / "Procfile").write_text("worker: sleep 1000\n")
    with (source / "blob.bin").open("wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    tgz = live.tmp / "big.tgz"
    with tarfile.open(tgz, "w:gz", compresslevel=1) as tar:
        tar.add(source, arcname=".")
    assert tgz.stat().st_size > 50 * 1024 * 1024

    # This process is both the API (upload) and the runtime (build).
    before = peak_rss_reset()
    build = await live.deploy(owner, "big-app", tgz)
    growth = peak_rss() - before
    assert build["status"] == "succeeded", await live.output(owner, "big-app", build["id"])
    slug = (await owner.get(f"/apps/big-app/slugs/{build['slug']['id']}")).json()
    assert slug["size"] > 50 * 1024 * 1024
    assert growth < 20 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.1f} MiB"


@pytest.mark.unsandboxed
async def test_runtime_processes_do_not_outlive_a_timeout(live: Live, owner: User) -> None:
    _, pids = await gated_app(live, owner, "slow-app")
    live.runtime.build_settings.timeout = 3
    build = await gated_build(live, owner, "slow-app")
    done = await live.wait(owner, "slow-app", build["id"])
    assert done["status"] == "failed"
    assert "Timed out" in await live.output(owner, "slow-app", build["id"])
    await gone(read_pids(pids))


async def test_nudges_reach_a_runtime_in_another_process(live: Live, owner: User) -> None:
    # Same data directory, other process: the datagram wakes it long before it would poll.
    await live.runtime.stop()
    env = live.process_env()
    runtime = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, sys; from tenku.config import load_settings; "
        "from tenku.runtime import worker; worker.POLL_INTERVAL = 3600; "
        "asyncio.run(worker.serve(load_settings(data_dir=sys.argv[1])))",
        str(live.settings.data_dir),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        await owner.create_app("nudged")
        await asyncio.sleep(2)  # let it start listening
        build = await live.deploy(owner, "nudged", sample("worker", live.tmp))
        assert build["status"] == "succeeded"
    finally:
        with contextlib.suppress(ProcessLookupError):
            runtime.send_signal(signal.SIGTERM)
        assert await runtime.wait() == 0


async def test_one_runtime_per_data_directory(live: Live, owner: User) -> None:
    second = Runtime(live.settings, live.api.database)
    with pytest.raises(RuntimeError, match="already runs"):
        await second.start(exclusive=True)
    # The one that runs keeps its builds: nothing of theirs was failed or cleaned away.
    await owner.create_app("still-builds")
    build = await live.deploy(owner, "still-builds", sample("worker", live.tmp))
    assert build["status"] == "succeeded"
