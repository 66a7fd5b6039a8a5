"""Dynos as real processes: formation, crashes, restarts, the router, preboot, one-offs.

Every test runs a live Tenku (API, runtime, router on loopback ports) and real dyno
processes from a slug; waits are upper bounds only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import ssl
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tenku.db.models import Dyno
from tenku.runtime import procs
from tenku.runtime.local import LocalScheduler
from tests.conftest import User
from tests.runtime.conftest import SAMPLES, Live

APP_DIR = SAMPLES / "dyno-app"
TYPES = {
    "web": "python3 server.py",
    "worker": 'while true; do echo "tick $DYNO"; sleep 1; done',
}
WAIT = 60.0


async def until(check: Callable[[], Awaitable[Any]], what: str, limit: float = WAIT) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def local(live: Live) -> LocalScheduler:
    assert live.runtime.dynos is not None
    sched = live.runtime.dynos.scheduler
    assert isinstance(sched, LocalScheduler)
    return sched


async def dynos(user: User, app: str) -> dict[str, dict[str, Any]]:
    r = await user.get(f"/apps/{app}/dynos")
    assert r.status_code in (200, 206), r.text
    return {d["name"]: d for d in r.json()}


async def states(user: User, app: str) -> dict[str, str]:
    return {name: d["state"] for name, d in (await dynos(user, app)).items()}


async def all_up(user: User, app: str, names: set[str]) -> bool:
    now = await states(user, app)
    return set(now) == names and all(s == "up" for s in now.values())


async def logs(live: Live, app_id: str) -> str:
    from tenku.db.models import LogLine
    from tenku.logs.store import format_line

    async with live.api.database.session(write=False) as db:
        rows = (
            await db.execute(
                select(LogLine).where(LogLine.app_id == uuid.UUID(app_id)).order_by(LogLine.id)
            )
        ).scalars()
        return "\n".join(format_line(row) for row in rows)


async def pgid_of(live: Live, app_id: str, name: str) -> int | None:
    async with live.api.database.session(write=False) as db:
        row = (
            await db.execute(
                select(Dyno).where(Dyno.app_id == uuid.UUID(app_id), Dyno.name == name)
            )
        ).scalar_one_or_none()
        return row.pgid if row else None


def alive(pgid: int) -> bool:
    """Whether any process of the group still runs. A zombie runs nothing: bubblewrap's
    init inside a sandbox is reaped by the machine's init a moment after the dyno ends."""
    for pid in procs.group_pids(pgid):
        with contextlib.suppress(OSError):
            if "State:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                return True
    return False


async def get(live: Live, app: str, path: str = "/", **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.router_url, timeout=60, trust_env=False) as c:
        return await c.get(path, headers={"Host": live.host(app), **kw.pop("headers", {})}, **kw)


async def deployed(live: Live, owner: User, name: str, **config: str) -> dict[str, Any]:
    app: dict[str, Any] = await owner.create_app(name)
    if config:
        r = await owner.patch(f"/apps/{name}/config-vars", json=config)
        assert r.status_code == 200, r.text
    await live.release_slug(owner, name, APP_DIR, TYPES)
    return app


