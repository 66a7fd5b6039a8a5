"""git over smart HTTP at `<api>/<app>.git`, one bare repository per app.

The machine's `git http-backend` (CGI) serves the repositories. Pushes are deployed by
each repository's pre-receive hook (`tenku.runtime.hook`): it builds the pushed commit
through the ordinary build pipeline and prints the build's output, which git relays to the
pusher as `remote:` lines while the build runs; a failed build fails the hook, and git
then rejects the push. Repositories are named by app id, so renaming an app keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tenku.config import Settings
from tenku.resources.app.access import declare, get_app
from tenku.web.deps import app_context, authenticate
from tenku.web.docs import BASIC_CREDENTIALS, answers, merged
from tenku.web.errors import Unauthorized

log = logging.getLogger("tenku.git")
router = APIRouter()

REALM = 'Basic realm="Tenku"'
CHUNK = 1 << 16
HOOK = """#!/bin/sh
# Deploys pushes to main or master; written by Tenku.
exec {python} -m tenku.runtime.hook
"""
# Pipes of pushes whose client went away: drained so the hook (and the deploy) can finish.
_detached: set[asyncio.Task[None]] = set()


def repos_root(settings: Settings) -> Path:
    return settings.data_dir / "repos"


def repo_path(settings: Settings, app_id: uuid.UUID) -> Path:
    return repos_root(settings) / f"{app_id}.git"


def _git_env(settings: Settings) -> dict[str, str]:
    root = repos_root(settings)
    return {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        # Keep the operator's own git configuration out of the platform's repositories.
        "HOME": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }


def _write_hook(repo: Path) -> None:
    hook = repo / "hooks" / "pre-receive"
    text = HOOK.format(python=shlex.quote(sys.executable))
    if hook.is_file() and hook.read_text() == text:
        return
    hook.parent.mkdir(parents=True, exist_ok=True)
    tmp = hook.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(hook)


async def _git(args: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {err.decode(errors='replace')}")


async def ensure_repo(settings: Settings, app_id: uuid.UUID) -> Path:
    repo = repo_path(settings, app_id)
    env = _git_env(settings)
    if not (repo / "HEAD").is_file():
        await asyncio.to_thread(repo.parent.mkdir, parents=True, exist_ok=True)
        await _git(["init", "--bare", "--quiet", "--initial-branch=main", str(repo)], env)
        await _git(["-C", str(repo), "config", "http.receivepack", "true"], env)
        await _git(["-C", str(repo), "config", "receive.keepAlive", "5"], env)
    await asyncio.to_thread(_write_hook, repo)
    return repo


def _hook_env(settings: Settings, app_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, str]:
    env = {
        "TENKU_DATA_DIR": str(settings.data_dir),
        "TENKU_DATABASE_URL": settings.database_url,
        "TENKU_HOST": settings.host,
        "TENKU_PORT": str(settings.port),
        "TENKU_BASE_DOMAIN": settings.base_domain,
        "TENKU_GIT_APP_ID": str(app_id),
        "TENKU_GIT_USER_ID": str(user_id),
    }
    if settings.api_url:
        env["TENKU_API_URL"] = settings.api_url
    if settings.secret_key:
        env["TENKU_SECRET_KEY"] = settings.secret_key
    if settings.http_port is not None:
        env["TENKU_HTTP_PORT"] = str(settings.http_port)
    for name in ("TENKU_BUILD_TIMEOUT", "PYTHONPATH"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


@dataclass(frozen=True)
class Gitter:
    """Who may fetch from (or push to) the app's repository."""

    app_id: uuid.UUID
    email: str
    account_id: uuid.UUID


async def _authorize(request: Request, app_name: str, write: bool) -> Gitter:
    ctx = app_context(request)
    async with ctx.db.session(write=False) as db:
        try:
            principal = await authenticate(request, db)
        except Unauthorized as err:
            # Without the challenge git never tries its credential helper.
            err.headers["WWW-Authenticate"] = REALM
            raise
        principal.require("app:write" if write else "app:read")
        app = await get_app(db, principal, app_name, "code:push" if write else "code:fetch")
        return Gitter(app.id, principal.account.email, principal.account.id)


async def _fetching(request: Request, app_name: str) -> Gitter:
    return await _authorize(request, app_name, write=False)


async def _pushing(request: Request, app_name: str) -> Gitter:
    return await _authorize(request, app_name, write=True)


