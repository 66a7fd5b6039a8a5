"""A deployed app that runs, driven by the real CLI: git push, ps, ps:scale, ps:restart,
ps:stop, run (attached, with -x), run:detached, logs, maintenance, and a Postgres add-on
read by the app through the router.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tarfile
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.addons.support import drop_pg
from tests.e2e.conftest import Heroku, LiveServer, json_of, launch, unique_app_name
from tests.e2e.test_git_deploy import PUSH_TIMEOUT, SAMPLES, cli_in, git

pytestmark = pytest.mark.e2e

WAIT = 90.0


def until(check: Callable[[], Any], what: str, limit: float = WAIT) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def states(api: httpx.Client, app: str) -> dict[str, str]:
    return {d["name"]: d["state"] for d in json_of(api.get(f"/apps/{app}/dynos"))}


def routed(server: LiveServer, app: str, path: str = "/") -> httpx.Response:
    with httpx.Client(timeout=60, trust_env=False) as client:
        return client.get(
            f"http://127.0.0.1:{server.router_port}{path}",
            headers={"Host": f"{app}.tenku.localhost"},
        )


@pytest.fixture(scope="module")
def running(
    heroku: Heroku, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An app pushed with git, its web dyno up: one per backend for the whole module, so
    every test leaves it as it found it (one `web.1`, up)."""
    name = unique_app_name("run")
    heroku("apps:create", name)
    try:
        repo = tmp_path_factory.mktemp("running") / "repo"
        shutil.copytree(SAMPLES / "python-db", repo)
        git(heroku, repo, "init", "-q", "-b", "main")
        git(heroku, repo, "add", "-A")
        git(heroku, repo, "commit", "-q", "-m", "first")
        cli_in(heroku, repo, "git:remote", "-a", name)
        out = git(heroku, repo, "push", "heroku", "main", timeout=PUSH_TIMEOUT)
        assert "remote: Verifying deploy... done." in out
        try:
            until(lambda: states(api, name) == {"web.1": "up"}, "web.1 up")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{heroku('logs', '-a', name, '-n', '200')[1]}") from exc
        yield name
    finally:
        for addon in json_of(api.get(f"/apps/{name}/addons")):
            api.request("DELETE", f"/apps/{name}/addons/{addon['id']}", json={"force": True})
            drop_pg(uuid.UUID(addon["id"]))
        api.delete(f"/apps/{name}")


def test_ps_scale_restart_and_the_router(
    heroku: Heroku, api: httpx.Client, server: LiveServer, running: str
) -> None:
    app = running
    r = routed(server, app)
    assert r.status_code == 200
    assert r.text == "hello from web.1\n"

    _, out, _ = heroku("ps", "-a", app)
    assert "=== web (Standard-1X): python app.py (1)" in out
    assert re.search(r"^web\.1: up ", out, re.M), out

    _, _, err = heroku("ps:scale", "web=2", "worker=1", "-a", app)
    assert "now running" in err
    until(
        lambda: states(api, app) == {"web.1": "up", "web.2": "up", "worker.1": "up"},
        "three dynos up",
    )
    _, out, _ = heroku("ps", "-a", app)
    assert re.search(r"^web\.2: up ", out, re.M), out
    assert re.search(r"^worker\.1: up ", out, re.M), out
    assert {routed(server, app).text for _ in range(30)} == {
        "hello from web.1\n",
        "hello from web.2\n",
    }

    before = {d["name"]: d["updated_at"] for d in json_of(api.get(f"/apps/{app}/dynos"))}
    heroku("ps:restart", "web", "-a", app)

    def webs_restarted() -> bool:
        now = {d["name"]: d for d in json_of(api.get(f"/apps/{app}/dynos"))}
        webs = [now[n] for n in ("web.1", "web.2")]
        return all(d["state"] == "up" and d["updated_at"] != before[d["name"]] for d in webs)

    until(webs_restarted, "web dynos restarted")
    _, out, _ = heroku("logs", "-a", app, "-n", "1500")
    assert "heroku[web.1]: Restarting" in out
    assert "heroku[web.2]: State changed from starting to up" in out
    assert re.search(r"app\[worker\.1\]: working on worker\.1", out), out
    assert 'heroku[router]: at=info method=GET path="/"' in out
    assert "heroku[api]: Scale to web=2, worker=1 by owner@example.com" in out

    for args in (("web.1",), ()):
        # One dyno, then everything.
        names = ("web.1",) if args else ("web.1", "web.2", "worker.1")
        stamp = {d["name"]: d["updated_at"] for d in json_of(api.get(f"/apps/{app}/dynos"))}
        heroku("ps:restart", *args, "-a", app)

        def restarted(names: tuple[str, ...] = names, stamp: dict[str, str] = stamp) -> bool:
            now = {d["name"]: d for d in json_of(api.get(f"/apps/{app}/dynos"))}
            return all(now[n]["state"] == "up" and now[n]["updated_at"] != stamp[n] for n in names)

        until(restarted, f"ps:restart {' '.join(args)}")
    _, out, _ = heroku("logs", "-a", app, "-n", "200", "--dyno", "web.1")
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, out
    assert all("[web.1]:" in line for line in lines), out
    assert any("heroku[web.1]: Restarting" in line for line in lines), out

    heroku("ps:stop", "worker.1", "-a", app)
    until(
        lambda: (
            "heroku[worker.1]: Stopping all processes with SIGTERM"
            in heroku("logs", "-a", app, "-n", "1500")[1]
        ),
        "worker stopped",
    )
    until(lambda: states(api, app).get("worker.1") == "up", "the formation brings it back")

    heroku("maintenance:on", "-a", app)
    until(lambda: routed(server, app).status_code == 503, "maintenance page")
    assert "Offline for Maintenance" in routed(server, app).text
    heroku("maintenance:off", "-a", app)
    until(lambda: routed(server, app).status_code == 200, "back in service")

    heroku("ps:scale", "web=1", "worker=0", "-a", app)
    until(lambda: states(api, app) == {"web.1": "up"}, "scaled down")


