"""The runtime's dyno manager: the database's desired state in, the scheduler's reports out.

API workers only write what should run (releases, config, formation, features, one-off
rows, restart and stop flags) and nudge. The one runtime reads the whole desired state
of every app, hands it to the scheduler, and writes back what the dynos do: dyno rows and
log lines, batched into one short transaction at a time so that chatty dynos never hold
the database. It also answers the router (which host is which app, which dynos are up)
and the rendezvous listener (which one-off dyno a secret attaches to).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import App, AppFeatureState, Domain, Dyno, Formation, LogLine, Release, Slug
from tenku.logs import store
from tenku.resources.dyno.service import attach_digest
from tenku.router import Target
from tenku.runtime.nudge import wait_event
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.scheduler import (
    COMPLETE,
    STARTING,
    AppState,
    OneOffSpec,
    ProcessSpec,
    ReleaseSpec,
    Scheduler,
)
from tenku.storage.blobs import BlobStore

log = logging.getLogger("tenku.runtime.dynos")

POLL = 1.0
FLUSH = 0.2
# Lines waiting for the database beyond this are dropped (and counted), so a dyno that
# prints faster than lines can be stored never grows the runtime's memory.
MAX_PENDING_LINES = 20000


@dataclass
class _Pending:
    states: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    gone: set[uuid.UUID] = field(default_factory=set)
    lines: list[LogLine] = field(default_factory=list)
    dropped: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class _Route:
    app_id: uuid.UUID
    app_name: str
    maintenance: bool
    blank: bool
    web_quantity: int
    config: dict[str, str]


class DynoManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        scheduler_factory: Callable[[DynoManager], Scheduler],
        runner_id: str,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.runner_id = runner_id
        self.scheduler = scheduler_factory(self)
        self._pending = _Pending()
        self._flushed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._routes: dict[str, _Route] = {}
        self._slug_cache = settings.data_dir / "slug-cache"
        self.ready = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> None:
        """Clear what an earlier runtime left: its processes, its one-offs, its rows."""
        await self.scheduler.recover()
        async with self.db.session(write=True) as db:
            await db.execute(
                delete(Dyno)
                .where(Dyno.oneoff.is_(True), Dyno.runner.is_not(None))
                .execution_options(synchronize_session=False)
            )
            await db.execute(
                update(Dyno)
                .where(Dyno.oneoff.is_(False))
                .values(state=STARTING, port=None, pgid=None, runner=None)
                .execution_options(synchronize_session=False)
            )
            await db.commit()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="tenku-dynos"),
            asyncio.create_task(self._flusher(), name="tenku-dyno-reports"),
        ]

    async def stop(self) -> None:
        for task in self._tasks[:1]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.scheduler.close()
        # The last lines (exits) are written before the writer stops.
        with contextlib.suppress(Exception):
            await self._flush()
        for task in self._tasks[1:]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    # --- Reporter -----------------------------------------------------------------------

    async def dyno_state(
        self,
        app_id: uuid.UUID,
        dyno_id: uuid.UUID,
        name: str,
        state: str,
        *,
        port: int | None = None,
        pgid: int | None = None,
    ) -> None:
        self._pending.states[dyno_id] = {
            "state": state,
            "port": port,
            "pgid": pgid,
            "runner": self.runner_id,
            "updated_at": utcnow(),
        }

    async def dyno_gone(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> None:
        self._pending.gone.add(dyno_id)
        self._pending.states.pop(dyno_id, None)

    def log(self, app_id: uuid.UUID, source: str, dyno: str, message: str) -> None:
        if len(self._pending.lines) >= MAX_PENDING_LINES:
            self._pending.dropped[app_id] += 1
            return
        self._pending.lines.append(
            LogLine(app_id=app_id, source=source, dyno=dyno, message=message, created_at=utcnow())
        )

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH)
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not write dyno reports")

    async def _flush(self) -> None:
        pending = self._pending
        if not (pending.states or pending.gone or pending.lines or pending.dropped):
            return
        self._pending = _Pending()
        for app_id, count in pending.dropped.items():
            pending.lines.append(
                LogLine(
                    app_id=app_id,
                    source="heroku",
                    dyno="logplex",
                    message=f"Error L10 (output buffer overflow): {count} messages dropped",
                    created_at=utcnow(),
                )
            )
        async with self.db.session(write=True) as db:
            for dyno_id, values in pending.states.items():
                await db.execute(
                    update(Dyno)
                    .where(Dyno.id == dyno_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            if pending.gone:
                await db.execute(
                    delete(Dyno)
                    .where(Dyno.id.in_(pending.gone))
                    .execution_options(synchronize_session=False)
                )
            if pending.lines:
                live = set(
                    (
                        await db.execute(
                            select(App.id).where(App.id.in_({ln.app_id for ln in pending.lines}))
                        )
                    ).scalars()
                )
                lines = [ln for ln in pending.lines if ln.app_id in live]
                db.add_all(lines)
                await db.flush()
                for app_id in {ln.app_id for ln in lines}:
                    await store.trim(db, app_id)
            await db.commit()

    # --- desired state ------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not apply the desired dyno state")
            self.ready.set()
            await wait_event(self._wake, POLL)
            self._wake.clear()

    async def _slug_path(self, slug: Slug) -> Path | None:
        if not slug.blob_key:
            return None
        local = self.blobs.local_path(slug.blob_key)
        if local is not None:
            return local if local.is_file() else None
        cached = self._slug_cache / f"{slug.id}.tgz"
        if not cached.is_file():
            self._slug_cache.mkdir(parents=True, exist_ok=True)
            part = cached.with_suffix(".part")
            with part.open("wb") as out:
                async for chunk in self.blobs.get(slug.blob_key):
                    out.write(chunk)
            part.rename(cached)
        return cached

    async def reconcile(self) -> None:
        async with self.db.session(write=False) as db:
            apps = list((await db.execute(select(App))).scalars())
            latest = (
                select(Release.app_id, func.max(Release.version).label("version"))
                .where(Release.status == "succeeded")
                .group_by(Release.app_id)
                .subquery()
            )
            releases = {
                r.app_id: r
                for r in (
                    await db.execute(
                        select(Release).join(
                            latest,
                            (Release.app_id == latest.c.app_id)
                            & (Release.version == latest.c.version),
                        )
                    )
                ).scalars()
            }
            slug_ids = {r.slug_id for r in releases.values() if r.slug_id}
            slugs = {
                s.id: s
                for s in (await db.execute(select(Slug).where(Slug.id.in_(slug_ids)))).scalars()
            }
            formations: dict[uuid.UUID, list[Formation]] = defaultdict(list)
            for frow in (await db.execute(select(Formation))).scalars():
                formations[frow.app_id].append(frow)
            features: dict[uuid.UUID, set[str]] = defaultdict(set)
            for app_id, name in (
                await db.execute(
                    select(AppFeatureState.app_id, AppFeatureState.name).where(
                        AppFeatureState.enabled.is_(True)
                    )
                )
            ).all():
                features[app_id].add(name)
            dynos: dict[uuid.UUID, list[Dyno]] = defaultdict(list)
            for drow in (await db.execute(select(Dyno))).scalars():
                dynos[drow.app_id].append(drow)
            domains = list((await db.execute(select(Domain.hostname, Domain.app_id))).all())

        base = self.settings.base_domain
        by_id = {app.id: app for app in apps}
        routes: dict[str, _Route] = {}
        inserts: list[Dyno] = []
        deletes: list[uuid.UUID] = []
        cleared: list[uuid.UUID] = []
        states: list[AppState] = []
        for app in apps:
            release = releases.get(app.id)
            slug = slugs.get(release.slug_id) if release and release.slug_id else None
            spec: ReleaseSpec | None = None
            if release is not None:
                spec = ReleaseSpec(
                    id=release.id,
                    version=release.version,
                    created_at=release.created_at,
                    description=release.description,
                    slug_path=await self._slug_path(slug) if slug else None,
                    slug_id=slug.id if slug else None,
                    commit=slug.commit if slug else None,
                    process_types={
                        str(k): str(v)
                        for k, v in ((slug.process_types if slug else {}) or {}).items()
                    },
                    config={str(k): str(v) for k, v in (release.config or {}).items()},
                )
            procs = tuple(
                ProcessSpec(f.type, f.quantity, f.size, f.command)
                for f in sorted(formations[app.id], key=lambda f: f.type)
            )
            wanted: dict[str, Formation] = {}
            if spec is not None and spec.slug_path is not None:
                for f in formations[app.id]:
                    for i in range(1, f.quantity + 1):
                        wanted[f"{f.type}.{i}"] = f
            rows = {d.name: d for d in dynos[app.id] if not d.oneoff}
            ids: dict[str, uuid.UUID] = {}
            for name, f in wanted.items():
                row = rows.get(name)
                if row is None:
                    row = Dyno(
                        id=uuid.uuid4(),
                        app_id=app.id,
                        name=name,
                        type=f.type,
                        size=f.size,
                        command=f.command,
                        release_id=release.id if release else None,
                        release_version=release.version if release else None,
                        state=STARTING,
                        oneoff=False,
                        attach=False,
                        tty=False,
                        env={},
                    )
                    inserts.append(row)
                elif (
                    row.release_id != (release.id if release else None)
                    or row.size != f.size
                    or row.command != f.command
                ):
                    inserts.append(row)  # updated in place below
                ids[name] = row.id
            deletes.extend(row.id for name, row in rows.items() if name not in wanted)
            restarts = frozenset(
                d.name
                for d in dynos[app.id]
                if not d.oneoff and (d.restart_requested or d.stop_requested)
            )
            cleared.extend(d.id for d in dynos[app.id] if d.restart_requested or d.stop_requested)
            oneoffs = tuple(
                OneOffSpec(
                    id=d.id,
                    name=d.name,
                    type=d.type,
                    size=d.size,
                    command=d.command,
                    env={str(k): str(v) for k, v in (d.env or {}).items()},
                    attach=d.attach,
                    tty=d.tty,
                    time_to_live=d.time_to_live,
                    stop=d.stop_requested,
                )
                for d in dynos[app.id]
                if d.oneoff and d.state != COMPLETE
            )
            host = f"{app.name}.{base}"
            states.append(
                AppState(
                    app_id=app.id,
                    app_name=app.name,
                    release=spec,
                    formation=procs,
                    oneoffs=oneoffs,
                    preboot="preboot" in features[app.id],
                    dyno_metadata="runtime-dyno-metadata" in features[app.id],
                    restarts=restarts,
                    dyno_ids=ids,
                    default_domain=host,
                )
            )
            web = sum(f.quantity for f in formations[app.id] if f.type == "web")
            routes[host] = _Route(
                app_id=app.id,
                app_name=app.name,
                maintenance=app.maintenance,
                blank=spec is None or spec.slug_path is None,
                web_quantity=web,
                config=dict(spec.config) if spec else {},
            )
        for hostname, app_id in domains:
            owner = by_id.get(app_id)
            if owner is not None and hostname.lower() not in routes:
                routes[hostname.lower()] = routes[f"{owner.name}.{base}"]
        self._routes = routes

        if inserts or deletes or cleared:
            await self._write_rows(inserts, deletes, cleared, releases)
        for state in states:
            await self.scheduler.apply(state)
        for gone in self.scheduler.apps() - set(by_id):
            await self.scheduler.remove(gone)

    async def _write_rows(
        self,
        rows: list[Dyno],
        deletes: list[uuid.UUID],
        cleared: list[uuid.UUID],
        releases: dict[uuid.UUID, Release],
    ) -> None:
        async with self.db.session(write=True) as db:
            for row in rows:
                release = releases.get(row.app_id)
                existing = await db.get(Dyno, row.id)
                formation = (
                    await db.execute(
                        select(Formation).where(
                            Formation.app_id == row.app_id,
                            Formation.type == row.type,
                        )
                    )
                ).scalar_one_or_none()
                if formation is None:
                    continue
                if existing is None:
                    db.add(row)
                    existing = row
                existing.size = formation.size
                existing.command = formation.command
                existing.release_id = release.id if release else None
                existing.release_version = release.version if release else None
            if deletes:
                await db.execute(
                    delete(Dyno)
                    .where(Dyno.id.in_(deletes))
                    .execution_options(synchronize_session=False)
                )
            if cleared:
                await db.execute(
                    update(Dyno)
                    .where(Dyno.id.in_(cleared), Dyno.oneoff.is_(False))
                    .values(restart_requested=False, stop_requested=False)
                    .execution_options(synchronize_session=False)
                )
            await db.commit()

    # --- the router's route table -------------------------------------------------------

    async def lookup(self, host: str) -> Target | None:
        route = self._routes.get(host.lower().rstrip("."))
        if route is None:
            return None
        if route.blank:
            web_state = "blank"
        elif route.web_quantity == 0:
            web_state = "none"
        else:
            web_state = self.scheduler.web_state(route.app_id)
            if web_state == "none":
                web_state = STARTING
        return Target(
            app_id=route.app_id,
            app_name=route.app_name,
            maintenance=route.maintenance,
            backends=self.scheduler.backends(route.app_id),
            web_state=web_state,
            config=route.config,
        )

    def router_log(self, app_id: uuid.UUID, message: str) -> None:
        self.log(app_id, "heroku", "router", message)

    # --- rendezvous ---------------------------------------------------------------------

    async def claim(self, secret: str) -> Attachment | None:
        digest = attach_digest(secret)
        for _ in range(50):
            async with self.db.session(write=False) as db:
                row = (
                    await db.execute(select(Dyno).where(Dyno.attach_digest == digest))
                ).scalar_one_or_none()
            if row is None:
                return None
            attachment = await self.scheduler.attachment(row.app_id, row.id)
            if attachment is not None:
                return attachment
            # Created a moment ago: the scheduler has not seen it yet.
            self.wake()
            await asyncio.sleep(0.1)
        return None
