"""A one-off dyno printing 10,000 lines at once, read by every kind of consumer.

A plain tail and an SSE tail over HTTP, a syslog drain and an HTTP drain, all keeping up:
each receives every line, in order, and no L10 line. Waits are upper bounds only.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.conftest import User
from tests.logs.test_drains import HTTP, SYSLOG, HttpReceiver, add_drain, syslog, unframe, until
from tests.runtime.conftest import Live
from tests.runtime.test_dynos import deployed

BURST = 10_000
WAIT = 120.0
PRINT = (
    "python3 -c \"import sys; sys.stdout.write(''.join('burst %d\\n' % i for i in range(10000)))\""
)
TAILED = re.compile(r"^\S+ app\[(run\.\d+)\]: (.*)$")


class HttpTail:
    """A log session read over HTTP as it comes, the way the CLI and heroku3 read it."""

    def __init__(self, live: Live, url: str, sse: bool) -> None:
        self.live = live
        self.url = url
        self.sse = sse
        self.lines: list[str] = []
        self.arrived = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        headers = {"Accept": "text/event-stream" if self.sse else "*/*"}
        path = httpx.URL(self.url).raw_path.decode()
        async with (
            httpx.AsyncClient(base_url=self.live.url, timeout=WAIT, trust_env=False) as http,
            http.stream("GET", path, headers=headers) as r,
        ):
            assert r.status_code == 200
            async for raw in r.aiter_lines():
                if self.sse and not raw.startswith("data: "):
                    continue
                self.lines.append(raw.removeprefix("data: ") if self.sse else raw)
                self.arrived.set()

    def app_lines(self, dyno: str) -> list[str]:
        out = []
        for line in self.lines:
            m = TAILED.match(line)
            if m and m.group(1) == dyno:
                out.append(m.group(2))
        return out

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def open_tail(live: Live, user: User, app: str, sse: bool) -> HttpTail:
    r = await user.post(f"/apps/{app}/log-sessions", json={"tail": True, "lines": 1})
    assert r.status_code == 201, r.text
    tail = HttpTail(live, r.json()["logplex_url"], sse)
    # The backlog line is out once the session has its position.
    await until(tail.arrived, lambda: bool(tail.lines), WAIT)
    return tail


async def test_a_burst_of_a_one_off_reaches_every_consumer_whole_and_in_order(
    live: Live, owner: User
) -> None:
    name = "burst"
    await deployed(live, owner, name)
    want = [f"burst {i}" for i in range(BURST)]
    http = HttpReceiver()
    server = await asyncio.start_server(http.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tails: list[HttpTail] = []
    try:
        async with syslog() as receiver:
            app: dict[str, Any] = {"name": name}
            await add_drain(owner, app, f"syslog://127.0.0.1:{receiver.port}")
            await add_drain(owner, app, f"http://127.0.0.1:{port}/logs")
            tails = [await open_tail(live, owner, name, sse) for sse in (False, True)]
            r = await owner.post(f"/apps/{name}/dynos", json={"command": PRINT, "attach": False})
            assert r.status_code == 201, r.text
            dyno = r.json()["name"]
            last = f"burst {BURST - 1}"
            for tail in tails:
                await until(tail.arrived, lambda t=tail: last in t.app_lines(dyno)[-1:], WAIT)

            def by_syslog() -> list[str]:
                return [
                    m.group(5).rstrip("\n")
                    for m in map(SYSLOG.match, receiver.frames)
                    if m and m.group(4) == dyno and m.group(3) == "app"
                ]

            def by_http() -> list[str]:
                found = []
                for _, _, body in http.requests:
                    for f in unframe(body):
                        m = HTTP.match(f.decode())
                        if m and m.group(3) == dyno and m.group(2) == "app":
                            found.append(m.group(4).rstrip("\n"))
                return found

            await until(receiver.arrived, lambda: last in by_syslog()[-1:], WAIT)
            await until(http.arrived, lambda: last in by_http()[-1:], WAIT)
            for tail in tails:
                assert tail.app_lines(dyno) == want
                assert not any("Error L10" in line for line in tail.lines)
            assert by_syslog() == want
            assert by_http() == want
    finally:
        for tail in tails:
            await tail.stop()
        server.close()
        await server.wait_closed()