def test_run_attached_and_detached(heroku: Heroku, api: httpx.Client, running: str) -> None:
    app = running
    code, out, _ = heroku(
        "run", "-a", app, "-x", "--", 'echo "one-off on $DYNO"; (exit 3)', check=False
    )
    assert code == 3, out
    found = re.search(r"one-off on (run\.\d+)", out)
    assert found, out
    attached = found.group(1)

    code, out, _ = heroku("run", "-a", app, "--no-tty", "--", "cat", input="piped in\n")
    assert code == 0
    assert "piped in" in out

    _, out, err = heroku("run:detached", "-a", app, "--", "echo detached-hello")
    found = re.search(r"(run\.\d+)", out + err)
    assert found, out + err
    detached = found.group(1)

    def logged() -> str | None:
        _, out, _ = heroku("logs", "-a", app, "-n", "1500")
        return out if f"heroku[{detached}]: State changed from up to complete" in out else None

    text = until(logged, "the detached run to finish")
    assert f"app[{detached}]: detached-hello" in text
    assert f"heroku[{attached}]: Process exited with status 0" in text
    assert f"heroku[{attached}]: State changed from up to complete" in text
    until(lambda: set(states(api, app)) == {"web.1"}, "one-offs gone from ps")


@pytest.mark.backend("postgresql")
def test_push_scale_and_a_database_through_the_router(
    heroku: Heroku, api: httpx.Client, server: LiveServer, running: str
) -> None:
    """The smoke test of the backend the other live tests do not run on: a git push (the
    fixture's), an add-on database, two web dynos serving it through the router."""
    app = running
    heroku("addons:create", "heroku-postgresql:hobby-dev", "-a", app)
    assert "DATABASE_URL" in json_of(api.get(f"/apps/{app}/config-vars"))

    def visits() -> str | None:
        r = routed(server, app, "/db")
        return r.text if r.status_code == 200 else None

    assert until(visits, "the app to see DATABASE_URL") == "visits 1\n"
    assert routed(server, app, "/db").text == "visits 2\n"
    heroku("ps:scale", "web=2", "-a", app)
    until(lambda: states(api, app) == {"web.1": "up", "web.2": "up"}, "two web dynos up")
    seen = {routed(server, app, "/db").text for _ in range(20)}
    assert seen == {f"visits {n}\n" for n in range(3, 23)}
    assert {routed(server, app).text for _ in range(30)} == {
        "hello from web.1\n",
        "hello from web.2\n",
    }
    heroku("ps:scale", "web=1", "-a", app)
    until(lambda: states(api, app) == {"web.1": "up"}, "scaled down")