async def _advertising(request: Request, app_name: str) -> Gitter:
    """`info/refs` comes first for both: `?service=git-receive-pack` is a push."""
    write = request.query_params.get("service") == "git-receive-pack"
    return await _authorize(request, app_name, write)


declare(_fetching, "app:read", "code:fetch")
declare(_pushing, "app:write", "code:push")
declare(_advertising, "app:read", "code:fetch", then=("code:push",))


def _parse_cgi_headers(head: bytes) -> tuple[int, dict[str, str]]:
    status = 200
    headers: dict[str, str] = {}
    for raw in head.decode("latin-1").splitlines():
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            with contextlib.suppress(ValueError):
                status = int(value.split()[0])
        else:
            headers[name] = value
    return status, headers


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    try:
        async for chunk in request.stream():
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
    except (ClientDisconnect, ConnectionError):
        pass
    finally:
        with contextlib.suppress(ConnectionError):
            stdin.close()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    with contextlib.suppress(Exception):
        while await proc.stdout.read(CHUNK):
            pass
    await proc.wait()


async def _log_stderr(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    async for line in proc.stderr:
        log.info("git http-backend: %s", line.decode(errors="replace").rstrip())


class PipeResponse(StreamingResponse):
    """Streams without listening for the client's disconnect on `receive`: the request body
    goes to git on that channel at the same time, and a listener would steal from it. A
    client that goes away still shows, as a failed `send`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError as exc:
            raise ClientDisconnect() from exc
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


async def _serve(request: Request, who: Gitter, rest: str) -> Response:
    settings = app_context(request).settings
    app_id, email, user_id = who.app_id, who.email, who.account_id
    await ensure_repo(settings, app_id)
    env = {
        **_git_env(settings),
        **_hook_env(settings, app_id, user_id),
        "GIT_PROJECT_ROOT": str(repos_root(settings)),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{app_id}.git/{rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": email,
        "REMOTE_ADDR": request.client.host if request.client else "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
    }
    for header, var in (
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        if request.headers.get(header):
            env[var] = request.headers[header]
    proc = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=CHUNK,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    feeder = asyncio.create_task(_feed(request, proc.stdin))
    logger = asyncio.create_task(_log_stderr(proc))
    head = b""
    try:
        while b"\r\n\r\n" not in head and b"\n\n" not in head:
            chunk = await proc.stdout.read(CHUNK)
            if not chunk:
                break
            head += chunk
    except BaseException:
        proc.kill()
        raise
    sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    header_block, _, first = head.partition(sep)
    status, headers = _parse_cgi_headers(header_block)

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            if first:
                yield first
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(CHUNK):
                yield chunk
            await proc.wait()
            await feeder
            await logger
            finished = True
        finally:
            if not finished:
                task = asyncio.create_task(_drain(proc))
                _detached.add(task)
                task.add_done_callback(_detached.discard)

    media = headers.pop("Content-Type", None)
    return PipeResponse(body(), status_code=status, headers=headers, media_type=media)


@router.get(
    "/{app_name}.git/info/refs",
    openapi_extra=merged(
        BASIC_CREDENTIALS,
        answers(
            "The repository's refs, for git's smart HTTP protocol.",
            "application/x-git-upload-pack-advertisement",
            "application/x-git-receive-pack-advertisement",
        ),
    ),
)
async def info_refs(
    request: Request, app_name: str, who: Annotated[Gitter, Depends(_advertising)]
) -> Response:
    """Git smart HTTP: the refs of an app's repository (`?service=git-upload-pack` or
    `git-receive-pack`)."""
    return await _serve(request, who, "info/refs")


@router.post(
    "/{app_name}.git/git-upload-pack",
    openapi_extra=merged(
        BASIC_CREDENTIALS,
        answers("A pack, for git fetch and clone.", "application/x-git-upload-pack-result"),
    ),
)
async def upload_pack(
    request: Request, app_name: str, who: Annotated[Gitter, Depends(_fetching)]
) -> Response:
    """Git smart HTTP: fetch and clone an app's repository."""
    return await _serve(request, who, "git-upload-pack")


@router.post(
    "/{app_name}.git/git-receive-pack",
    openapi_extra=merged(
        BASIC_CREDENTIALS,
        answers(
            "git's report, with the build's output as `remote:` lines.",
            "application/x-git-receive-pack-result",
        ),
    ),
)
async def receive_pack(
    request: Request, app_name: str, who: Annotated[Gitter, Depends(_pushing)]
) -> Response:
    """Git smart HTTP: push to an app's repository; a push to main builds and releases it."""
    return await _serve(request, who, "git-receive-pack")
