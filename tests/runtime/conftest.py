"""A live Tenku in the test's event loop: the API on a loopback port and the build runtime.

Builds, git pushes and streams go over real TCP and real processes. The server runs in
this process (so that memory can be measured where the work happens), which means every
client process a test starts must be awaited asynchronously, never with subprocess.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.runtime.worker import Runtime
from tenku.serving import Listener, uvicorn_config
from tests.conftest import LOOPBACK, V3, ApiClient, User, serving_app, uid_base, wipe
from tests.ports import free_ports

SAMPLES = Path(__file__).parent / "samples"
BUILD_WAIT = 240.0


def tarball(source: Path, dest: Path, top: str | None = None) -> Path:
    """`source` as a gzipped tarball, its files at the root or under `top/`."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            tar.add(path, arcname=f"{top}/{rel}" if top else rel, recursive=False)
    return dest


def sample(name: str, dest_dir: Path, top: str | None = None) -> Path:
    return tarball(SAMPLES / name, dest_dir / f"{name}.tgz", top)


def sample_buildpack(name: str) -> str:
    return (SAMPLES / "buildpacks" / name).as_uri()


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str


async def run(
    *argv: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, limit: float = 300
) -> Proc:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Proc(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


@dataclass
class Live:
    api: ApiClient
    url: str
    settings: Settings
    runtime: Runtime
    tmp: Path

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.settings.port}"

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.router_port}"

    def host(self, app: str) -> str:
        return f"{app}.{self.settings.base_domain}"

    async def release_slug(
        self, user: User, app: str, source: Path, process_types: Mapping[str, str]
    ) -> dict[str, Any]:
        """Release `source` as a slug (`./app/...`) with these process types; the release."""
        r = await user.post(f"/apps/{app}/slugs", json={"process_types": dict(process_types)})
        assert r.status_code == 201, r.text
        slug = r.json()
        path = tarball(source, self.tmp / f"slug-{uuid.uuid4().hex[:8]}.tgz", top="./app")
        parts = httpx.URL(slug["blob"]["url"])
        put = await self.api.http.put(
            parts.raw_path.decode(), content=await asyncio.to_thread(path.read_bytes)
        )
        assert put.status_code == 200, put.text
        r = await user.post(f"/apps/{app}/releases", json={"slug": slug["id"]})
        assert r.status_code == 201, r.text
        release: dict[str, Any] = r.json()
        return release

    def process_env(self) -> dict[str, str]:
        """The environment a `tenku runtime` of this installation in another process needs."""
        return {
            **os.environ,
            "TENKU_DATABASE_URL": self.settings.database_url,
            "TENKU_ALLOW_PRIVATE_TARGETS": ",".join(self.settings.allow_private_targets),
            "TENKU_LOCAL_SOURCE_DIRS": os.pathsep.join(map(str, self.settings.local_source_dirs)),
            "TENKU_SANDBOX": self.settings.sandbox,
            "TENKU_SANDBOX_UID_BASE": str(self.settings.sandbox_uid_base),
            "TENKU_ROUTER_PROCESSES": str(self.settings.router_processes),
        }

    @property
    def ca(self) -> Path:
        return self.settings.data_dir / "tls" / "ca.pem"

    async def upload(self, user: User, app: str, path: Path) -> str:
        """Upload a tarball the way the CLI does; its GET URL."""
        blob = (await user.post(f"/apps/{app}/sources")).json()["source_blob"]

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(1 << 16):
                    yield chunk

        size = await asyncio.to_thread(os.path.getsize, path)
        r = await self.api.http.put(
            blob["put_url"], content=chunks(), headers={"Content-Length": str(size)}
        )
        assert r.status_code == 200, r.text
        url: str = blob["get_url"]
        return url

    async def build(self, user: User, app: str, **body: Any) -> dict[str, Any]:
        r = await user.post(f"/apps/{app}/builds", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        assert data["status"] == "pending"
        return data

    async def wait(self, user: User, app: str, build_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + BUILD_WAIT
        while time.monotonic() < deadline:
            r = await user.get(f"/apps/{app}/builds/{build_id}")
            data: dict[str, Any] = r.json()
            if data["status"] != "pending":
                return data
            await asyncio.sleep(0.2)
        raise AssertionError(f"build {build_id} did not finish")

    async def deploy(self, user: User, app: str, path: Path, **source: Any) -> dict[str, Any]:
        url = await self.upload(user, app, path)
        build = await self.build(user, app, source_blob={"url": url, **source})
        return await self.wait(user, app, build["id"])

    async def pending_result(self, user: User, app: str, build_id: str) -> dict[str, Any]:
        """The result of a build that may still run, read around the reference check: the
        reference types exit_code as a number, documenting finished builds only."""
        r = await self.api.http.get(
            f"/apps/{app}/builds/{build_id}/result",
            headers={"Accept": V3, "Authorization": f"Bearer {user.token}"},
        )
        assert r.status_code == 200
        data: dict[str, Any] = r.json()
        return data

    async def output(self, user: User, app: str, build_id: str) -> str:
        r = await user.get(f"/apps/{app}/builds/{build_id}/result")
        return "".join(line["line"] for line in r.json()["lines"])

    async def slug_files(self, user: User, app: str, slug_id: str) -> dict[str, tarfile.TarInfo]:
        """The slug's entries by name, downloaded through its blob URL."""
        slug = (await user.get(f"/apps/{app}/slugs/{slug_id}")).json()
        dest = self.tmp / f"slug-{slug_id}.tgz"
        async with self.api.http.stream("GET", slug["blob"]["url"]) as r:
            assert r.status_code == 200
            with dest.open("wb") as f:
                async for chunk in r.aiter_bytes():
                    f.write(chunk)
        with tarfile.open(dest) as tar:
            return {m.name: m for m in tar.getmembers()}

    async def unpack_slug(self, user: User, app: str, slug_id: str) -> Path:
        """Unpack the slug somewhere no build ever ran, as a dyno would."""
        await self.slug_files(user, app, slug_id)
        home = self.tmp / f"dyno-{uuid.uuid4().hex[:8]}"
        home.mkdir()
        await run(
            "tar", "-C", str(home), "--strip-components=2", "-xzf",
            str(self.tmp / f"slug-{slug_id}.tgz"),
        )  # fmt: skip
        return home


@pytest.fixture
async def live(
    database: Database, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Live]:
    await wipe(database)
    port, https_port, router_port, router_https_port, rendezvous_port = free_ports(5)
    # Tests that watch a build's processes from outside (files they write, the pids they
    # see) run them unsandboxed; everything else runs as it would for users.
    unsandboxed = request.node.get_closest_marker("unsandboxed") is not None
    settings = Settings(
        sandbox="off" if unsandboxed else "auto",
        sandbox_uid_base=uid_base(),
        allow_private_targets=LOOPBACK,
        local_source_dirs=(SAMPLES, tmp_path),
        addon_unsafe_admin=True,
        data_dir=tmp_path / "data",
        database_url=db_url,
        port=https_port,
        http_port=port,
        router_port=router_port,
        router_https_port=router_https_port,
        rendezvous_port=rendezvous_port,
        # One router process, not one per CPU: another would start (and import Tenku) for
        # every test here. The router's own processes are tested in tests/router, and the
        # end-to-end servers run the installation's default.
        router_processes=1,
    )
    settings.data_dir.mkdir()
    app = serving_app(settings, database)
    plain = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    # HTTPS on settings.port, as `tenku up` serves it (the CA is under the data dir).
    tls = uvicorn_config(settings, Listener(settings.port, tls=True), app, lifespan=False)
    tls.log_level = "warning"
    tls.timeout_graceful_shutdown = 5
    servers = [uvicorn.Server(plain), uvicorn.Server(tls)]
    serving = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        for task in serving:
            if task.done():
                task.result()
        await asyncio.sleep(0.01)
    runtime = Runtime(settings, database, poll_interval=0.5)
    await runtime.start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120, trust_env=False) as http:
            yield Live(ApiClient(http, database), url, settings, runtime, tmp_path)
    finally:
        await runtime.stop()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*serving)
        # Their lifespan is off: write the budget the app spent, as its shutdown would.
        await app.state.ctx.ratelimiter.close()


@pytest.fixture
async def owner(live: Live) -> User:
    return await live.api.user("owner@example.com")


@pytest.fixture
async def stranger(live: Live) -> User:
    return await live.api.user("stranger@example.com")


def git_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Tester",
        "GIT_AUTHOR_EMAIL": "tester@example.com",
        "GIT_COMMITTER_NAME": "Tester",
        "GIT_COMMITTER_EMAIL": "tester@example.com",
    }


async def git_repo(source: Path, dest: Path, env: Mapping[str, str]) -> Path:
    shutil.copytree(source, dest)
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "first")):
        done = await run("git", *args, cwd=dest, env=env)
        assert done.returncode == 0, done.stderr
    return dest
