"""The pre-receive hook of every app repository: `python -m tenku.runtime.hook`.

git runs it with the pushed refs on stdin ("<old> <new> <ref>" lines) before it updates
any of them, with the new objects readable from its quarantine. A push to main or master
is archived into the blob store, recorded as a build of the app by the pushing account
(both named by the git endpoint in the environment), and followed until it ends: every
line the build prints goes to stdout, which the pusher sees as `remote:` lines. Exiting
non-zero rejects the push.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select

from tenku.config import Settings, load_settings
from tenku.db.engine import Database
from tenku.db.models import Account, App, Build
from tenku.nudge import nudge
from tenku.resources.build import output
from tenku.resources.build.schemas import BuildCreate, SourceBlobIn
from tenku.resources.build.service import create_build
from tenku.runtime.builder import GIT_KEY_PREFIX
from tenku.storage.blobs import CHUNK, DirectoryBlobStore
from tenku.storage.signing import Signer, load_secret
from tenku.storage.urls import blob_url
from tenku.web.errors import ApiError

DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")
ZERO = "0" * 40
POLL = 0.3
# How long a build may wait for the runtime to pick it up before the push gives up.
QUEUE_GRACE = 600.0


def say(line: str = "") -> None:
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _subject(sha: str) -> str | None:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%s", sha], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


async def _archive(sha: str) -> AsyncIterator[bytes]:
    proc = await asyncio.create_subprocess_exec(
        "git",
        "archive",
        "--format=tar.gz",
        sha,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    while chunk := await proc.stdout.read(CHUNK):
        yield chunk
    err = await proc.stderr.read()
    if await proc.wait() != 0:
        raise RuntimeError(err.decode(errors="replace").strip() or "git archive failed")


async def _follow(db: Database, build_id: uuid.UUID, limit: float) -> str:
    """Print the build's output as it comes; its final status."""
    seq = 0
    deadline = time.monotonic() + limit
    while True:
        async with db.session(write=False) as s:
            status = (
                await s.execute(select(Build.status).where(Build.id == build_id))
            ).scalar_one_or_none()
            rows = await output.rows_after(s, build_id, seq)
        for row in rows:
            seq = row.seq
            for line in row.text.splitlines():
                say(line)
        if len(rows) >= 500:
            continue
        if status != "pending":
            return status or "failed"
        if time.monotonic() > deadline:
            say(" !     Gave up waiting for the build; it goes on, see `heroku builds`.")
            return "failed"
        await asyncio.sleep(POLL)


async def deploy(settings: Settings, app_id: uuid.UUID, user_id: uuid.UUID, sha: str) -> int:
    blobs = DirectoryBlobStore(settings.data_dir / "blobs")
    signer = Signer(load_secret(settings.data_dir, settings.secret_key))
    key = f"{GIT_KEY_PREFIX}{app_id}/{sha}-{secrets.token_hex(4)}.tgz"
    try:
        await blobs.put(key, _archive(sha))
    except RuntimeError as exc:
        say(f" !     Could not archive {sha[:7]}: {exc}")
        return 1
    say("Compressing source files... done.")
    say("Building source:")
    say()
    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as s:
            app = await s.get(App, app_id)
            user = await s.get(Account, user_id)
            if app is None or user is None:
                say(" !     This app or account no longer exists.")
                return 1
            params = BuildCreate(
                source_blob=SourceBlobIn(
                    url=blob_url(settings, signer, key, "GET"),
                    version=sha,
                    version_description=_subject(sha),
                )
            )
            try:
                build = await create_build(s, settings, app, user, params, blob_key=key)
            except ApiError as exc:
                say(f" !     {exc.message}")
                return 1
            build_id, app_name = build.id, app.name
            await s.commit()
        nudge(settings)
        status = await _follow(db, build_id, settings.build_timeout + QUEUE_GRACE)
    finally:
        await db.dispose()
    if status == "succeeded":
        say("Verifying deploy... done.")
        return 0
    say(f" !     Push rejected to {app_name}.")
    say()
    return 1


def main() -> int:
    app_id = uuid.UUID(os.environ["TENKU_GIT_APP_ID"])
    user_id = uuid.UUID(os.environ["TENKU_GIT_USER_ID"])
    target: str | None = None
    for raw in sys.stdin.read().splitlines():
        parts = raw.split()
        if len(parts) != 3:
            continue
        _old, new, ref = parts
        if ref in DEPLOY_REFS:
            if new != ZERO:
                target = new
        else:
            name = ref.removeprefix("refs/heads/")
            say(f"Pushed to non-deploy branch {name}; only main and master are deployed.")
    if target is None:
        return 0
    return asyncio.run(deploy(load_settings(), app_id, user_id, target))


if __name__ == "__main__":
    sys.exit(main())
