"""The janitor: tarballs, repositories and caches nothing needs any more are removed, and
nothing anything still needs is."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import AppSetup, Slug
from tenku.runtime.janitor import GRACE, PARTIAL_KEEP, SOURCE_KEEP, Janitor
from tenku.storage.blobs import DirectoryBlobStore
from tenku.storage.signing import Signer, load_secret
from tests.conftest import ApiClient, User
from tests.resources.slug.test_slugs import tarball, uploaded
from tests.storage.test_blob_http import put, source

# The runtime's own SQL (claims, sweeps, cursors) runs on PostgreSQL here; the rest of the
# live tests run on SQLite.
pytestmark = pytest.mark.backend("postgresql")

LATER = GRACE + 60


@pytest.fixture
def janitor(settings: Settings, database: Database) -> Janitor:
    return Janitor(
        settings,
        database,
        DirectoryBlobStore(settings.data_dir / "blobs"),
        Signer(load_secret(settings.data_dir, settings.secret_key)),
    )


def blob(settings: Settings, key: str) -> Path:
    return settings.data_dir / "blobs" / key


async def slug_key(database: Database, slug_id: str) -> str:
    async with database.session(write=False) as db:
        key = (
            await db.execute(select(Slug.blob_key).where(Slug.id == uuid.UUID(slug_id)))
        ).scalar_one()
    assert key
    return str(key)


async def twice(janitor: Janitor, at: float) -> int:
    """Two sweeps at `at` seconds from now; what the second removed (the first never does)."""
    now = time.time() + at
    assert (await janitor.sweep(now)).total == 0
    return (await janitor.sweep(now)).total


async def test_slug_tarballs_go_with_the_last_slug_on_them(
    alice: User, api: ApiClient, settings: Settings, database: Database, janitor: Janitor
) -> None:
    for name in ("jan-a", "jan-b", "jan-c"):
        await alice.create_app(name)
    shared = await uploaded(alice, api, "jan-a", tarball("shared"))
    r = await alice.post("/apps/jan-b/releases", json={"slug": shared})
    assert r.status_code == 201, r.text
    doomed = await uploaded(alice, api, "jan-c", tarball("doomed"))
    shared_key = await slug_key(database, shared)
    doomed_key = await slug_key(database, doomed)
    assert (await alice.delete("/apps/jan-c")).status_code == 200

    # Just written: not even a candidate yet, however unreferenced.
    assert await twice(janitor, 0) == 0
    assert blob(settings, doomed_key).is_file()

    assert await twice(janitor, LATER) == 1
    assert not blob(settings, doomed_key).exists()
    assert blob(settings, shared_key).is_file()

    # The copy on jan-b still runs on the shared tarball.
    assert (await alice.delete("/apps/jan-a")).status_code == 200
    assert await twice(janitor, LATER) == 0
    assert blob(settings, shared_key).is_file()
    assert (await alice.delete("/apps/jan-b")).status_code == 200
    swept = await janitor.sweep(time.time() + LATER)
    assert swept.total == 0, "removed on the first sweep that found it unneeded"
    assert (await janitor.sweep(time.time() + LATER)).slugs == 1
    assert not blob(settings, shared_key).exists()


async def test_sources_stay_while_usable_or_awaited(
    alice: User, api: ApiClient, settings: Settings, janitor: Janitor
) -> None:
    await alice.create_app("jan-src")
    put_url, _ = await source(alice, "jan-src")
    assert (await put(api, put_url, b"idle source")).status_code == 200
    put_url, awaited_url = await source(alice, "jan-src")
    assert (await put(api, put_url, b"awaited source")).status_code == 200
    # No runtime runs here, so the build stays pending and keeps needing its source.
    r = await alice.post("/apps/jan-src/builds", json={"source_blob": {"url": awaited_url}})
    assert r.status_code == 201, r.text
    sources = sorted((settings.data_dir / "blobs" / "sources").iterdir())
    assert len(sources) == 2
    partial = settings.data_dir / "blobs" / "sources" / ".cut-off.tgz.0123.part"
    partial.write_bytes(b"half")

    # Past the grace period, but its URL could still be in use.
    assert await twice(janitor, LATER) == 0
    assert all(path.is_file() for path in sources)

    swept = await janitor.sweep(time.time() + SOURCE_KEEP + 60)
    assert swept.total == 0
    swept = await janitor.sweep(time.time() + SOURCE_KEEP + 60)
    assert (swept.sources, swept.partial) == (1, 0)
    left = [path.read_bytes() for path in sorted(partial.parent.iterdir())]
    assert sorted(left) == [b"awaited source", b"half"]

    assert await twice(janitor, PARTIAL_KEEP + 60) == 1
    assert not partial.exists()


async def test_sources_stay_while_an_app_setup_needs_them(
    alice: User, api: ApiClient, settings: Settings, database: Database, janitor: Janitor
) -> None:
    await alice.create_app("jan-setup")
    put_url, named_url = await source(alice, "jan-setup")
    assert (await put(api, put_url, b"named by the setup")).status_code == 200
    put_url, _ = await source(alice, "jan-setup")
    assert (await put(api, put_url, b"kept by the setup")).status_code == 200
    # No runtime runs here, so the setup stays pending at its first step.
    r = await alice.post("/app-setups", json={"source_blob": {"url": named_url}})
    assert r.status_code == 201, r.text
    folder = settings.data_dir / "blobs" / "sources"
    kept = next(p for p in folder.iterdir() if p.read_bytes() == b"kept by the setup")
    async with database.session(write=True) as db:
        await db.execute(update(AppSetup).values(source_blob_key=f"sources/{kept.name}"))
        await db.commit()

    later = time.time() + SOURCE_KEEP + 60
    assert (await janitor.sweep(later)).total == 0
    assert (await janitor.sweep(later)).total == 0
    async with database.session(write=True) as db:
        await db.execute(update(AppSetup).values(status="succeeded"))
        await db.commit()
    assert (await janitor.sweep(later)).total == 0
    assert (await janitor.sweep(later)).sources == 2
    assert list(folder.iterdir()) == []


async def test_repositories_and_caches_of_deleted_apps(
    alice: User, settings: Settings, janitor: Janitor
) -> None:
    live = await alice.create_app("jan-live")
    gone = await alice.create_app("jan-gone")
    data = settings.data_dir
    keep = [
        data / "repos" / f"{live['id']}.git" / "HEAD",
        data / "build-cache" / live["id"] / "pip" / "wheel",
        data / "repos" / "not-an-app" / "file",
    ]
    remove = [
        data / "repos" / f"{gone['id']}.git" / "HEAD",
        data / "build-cache" / gone["id"] / "pip" / "wheel",
    ]
    for path in keep + remove:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    cached = data / "slug-cache" / f"{uuid.uuid4()}.tgz"
    cached.parent.mkdir()
    cached.write_bytes(b"slug")
    old = time.time() - 10
    os.utime(cached, (old, old))
    assert (await alice.delete("/apps/jan-gone")).status_code == 200

    assert await twice(janitor, LATER) == 3
    assert all(path.is_file() for path in keep)
    assert not any(path.parent.exists() for path in remove[:1])
    assert not (data / "build-cache" / gone["id"]).exists()
    assert not cached.exists()
