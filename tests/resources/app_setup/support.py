"""App setups in tests: tarballs with an app.json, served on 127.0.0.1, and the steps the
runtime performs, run from the test."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tenku.runtime.setups import Outcome, SetupPerformer
from tests.conftest import ApiClient, User


def tarball(
    dest: Path,
    files: Mapping[str, str | bytes],
    top: str | None = None,
    executable: frozenset[str] = frozenset(),
) -> Path:
    """A gzipped tarball of `files` (path -> content), at its root or under `top/`."""
    with tarfile.open(dest, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            info.mode = 0o755 if name in executable else 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return dest


def app_tarball(dest: Path, manifest: Any, **files: str) -> Path:
    """An app whose Procfile runs a worker, with `manifest` as its app.json."""
    contents: dict[str, str] = {
        "Procfile": "worker: while true; do echo working; sleep 5; done\n",
        **files,
    }
    if manifest is not None:
        contents["app.json"] = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return tarball(dest, contents)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TarballServer:
    """Serves a directory over HTTP on 127.0.0.1, as a repository host would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = partial(_Quiet, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def add(self, manifest: Any, **files: str) -> str:
        """A new app tarball with this app.json; its URL."""
        name = f"app-{uuid.uuid4().hex[:8]}.tgz"
        app_tarball(self.root / name, manifest, **files)
        return self.url(name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def serving(root: Path) -> Iterator[TarballServer]:
    root.mkdir(parents=True, exist_ok=True)
    server = TarballServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def create_setup(user: User, url: str, **body: Any) -> dict[str, Any]:
    r = await user.post("/app-setups", json={"source_blob": {"url": url}, **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    assert data["status"] == "pending"
    return data


async def drive(performer: SetupPerformer, setup_id: str) -> Outcome:
    """What the runtime does for the setup until it must wait (or the setup is over)."""
    return await performer.advance(uuid.UUID(setup_id))


async def drive_until(
    performer: SetupPerformer, user: User, setup_id: str, check: Any, limit: float = 60
) -> dict[str, Any]:
    """Advance the setup, letting other work (a partner's call back) run in between, until
    `check(body)` holds; the setup's body then."""
    deadline = time.monotonic() + limit
    while True:
        await drive(performer, setup_id)
        body = await setup_body(user, setup_id)
        if check(body):
            return body
        assert time.monotonic() < deadline, f"the setup did not get there: {body}"
        await asyncio.sleep(0.1)


async def setup_body(user: User, setup_id: str) -> dict[str, Any]:
    r = await user.get(f"/app-setups/{setup_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def performer_for(api: ApiClient) -> SetupPerformer:
    """The runtime's performer, sharing the API's blob store, signer and add-on registry."""
    ctx = api.app.state.ctx
    return SetupPerformer(ctx.settings, api.database, ctx.blobs, ctx.signer, ctx.addons)
