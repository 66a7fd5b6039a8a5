"""Removing what the platform no longer needs from disk and the blob store.

Rows go with their app (the database cascades), but files do not: a deleted app leaves
its slugs, its git repository, its build cache and the runtime's unpacked slug copies,
and every upload or push leaves a source tarball that is read once, by its build. The
janitor runs in the one runtime of an installation and removes:

- slug tarballs that no slug row names any more (a copied slug shares its tarball, so a
  tarball stays while any app still has a slug on it);
- source tarballs (`sources/`, and `git/` for pushes) once their signed URLs have long
  expired, unless a build still waiting to run, or an app setup still under way, needs one;
- git repositories and build caches of apps that no longer exist, and cached slugs
  whose slug row is gone;
- Postgres backup dumps no live backup names (their app deleted, or a deletion whose
  removal of the dump did not go through);
- half-written uploads that a crash left behind.

Nothing is removed the first time it looks unneeded: it must still look so on the next
sweep, and be older than a grace period, so that a tarball written a moment before its
row commits, or a row that starts pointing at an old tarball while a sweep reads, is
never taken.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import App, AppSetup, Build, PgTransfer, Slug
from tenku.loops import Passes, Periodic
from tenku.resources.git.routes import repos_root
from tenku.runtime.builder import GIT_KEY_PREFIX
from tenku.storage.blobs import BlobStore
from tenku.storage.signing import Signer
from tenku.storage.urls import DEFAULT_TTL, subject_of

log = logging.getLogger("tenku.janitor")

# Younger than this, nothing is touched, however unreferenced it looks.
GRACE = 600.0
# Source URLs are signed for DEFAULT_TTL; past twice that, nobody can fetch a source.
SOURCE_KEEP = 2.0 * DEFAULT_TTL
# An upload still being written after a day was cut off by a crash.
PARTIAL_KEEP = 86400.0
SLUG_PREFIX = "slugs/"
BACKUP_PREFIX = "backups/"
SOURCE_PREFIXES = ("sources/", GIT_KEY_PREFIX)


@dataclass
class Swept:
    slugs: int = 0
    sources: int = 0
    partial: int = 0
    repos: int = 0
    build_caches: int = 0
    slug_caches: int = 0
    backups: int = 0

    @property
    def total(self) -> int:
        return (
            self.slugs
            + self.sources
            + self.partial
            + self.repos
            + self.build_caches
            + self.slug_caches
            + self.backups
        )


@dataclass(frozen=True)
class _Known:
    apps: frozenset[uuid.UUID]
    slugs: frozenset[uuid.UUID]
    slug_keys: frozenset[str]
    waiting_sources: frozenset[str]
    backup_keys: frozenset[str]


def _partial(key: str) -> bool:
    # DirectoryBlobStore writes `.<name>.<random>.part` beside the blob, then renames it.
    name = key.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".part")


def _id_of(name: str, suffix: str = "") -> uuid.UUID | None:
    if suffix:
        if not name.endswith(suffix):
            return None
        name = name[: -len(suffix)]
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


class Janitor(Periodic):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        *,
        interval: float = 3600.0,
        grace: float = GRACE,
        source_keep: float = SOURCE_KEEP,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.interval = interval
        self.grace = grace
        self.source_keep = source_keep
        # What the last sweep found unneeded; removed if this one finds it so again.
        self._suspects: set[str] = set()
        self._passes = Passes(
            "tenku-janitor", self._sweep, interval, logger=log, failure="could not sweep"
        )

    # --- running every interval -----------------------------------------------------

    async def _sweep(self) -> None:
        swept = await self.sweep()
        if swept.total:
            log.info("removed what nothing needs any more: %s", swept)

    # --- one sweep ------------------------------------------------------------------

    async def sweep(self, now: float | None = None) -> Swept:
        now = time.time() if now is None else now
        known = await self._known()
        swept = Swept()
        suspects: set[str] = set()

        def unneeded(tag: str) -> bool:
            """True once `tag` was unneeded on the last sweep too; else remembers it."""
            if tag in self._suspects:
                return True
            suspects.add(tag)
            return False

        for prefix in (SLUG_PREFIX, BACKUP_PREFIX, *SOURCE_PREFIXES):
            for key, mtime in await self.blobs.listing(prefix):
                age = now - mtime
                if _partial(key):
                    needed, kind = age < PARTIAL_KEEP, "partial"
                elif prefix == SLUG_PREFIX:
                    needed, kind = key in known.slug_keys or age < self.grace, "slugs"
                elif prefix == BACKUP_PREFIX:
                    needed, kind = key in known.backup_keys or age < self.grace, "backups"
                else:
                    keep = max(self.source_keep, self.grace)
                    needed, kind = key in known.waiting_sources or age < keep, "sources"
                if not needed and unneeded(f"blob:{key}"):
                    await self.blobs.delete(key)
                    setattr(swept, kind, getattr(swept, kind) + 1)

        data = self.settings.data_dir
        swept.repos = await self._dirs(
            repos_root(self.settings), ".git", known.apps, now, unneeded, tree=True
        )
        swept.build_caches = await self._dirs(
            data / "build-cache", "", known.apps, now, unneeded, tree=True
        )
        swept.slug_caches = await self._dirs(
            data / "slug-cache", ".tgz", known.slugs, now, unneeded, tree=False
        )
        self._suspects = suspects
        return swept

    async def _known(self) -> _Known:
        async with self.db.session(write=False) as db:
            apps = frozenset((await db.execute(select(App.id))).scalars())
            slugs = list((await db.execute(select(Slug.id, Slug.blob_key))).all())
            backups = frozenset(
                (
                    await db.execute(
                        select(PgTransfer.blob_key).where(
                            PgTransfer.blob_key.is_not(None), PgTransfer.deleted_at.is_(None)
                        )
                    )
                ).scalars()
            )
            waiting = list(
                (
                    await db.execute(
                        select(Build.source_blob_key, Build.source_url).where(
                            Build.status == "pending"
                        )
                    )
                ).all()
            )
            waiting += list(
                (
                    await db.execute(
                        select(AppSetup.source_blob_key, AppSetup.source_url).where(
                            AppSetup.status == "pending"
                        )
                    )
                ).all()
            )
        sources: set[str] = set()
        for key, url in waiting:
            if key:
                sources.add(key)
            if url:
                subject = subject_of(self.settings, self.signer, url)
                if subject:
                    sources.add(subject)
        return _Known(
            apps=apps,
            slugs=frozenset(slug_id for slug_id, _ in slugs),
            slug_keys=frozenset(key for _, key in slugs if key),
            waiting_sources=frozenset(sources),
            backup_keys=frozenset(k for k in backups if k),
        )

    async def _dirs(
        self,
        root: Path,
        suffix: str,
        alive: Iterable[uuid.UUID],
        now: float,
        unneeded: Callable[[str], bool],
        *,
        tree: bool,
    ) -> int:
        """Entries of `root` named `<id><suffix>` whose id is not in `alive`."""
        living = set(alive)
        removed = 0
        try:
            entries = await asyncio.to_thread(lambda: list(root.iterdir()))
        except FileNotFoundError:
            return 0
        for entry in entries:
            owner = _id_of(entry.name, suffix)
            if owner is None or owner in living:
                continue
            try:
                mtime = entry.lstat().st_mtime
            except FileNotFoundError:
                continue
            if now - mtime < self.grace or not unneeded(f"path:{entry}"):
                continue
            if tree and entry.is_dir() and not entry.is_symlink():
                await asyncio.to_thread(shutil.rmtree, entry, True)
            else:
                await asyncio.to_thread(entry.unlink, True)
            removed += 1
        return removed
