"""`heroku logs` through the real CLI (SSE), a burst it tails whole, and heroku3's
plain-text log read."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Account, Heroku, LiveServer, plain
from tests.e2e.test_git_deploy import SAMPLES

pytestmark = [pytest.mark.e2e, pytest.mark.backend("postgresql")]


def set_config(api: httpx.Client, app: str, **changes: str) -> None:
    r = api.patch(f"/apps/{app}/config-vars", json=changes)
    assert r.status_code == 200, r.text


def test_logs_show_platform_lines(heroku: Heroku, app: str) -> None:
    heroku("config:set", "FOO=bar", "-a", app)
    _, out, _ = heroku("logs", "-a", app)
    lines = out.splitlines()
    assert any(
        line.endswith("heroku[api]: Set FOO config vars by owner@example.com") for line in lines
    ), out
    assert lines[-1].endswith("heroku[api]: Release v2 created by owner@example.com"), out

    _, out, _ = heroku("logs", "-n", "1", "-a", app)
    assert len(out.splitlines()) == 1
    assert out.strip().endswith("Release v2 created by owner@example.com")

    _, out, _ = heroku("logs", "-s", "app", "-a", app)
    assert out.strip() == ""


def wait_for(lines: queue.Queue[str], text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return
    pytest.fail(f"the tail never showed {text!r}: {seen}")


@contextlib.contextmanager
def tailing(heroku: Heroku, app: str) -> Iterator[queue.Queue[str]]:
    """`heroku logs --tail`, its output lines as they come."""
    proc = subprocess.Popen(
        heroku.argv("logs", "--tail", "-a", app),
        env=heroku.env(),
        cwd=heroku.home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(plain(line))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield lines
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()


def test_logs_tail(heroku: Heroku, app: str, api: httpx.Client) -> None:
    with tailing(heroku, app) as lines:
        # The backlog shows first, so the stream is open before the change is made.
        wait_for(lines, "Release v1 created by owner@example.com")
        set_config(api, app, TAILED="yes")
        wait_for(lines, "Set TAILED config vars by owner@example.com")


BURST = 10_000
PRINT = (
    "python3 -c \"import sys; sys.stdout.write(''.join('burst %d\\n' % i for i in range(10000)))\""
)


def test_logs_tail_gets_a_burst_of_a_one_off_whole(
    heroku: Heroku, app: str, api: httpx.Client, tmp_path: Path
) -> None:
    slug = api.post(f"/apps/{app}/slugs", json={"process_types": {"web": "python3 server.py"}})
    assert slug.status_code == 201, slug.text
    tarball = tmp_path / "slug.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(SAMPLES / "dyno-app", arcname="./app")
    put = api.put(
        httpx.URL(slug.json()["blob"]["url"]).raw_path.decode(), content=tarball.read_bytes()
    )
    assert put.status_code == 200, put.text
    r = api.post(f"/apps/{app}/releases", json={"slug": slug.json()["id"]})
    assert r.status_code == 201, r.text
    with tailing(heroku, app) as lines:
        wait_for(lines, "Release v2 created by owner@example.com")
        r = api.post(f"/apps/{app}/dynos", json={"command": PRINT, "attach": False})
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        got: list[str] = []
        deadline = time.monotonic() + 120
        while len(got) < BURST and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=1)
                m = re.match(rf"^\S+ (app|heroku)\[{re.escape(name)}\]: (.*)$", line)
                if m and m.group(1) == "app":
                    got.append(m.group(2))
                assert "Error L10" not in line, line
    assert got == [f"burst {i}" for i in range(BURST)]


# heroku3 fetches logplex_url with verify=False, as it always has.
@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_heroku3_get_log(server: LiveServer, owner: Account, app: str, api: httpx.Client) -> None:
    heroku3 = pytest.importorskip("heroku3")
    requests = pytest.importorskip("requests")
    set_config(api, app, H3="1")
    session = requests.Session()
    session.trust_env = False
    client = heroku3.api.Heroku(session=session)
    client._heroku_url = server.url
    assert client.authenticate(owner.key) is True
    try:
        log = client.app(app).get_log(lines=2)
    finally:
        session.close()
    assert log.splitlines()[0].endswith("heroku[api]: Set H3 config vars by owner@example.com")
    assert len(log.splitlines()) == 2