def test_run_bash_is_interactive_on_a_terminal(heroku: Heroku, running: str) -> None:
    """`heroku run bash` on a real terminal: raw keystrokes up, a remote pty of our size."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = subprocess.Popen(
        heroku.argv("run", "bash", "-a", running),
        env=heroku.env(),
        cwd=heroku.home,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = b""

    def read_until(needle: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + WAIT
        while needle not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(controller, 65536)
                except OSError:
                    break
        assert needle in seen, seen.decode(errors="replace")

    try:
        read_until(b"up, run.")
        os.write(controller, b"echo interactive-$((6*7)) on $DYNO; stty size\r")
        read_until(b"interactive-42 on run.")
        read_until(b"33 101")
        os.write(controller, b"exit\r")
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(controller)


def _serves(server: LiveServer, app: str) -> bool:
    try:
        return routed(server, app).status_code == 200
    except httpx.TransportError:
        return False


def _client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={
            "Accept": "application/vnd.heroku+json; version=3",
            "Authorization": f"Bearer {key}",
        },
        timeout=60,
        trust_env=False,
    )


def _sandbox_process(entry: Path) -> bool:
    """bubblewrap's own processes around a sandboxed dyno (its monitor and its init)."""
    try:
        return (entry / "comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def _dyno_pids(dynos_dir: Path) -> set[int]:
    """Processes whose environment places them under `dynos_dir` (any dyno of the app),
    without the sandbox's own."""
    found = set()
    needle = str(dynos_dir).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and not _sandbox_process(entry):
            try:
                if needle in (entry / "environ").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _tenku_pids(data_dir: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"tenku" in cmdline and str(data_dir).encode() in cmdline:
                if _sandbox_process(entry):
                    continue
                pids.append(int(entry.name))
    return pids


def _two_web_dynos(server: LiveServer, key: str, tmp_path: Path, prefix: str) -> dict[str, Any]:
    """An app of the sample dyno app with two web dynos up."""
    with _client(server, key) as api:
        app = json_of(api.post("/apps", json={"name": unique_app_name(prefix)}))
        slug = json_of(
            api.post(
                f"/apps/{app['name']}/slugs",
                json={"process_types": {"web": "python3 server.py"}},
            )
        )
        tarball = tmp_path / "slug.tgz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(SAMPLES / "dyno-app", arcname="./app")
        put = api.put(
            httpx.URL(slug["blob"]["url"]).raw_path.decode(), content=tarball.read_bytes()
        )
        assert put.status_code == 200, put.text
        r = api.post(f"/apps/{app['name']}/releases", json={"slug": slug["id"]})
        assert r.status_code == 201, r.text
        r = api.patch(f"/apps/{app['name']}/formation/web", json={"quantity": 2})
        assert r.status_code == 200, r.text
        until(lambda: states(api, app["name"]) == {"web.1": "up", "web.2": "up"}, "two dynos")
    return app


def _runtime_pid(data_dir: Path) -> int | None:
    for pid in _tenku_pids(data_dir):
        with contextlib.suppress(OSError):
            if b"runtime" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                return pid
    return None


def _back_with_new_dynos(
    server: LiveServer, key: str, app: dict[str, Any], before: set[int]
) -> None:
    """The app routed again by two `up` web dynos, processes of their own: none of the
    killed ones (`before`) still runs, and none runs twice."""
    dynos_dir = server.data_dir / "dynos" / app["id"]
    with _client(server, key) as api:
        # The rows may still say `up` until the new runtime has recovered: wait for traffic
        # and for two dynos that are not the killed ones.
        until(lambda: _serves(server, app["name"]), "routed again")
        until(lambda: states(api, app["name"]) == {"web.1": "up", "web.2": "up"}, "back up")
        until(lambda: len(_dyno_pids(dynos_dir) - before) == 2, "two new dynos")
    now = _dyno_pids(dynos_dir)
    assert not (now & before), "processes of the killed dynos still run"
    # One process per dyno: bash hands over to the command (`exec`).
    assert len(now) == 2, now


def test_a_killed_runtime_is_started_again_and_brings_the_dynos_back(tmp_path: Path) -> None:
    """`kill -9` of the runtime alone: `tenku up` starts another, which replaces the dead
    one's dynos (none left over, none twice) and routes again."""
    root = tmp_path / "tenku"
    root.mkdir()
    with launch("sqlite", root) as server:
        key = server.create_user("supervised@example.com").key
        app = _two_web_dynos(server, key, tmp_path, "supervised")
        dynos_dir = server.data_dir / "dynos" / app["id"]
        before = _dyno_pids(dynos_dir)
        assert len(before) >= 2
        runtime = _runtime_pid(server.data_dir)
        assert runtime is not None
        os.kill(runtime, signal.SIGKILL)
        until(lambda: _runtime_pid(server.data_dir) not in (None, runtime), "another runtime")
        assert "exited with status -9; starting it again" in server.log_tail(400)
        _back_with_new_dynos(server, key, app, before)


def test_killed_tenku_comes_back_with_its_dynos_and_no_orphans(tmp_path: Path) -> None:
    """`tenku up` killed outright (API and runtime), then started again on its data."""
    root = tmp_path / "tenku"
    root.mkdir()
    with launch("sqlite", root) as first:
        key = first.create_user("restart@example.com").key
        app = _two_web_dynos(first, key, tmp_path, "back")
        dynos_dir = first.data_dir / "dynos" / app["id"]
        before = _dyno_pids(dynos_dir)
        assert len(before) >= 2
        for pid in _tenku_pids(first.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with launch("sqlite", root) as second:
        _back_with_new_dynos(second, key, app, before)