async def test_formation_runs_routes_and_scales(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-scale", GREETING="hello")
    await until(lambda: all_up(owner, "dyno-scale", {"web.1"}), "web.1 up")
    r = await get(live, "dyno-scale", headers={"X-Forwarded-For": "10.0.0.1"})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["dyno"] == "web.1"
    assert seen["profile"] == "yes"
    assert seen["greeting"] == "hello"
    assert seen["home"] == seen["cwd"]
    assert seen["headers"]["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert len(seen["headers"]["x-request-id"]) >= 20

    r = await owner.patch(
        "/apps/dyno-scale/formation",
        json={"updates": [{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]},
    )
    assert r.status_code == 200, r.text
    await until(
        lambda: all_up(owner, "dyno-scale", {"web.1", "web.2", "worker.1"}), "three dynos up"
    )
    served = set()
    for _ in range(40):
        served.add((await get(live, "dyno-scale")).json()["dyno"])
    assert served == {"web.1", "web.2"}

    text = await until(
        lambda: _has(live, app["id"], "app[worker.1]: tick worker.1"), "worker output"
    )
    assert "heroku[web.1]: Starting process with command `python3 server.py`" in text
    assert "heroku[web.1]: State changed from starting to up" in text
    assert 'heroku[router]: at=info method=GET path="/" host=dyno-scale.' in text
    assert "heroku[api]: Scale to web=2, worker=1 by owner@example.com" in text

    web2 = await pgid_of(live, app["id"], "web.2")
    assert web2 is not None
    assert alive(web2)
    r = await owner.patch("/apps/dyno-scale/formation/web", json={"quantity": 1})
    assert r.status_code == 200
    await until(lambda: all_up(owner, "dyno-scale", {"web.1", "worker.1"}), "scaled down")
    await until(lambda: _false(alive(web2)), "web.2 processes gone")
    text = await until(
        lambda: _has(live, app["id"], "heroku[web.2]: Process exited with status 0"), "exit"
    )
    assert "heroku[web.2]: Stopping all processes with SIGTERM" in text


async def _has(live: Live, app_id: str, needle: str) -> str | None:
    text = await logs(live, app_id)
    return text if needle in text else None


async def _false(value: bool) -> bool:
    return not value


async def test_crash_restarts_and_config_change_restarts(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-crash", GREETING="one")
    await until(lambda: all_up(owner, "dyno-crash", {"web.1"}), "web.1 up")
    first = await pgid_of(live, app["id"], "web.1")
    assert first is not None
    os.killpg(first, signal.SIGKILL)
    text = await until(
        lambda: _has(live, app["id"], "heroku[web.1]: State changed from crashed to starting"),
        "restart after crash",
    )
    assert "heroku[web.1]: Process exited with status 137" in text
    assert "heroku[web.1]: State changed from up to crashed" in text

    async def restarted() -> bool:
        pgid = await pgid_of(live, app["id"], "web.1")
        return pgid not in (None, first) and await all_up(owner, "dyno-crash", {"web.1"})

    await until(restarted, "a new web.1")
    assert (await get(live, "dyno-crash")).json()["greeting"] == "one"

    r = await owner.patch("/apps/dyno-crash/config-vars", json={"GREETING": "two"})
    assert r.status_code == 200

    async def greets_two() -> bool:
        r = await get(live, "dyno-crash")
        return r.status_code == 200 and r.json()["greeting"] == "two"

    await until(greets_two, "the new config")
    # Log lines reach the store a moment after they happen.
    await until(lambda: _has(live, app["id"], "heroku[web.1]: Restarting"), "the restart logged")


async def test_web_that_never_binds_is_killed_with_r10(live: Live, owner: User) -> None:
    sched = local(live)
    sched.opts = dataclasses.replace(sched.opts, boot_timeout=1.5, cooloff=3600)
    app = await owner.create_app("dyno-r10")
    await live.release_slug(owner, "dyno-r10", APP_DIR, {"web": "sleep 1000"})
    text = await until(
        lambda: _has(live, app["id"], "heroku[web.1]: State changed from starting to crashed"),
        "R10",
    )
    assert (
        "heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT "
        "within 1 seconds of launch" in text
    )
    assert "heroku[web.1]: Stopping process with SIGKILL" in text
    assert "heroku[web.1]: Process exited with status 137" in text
    # The first boot crash restarts at once; the second waits out the cool-off.
    await until(
        lambda: _count(live, app["id"], "State changed from starting to crashed", 2),
        "second crash",
    )
    assert (await states(owner, "dyno-r10")) == {"web.1": "crashed"}
    r = await get(live, "dyno-r10")
    assert r.status_code == 503
    assert "Application Error" in r.text
    text = await until(lambda: _has(live, app["id"], 'code=H10 desc="App crashed"'), "H10")


async def _count(live: Live, app_id: str, needle: str, count: int) -> bool:
    return (await logs(live, app_id)).count(needle) >= count


async def test_maintenance_and_restart_leave_the_right_dynos(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-maint")
    r = await owner.patch(
        "/apps/dyno-maint/formation",
        json={"updates": [{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]},
    )
    assert r.status_code == 200
    names = {"web.1", "web.2", "worker.1"}
    await until(lambda: all_up(owner, "dyno-maint", names), "dynos up")
    assert (await owner.patch("/apps/dyno-maint", json={"maintenance": True})).status_code == 200

    async def in_maintenance() -> bool:
        r = await get(live, "dyno-maint")
        return r.status_code == 503 and "Offline for Maintenance" in r.text

    await until(in_maintenance, "maintenance page")
    assert (await owner.patch("/apps/dyno-maint", json={"maintenance": False})).status_code == 200
    await until(lambda: _ok(live, "dyno-maint"), "back in service")
    # The router's lines reach the store with the runtime's next flush.
    await until(lambda: _has(live, app["id"], 'code=H80 desc="Maintenance mode"'), "the H80 line")

    before = {n: await pgid_of(live, app["id"], n) for n in names}
    r = await owner.delete("/apps/dyno-maint/dynos")
    assert r.status_code == 202

    async def all_new() -> bool:
        now = {n: await pgid_of(live, app["id"], n) for n in names}
        return all(now[n] not in (None, before[n]) for n in names) and await all_up(
            owner, "dyno-maint", names
        )

    await until(all_new, "every dyno restarted")
    for pgid in before.values():
        assert pgid is not None
        await until(lambda p=pgid: _false(alive(p)), f"old group {pgid} gone")
    assert await states(owner, "dyno-maint") == dict.fromkeys(names, "up")

    # One type only.
    workers = await pgid_of(live, app["id"], "worker.1")
    webs = {n: await pgid_of(live, app["id"], n) for n in ("web.1", "web.2")}
    r = await owner.delete("/apps/dyno-maint/formations/worker")
    assert r.status_code == 202

    async def worker_new() -> bool:
        return await pgid_of(live, app["id"], "worker.1") not in (None, workers)

    await until(worker_new, "worker restarted")
    assert {n: await pgid_of(live, app["id"], n) for n in ("web.1", "web.2")} == webs


async def _ok(live: Live, app: str) -> bool:
    return (await get(live, app)).status_code == 200


async def test_preboot_switches_without_dropping_requests(live: Live, owner: User) -> None:
    await deployed(live, owner, "dyno-preboot", GREETING="old")
    r = await owner.patch("/apps/dyno-preboot/features/preboot", json={"enabled": True})
    assert r.status_code == 200, r.text
    await until(lambda: all_up(owner, "dyno-preboot", {"web.1"}), "web.1 up")
    results: list[tuple[int, str | None]] = []
    stop = asyncio.Event()

    async def hammer() -> None:
        async with httpx.AsyncClient(base_url=live.router_url, timeout=60, trust_env=False) as c:
            while not stop.is_set():
                r = await c.get("/", headers={"Host": live.host("dyno-preboot")})
                results.append(
                    (r.status_code, r.json()["greeting"] if r.status_code == 200 else r.text)
                )

    task = asyncio.create_task(hammer())
    try:
        r = await owner.patch("/apps/dyno-preboot/config-vars", json={"GREETING": "new"})
        assert r.status_code == 200
        await until(lambda: _true(any(g == "new" for _, g in results)), "the new release served")
        await asyncio.sleep(1)
    finally:
        stop.set()
        await task
    assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:3]
    greetings = [g for _, g in results]
    switched = greetings.index("new")
    assert set(greetings[:switched]) == {"old"}
    assert set(greetings[switched:]) == {"new"}


async def _true(value: bool) -> bool:
    return value


async def test_detached_one_off_writes_to_the_log(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-run")
    r = await owner.post(
        "/apps/dyno-run/dynos",
        json={"command": 'echo "hello from $DYNO"; exit 3', "attach": False},
    )
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert r.json()["attach_url"] is None
    text = await until(
        lambda: _has(live, app["id"], f"heroku[{name}]: State changed from up to complete"),
        "one-off done",
    )
    assert f"app[{name}]: hello from {name}" in text
    assert f"heroku[{name}]: Process exited with status 3" in text
    await until(lambda: _missing(owner, "dyno-run", name), "one-off row gone")


async def _missing(user: User, app: str, name: str) -> bool:
    return name not in await dynos(user, app)


async def _attach(live: Live, attach_url: str, send: bytes) -> tuple[bytes, bytes]:
    """Speak rendezvous like the CLI: the first chunk, then everything else."""
    url = httpx.URL(attach_url.replace("rendezvous://", "https://"))
    ctx = ssl.create_default_context(cafile=str(live.ca))
    reader, writer = await asyncio.open_connection(url.host, url.port, ssl=ctx)
    writer.write(url.path.lstrip("/").encode() + b"\r\n")
    await writer.drain()
    first = await asyncio.wait_for(reader.read(65536), WAIT)
    writer.write(send)
    await writer.drain()
    rest = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return first, rest


async def test_attached_one_off_through_rendezvous(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-attach", GREETING="hi")
    r = await owner.post(
        "/apps/dyno-attach/dynos",
        json={
            "command": 'read line; echo "got $line $GREETING on $DYNO"; '
            'echo "\uffff heroku-command-exit-status: 7"',
            "attach": True,
            "force_no_tty": True,
        },
    )
    assert r.status_code == 201, r.text
    dyno = r.json()
    assert dyno["attach_url"].startswith(f"rendezvous://127.0.0.1:{live.settings.rendezvous_port}/")
    first, rest = await _attach(live, dyno["attach_url"], b"input\n\x04")
    assert first == b"rendezvous\r\n"
    out = rest.decode()
    assert f"got input hi on {dyno['name']}" in out
    assert "\uffff heroku-command-exit-status: 7" in out
    text = await until(
        lambda: _has(live, app["id"], f"heroku[{dyno['name']}]: State changed from up to complete"),
        "attached run complete",
    )
    assert f"heroku[{dyno['name']}]: Starting process with command" in text


async def test_runtime_restart_leaves_no_orphans(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-orphans")
    await until(lambda: all_up(owner, "dyno-orphans", {"web.1"}), "web.1 up")
    pgid = await pgid_of(live, app["id"], "web.1")
    assert pgid is not None
    marker = local(live).opts.marker
    # A process an earlier runtime left behind, outside any group this runtime knows.
    stray = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(600)",
        env={**os.environ, marker[0]: marker[1]},
        start_new_session=True,
    )  # fmt: skip
    await live.runtime.stop()
    assert not alive(pgid)
    await live.runtime.start()
    try:
        await asyncio.wait_for(stray.wait(), WAIT)

        async def back() -> bool:
            new = await pgid_of(live, app["id"], "web.1")
            return new not in (None, pgid) and await all_up(owner, "dyno-orphans", {"web.1"})

        await until(back, "web.1 back after the restart")
        assert (await get(live, "dyno-orphans")).status_code == 200
    finally:
        if stray.returncode is None:
            stray.kill()
            await stray.wait()


async def test_memory_over_quota_is_logged_then_killed(live: Live, owner: User) -> None:
    sched = local(live)
    sched.opts = dataclasses.replace(sched.opts, memory_interval=0.3, memory_quota_mb=40)
    app = await owner.create_app("dyno-memory")
    r = await owner.patch("/apps/dyno-memory/features/log-runtime-metrics", json={"enabled": True})
    assert r.status_code == 200, r.text
    grow = (
        "import sys, time; held = bytearray(int(sys.argv[1]) * 1024 * 1024); "
        "print('holding', flush=True); time.sleep(600)"
    )
    await live.release_slug(
        owner,
        "dyno-memory",
        APP_DIR,
        {"worker": f'python3 -c "{grow}" 50', "hog": f'python3 -c "{grow}" 100'},
    )
    r = await owner.patch(
        "/apps/dyno-memory/formation",
        json={"updates": [{"type": "worker", "quantity": 1}, {"type": "hog", "quantity": 1}]},
    )
    assert r.status_code == 200, r.text
    text = await until(
        lambda: _has(live, app["id"], "heroku[worker.1]: Error R14 (Memory quota exceeded)"), "R14"
    )
    assert "heroku[worker.1]: Process running mem=" in text
    text = await until(
        lambda: _has(live, app["id"], "heroku[hog.1]: Process exited with status 137"), "R15"
    )
    assert "heroku[hog.1]: Error R15 (Memory quota vastly exceeded)" in text
    assert "heroku[hog.1]: Stopping process with SIGKILL" in text
    assert "heroku[worker.1]: Error R15" not in text
    # log-runtime-metrics: Heroku's two sample lines per dyno and interval.
    sample_re = (
        r"heroku\[worker\.1\]: source=worker\.1 dyno=heroku\.([0-9a-f-]+)\.[0-9a-f-]{36} "
        r"sample#memory_total=([\d.]+)MB sample#memory_rss=([\d.]+)MB "
        r"sample#memory_cache=[\d.]+MB sample#memory_swap=[\d.]+MB "
        r"sample#memory_quota=40\.00MB"
    )

    async def whole_allocation_sampled() -> str | None:
        # A sample (and R14) may come while the 50 MB are still being written; a later
        # one sees all of it.
        text = await logs(live, app["id"])
        found = re.findall(sample_re, text)
        return text if any(float(rss) >= 50 for _, _, rss in found) else None

    text = await until(whole_allocation_sampled, "a sample of the whole allocation")
    samples = re.findall(sample_re, text)
    assert {app_id for app_id, _, _ in samples} == {app["id"]}
    assert re.search(
        r"heroku\[worker\.1\]: source=worker\.1 dyno=\S+ sample#load_avg_1m=[\d.]+ "
        r"sample#load_avg_5m=[\d.]+ sample#load_avg_15m=[\d.]+",
        text,
    )

    # One-off dynos are held to their size's quota too, and report their metrics.
    hold = grow.replace("time.sleep(600)", "time.sleep(5)")
    r = await owner.post(
        "/apps/dyno-memory/dynos", json={"command": f'python3 -c "{hold}" 50', "attach": False}
    )
    assert r.status_code == 201, r.text
    run = r.json()["name"]
    text = await until(
        lambda: _has(live, app["id"], f"heroku[{run}]: Error R14 (Memory quota exceeded)"),
        "one-off R14",
    )
    assert f"heroku[{run}]: source={run} dyno=heroku.{app['id']}." in text
    await until(
        lambda: _has(live, app["id"], f"heroku[{run}]: Process exited with status 0"),
        "one-off done",
    )


async def test_one_off_time_to_live_and_stop(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-ttl")
    r = await owner.post("/apps/dyno-ttl/dynos", json={"command": "sleep 600", "time_to_live": 1})
    assert r.status_code == 201, r.text
    ttl = r.json()["name"]
    r = await owner.post("/apps/dyno-ttl/dynos", json={"command": "sleep 600"})
    stopped = r.json()["name"]
    await until(lambda: _up(owner, "dyno-ttl", stopped), "the second one-off up")
    r = await owner.post(f"/apps/dyno-ttl/dynos/{stopped}/actions/stop")
    assert r.status_code == 202
    for name in (ttl, stopped):
        await until(
            lambda n=name: _has(live, app["id"], f"heroku[{n}]: State changed from up to complete"),
            f"{name} ended",
        )
    text = await logs(live, app["id"])
    assert f"heroku[{ttl}]: Process exited with status 143" in text
    assert f"heroku[{stopped}]: Stopping all processes with SIGTERM" in text
    await until(lambda: _missing(owner, "dyno-ttl", stopped), "rows gone")


async def _up(user: User, app: str, name: str) -> bool:
    return (await states(user, app)).get(name) == "up"


def _processes_under(root: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if root.encode() in environ:
            found.append(int(entry.name))
    return found


async def test_dynos_stopped_while_starting_leave_nothing_behind(live: Live, owner: User) -> None:
    app = await deployed(live, owner, "dyno-churn")
    r = await owner.patch(
        "/apps/dyno-churn/formation",
        json={"updates": [{"type": "web", "quantity": 3}, {"type": "worker", "quantity": 2}]},
    )
    assert r.status_code == 200
    r = await owner.post("/apps/dyno-churn/dynos", json={"command": "sleep 600"})
    assert r.status_code == 201
    await asyncio.sleep(0.3)
    assert (await owner.delete("/apps/dyno-churn")).status_code == 200
    root = str(live.settings.data_dir / "dynos" / app["id"])
    await until(lambda: _true(not _processes_under(root)), "every dyno process gone")
    await until(lambda: _true(not Path(root).exists()), "the app's dyno directories gone")
    assert _processes_under(root) == []


async def test_a_dyno_that_cannot_start_says_why_in_the_app_s_log(live: Live, owner: User) -> None:
    """A slug that is no tarball: the formation's dyno and a one-off each log Heroku's R99
    line with the reason; the formation's dyno is crashed (and restarted with cool-off)."""
    app = await owner.create_app("dyno-r99")
    r = await owner.post("/apps/dyno-r99/slugs", json={"process_types": TYPES})
    assert r.status_code == 201, r.text
    slug = r.json()
    put = await live.api.http.put(
        httpx.URL(slug["blob"]["url"]).raw_path.decode(), content=b"this is not a tarball"
    )
    assert put.status_code == 200, put.text
    r = await owner.post("/apps/dyno-r99/releases", json={"slug": slug["id"]})
    assert r.status_code == 201, r.text
    reason = "Error R99 (Platform error) -> the slug is not a readable tarball"
    text = await until(lambda: _has(live, app["id"], f"heroku[web.1]: {reason}"), "web.1's R99")
    assert str(live.settings.data_dir) not in text
    await until(
        lambda: _has_state(owner, "dyno-r99", "web.1", "crashed"), "web.1 crashed", limit=WAIT
    )
    r = await owner.post("/apps/dyno-r99/dynos", json={"command": "echo hi", "attach": False})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    await until(lambda: _has(live, app["id"], f"heroku[{name}]: {reason}"), "the one-off's R99")


async def _has_state(user: User, app: str, name: str, state: str) -> bool:
    return (await states(user, app)).get(name) == state
