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
import dataclasses
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Select, delete, func, select, update

from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import (
    Account,
    App,
    AppFeatureState,
    Domain,
    Dyno,
    Formation,
    Release,
    RuntimeChange,
    Slug,
)
from tenku.db.models.dyno import COMPLETE, STARTING
from tenku.logs import store
from tenku.loops import WAKE_GAP, Passes
from tenku.resources.dyno.service import attach_digest
from tenku.router import Target
from tenku.runtime.certificates import CertificateRows, Certificates, DomainRow
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.sandbox import Sandbox
from tenku.runtime.scheduler import (
    AppState,
    OneOffSpec,
    ProcessSpec,
    ReleaseSpec,
    Scheduler,
)
from tenku.storage.blobs import BlobStore

log = logging.getLogger("tenku.runtime.dynos")
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])

POLL = 1.0
FLUSH = 0.2
# At least this often (seconds), every app's state is read and applied again, changed or
# not. By time, not by pass: under a stream of writes passes come every PASS_GAP, and a
# pass over every app of a large platform costs far more than the API's writes it follows.
FULL_EVERY = 30.0
# A pass for more changed apps than this reads every app instead (one query each).
MAX_PARTIAL = 500
# Journal entries deleted per statement (well under SQLite's bound-parameter limit).
FORGET_BATCH = 500
# A pass reads every app's desired state: under a stream of writes (each nudges), passes
# run at most this often instead of back to back, leaving the CPU to the API.
PASS_GAP = WAKE_GAP
# Lines waiting for the database beyond either bound are dropped, counted and announced
# in the app's stream with an L10 line, so a dyno that prints faster than lines can be
# stored never blocks and never grows the runtime's memory: waiting lines hold at most
# MAX_PENDING_CHARS characters of messages (and about 250 bytes each besides), and one
# more such batch is being written. Lines are written every FLUSH seconds, so a burst of
# as many lines as an app keeps goes through whole even between two writes.
MAX_PENDING_LINES = store.KEEP
MAX_PENDING_CHARS = 16 * 1024 * 1024
# Lines whose write failed are kept for this many more attempts, then counted as dropped,
# so lines the database refuses cannot hold up every line after them.
WRITE_ATTEMPTS = 3

# app, source, dyno, message, when it was logged
_Line = tuple[uuid.UUID, str, str, str, datetime]


@dataclass
class _Pending:
    states: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    gone: set[uuid.UUID] = field(default_factory=set)
    # The app of each dyno in `states` and `gone`.
    apps: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    lines: list[_Line] = field(default_factory=list)
    chars: int = 0
    # Lines dropped per app, and when the first of them was logged.
    dropped: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    dropped_since: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def add(self, line: _Line) -> None:
        app_id, _, _, message, at = line
        if len(self.lines) >= MAX_PENDING_LINES or self.chars + len(message) > MAX_PENDING_CHARS:
            self.drop(app_id, 1, at)
            return
        self.lines.append(line)
        self.chars += len(message)

    def drop(self, app_id: uuid.UUID, count: int, since: datetime) -> None:
        self.dropped[app_id] += count
        first = self.dropped_since.get(app_id)
        self.dropped_since[app_id] = since if first is None else min(first, since)


@dataclass(frozen=True)
class _DynoRow:
    """The columns of a dyno row that the desired state is made of."""

    COLUMNS: ClassVar[tuple[Any, ...]] = (
        Dyno.id,
        Dyno.app_id,
        Dyno.name,
        Dyno.type,
        Dyno.size,
        Dyno.command,
        Dyno.release_id,
        Dyno.oneoff,
        Dyno.state,
        Dyno.attach,
        Dyno.tty,
        Dyno.time_to_live,
        Dyno.restart_requested,
        Dyno.stop_requested,
        Dyno.env,
    )

    id: uuid.UUID
    app_id: uuid.UUID
    name: str
    type: str
    size: str
    command: str
    release_id: uuid.UUID | None
    oneoff: bool
    complete: bool
    attach: bool
    tty: bool
    time_to_live: int | None
    restart_requested: bool
    stop_requested: bool
    env: dict[str, str] = field(compare=False, hash=False)

    @classmethod
    def of(cls, row: Any) -> _DynoRow:
        (dyno_id, app_id, name, kind, size, command, release_id, oneoff, state) = row[:9]
        attach, tty, ttl, restart, stop, env = row[9:]
        return cls(
            dyno_id,
            app_id,
            name,
            kind,
            size,
            command,
            release_id,
            bool(oneoff),
            state == COMPLETE,
            bool(attach),
            bool(tty),
            ttl,
            bool(restart),
            bool(stop),
            {str(k): str(v) for k, v in (env or {}).items()},
        )

    @property
    def key(self) -> tuple[Any, ...]:
        # A one-off's env is set when it is created and never changes: its id stands for it.
        return (
            self.id,
            self.name,
            self.type,
            self.size,
            self.command,
            self.release_id,
            self.oneoff,
            self.complete,
            self.attach,
            self.tty,
            self.time_to_live,
            self.restart_requested,
            self.stop_requested,
        )

    def oneoff_spec(self) -> OneOffSpec:
        return OneOffSpec(
            id=self.id,
            name=self.name,
            type=self.type,
            size=self.size,
            command=self.command,
            env=self.env,
            attach=self.attach,
            tty=self.tty,
            time_to_live=self.time_to_live,
            stop=self.stop_requested,
        )


@dataclass(frozen=True)
class _DynoWrite:
    """A formation dyno row to create, or to point at the current release and formation."""

    id: uuid.UUID
    app_id: uuid.UUID
    name: str
    type: str
    new: bool


@dataclass
class _Snapshot:
    apps: list[tuple[uuid.UUID, str, bool]] = field(default_factory=list)
    current: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    formations: dict[uuid.UUID, list[tuple[str, int, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    features: dict[uuid.UUID, set[str]] = field(default_factory=lambda: defaultdict(set))
    dynos: dict[uuid.UUID, list[_DynoRow]] = field(default_factory=lambda: defaultdict(list))
    domains: list[DomainRow] = field(default_factory=list)
    specs: dict[uuid.UUID, ReleaseSpec] = field(default_factory=dict)
    certificates: CertificateRows = field(default_factory=CertificateRows)
    # Apps whose current slug could not be had yet: read again on the next pass.
    unready: set[uuid.UUID] = field(default_factory=set)


@dataclass
class _Plan:
    """What one reconcile pass decided, applied once every app has been looked at."""

    writes: list[_DynoWrite] = field(default_factory=list)
    deletes: list[uuid.UUID] = field(default_factory=list)
    cleared: list[uuid.UUID] = field(default_factory=list)
    states: list[AppState] = field(default_factory=list)
    seen: dict[uuid.UUID, tuple[Any, ...]] = field(default_factory=dict)
    current: dict[uuid.UUID, ReleaseSpec] = field(default_factory=dict)
    routes: dict[uuid.UUID, _Route] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    app_id: uuid.UUID
    app_name: str
    maintenance: bool
    blank: bool
    web_quantity: int
    config: dict[str, str]
    affinity: bool


class DynoManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        scheduler_factory: Callable[[DynoManager], Scheduler],
        runner_id: str,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.runner_id = runner_id
        self.sandbox = sandbox
        self._refused = False
        self.scheduler = scheduler_factory(self)
        self._pending = _Pending()
        self._flushed = asyncio.Event()
        # Called once new lines are in the database (the drains deliver them).
        self.on_lines: Callable[[], None] | None = None
        self._failed_writes = 0
        self._reconciler = Passes(
            "tenku-dynos",
            self.reconcile,
            POLL,
            logger=log,
            failure="could not apply the desired dyno state",
            after=self._ready,
            gap=PASS_GAP,
        )
        self._flusher_task: asyncio.Task[None] | None = None
        self._routes: dict[str, _Route] = {}
        # Who hears of changes to the routes (the router's other processes).
        self._route_watchers: list[Callable[[Collection[uuid.UUID] | None], None]] = []
        # The router's certificate table (apps' own certificates by host name).
        self.certificates = Certificates(settings)
        self._slug_cache = settings.data_dir / "slug-cache"
        # Release specs by release id (immutable once read), and each app's state as of
        # the last pass that applied it.
        self._specs: dict[uuid.UUID, ReleaseSpec] = {}
        self._seen: dict[uuid.UUID, tuple[Any, ...]] = {}
        self._app_routes: dict[uuid.UUID, _Route] = {}
        self._domains: dict[uuid.UUID, list[DomainRow]] = {}
        # The host names each app holds in `_routes`.
        self._hosts: dict[uuid.UUID, list[str]] = {}
        self._unready: set[uuid.UUID] = set()
        self._passes = 0
        # When the next pass reads every app (monotonic seconds): the first one does.
        self._next_full = 0.0
        # How many app states have been handed to the scheduler (benchmarks read it).
        self.applied = 0
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
        self._reconciler.start()
        self._flusher_task = asyncio.create_task(self._flusher(), name="tenku-dyno-reports")

    async def stop(self) -> None:
        await self._reconciler.stop()
        await self.scheduler.close()
        # The last lines (exits) are written before the writer stops.
        with contextlib.suppress(Exception):
            await self.flush()
        if self._flusher_task is not None:
            self._flusher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher_task
            self._flusher_task = None

    def wake(self) -> None:
        self._reconciler.wake()

    async def _unless_shared(self, states: list[AppState]) -> list[AppState]:
        """Without a sandbox, dynos run only while one account exists (see Sandbox)."""
        async with self.db.session(write=False) as db:
            accounts = int(await db.scalar(select(func.count()).select_from(Account)) or 0)
        if accounts <= 1:
            return states
        assert self.sandbox is not None
        if not self._refused:
            log.error("%s", self.sandbox.refusal)
            self._refused = True
        return [dataclasses.replace(s, formation=(), oneoffs=()) for s in states]

    def _ready(self) -> None:
        self.ready.set()

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
        self._pending.apps[dyno_id] = app_id
        self._pending.states[dyno_id] = {
            "state": state,
            "port": port,
            "pgid": pgid,
            "runner": self.runner_id,
            "updated_at": utcnow(),
        }

    async def dyno_gone(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> None:
        self._pending.apps[dyno_id] = app_id
        self._pending.gone.add(dyno_id)
        self._pending.states.pop(dyno_id, None)

    def log(self, app_id: uuid.UUID, source: str, dyno: str, message: str) -> None:
        self._pending.add((app_id, source, dyno, message, utcnow()))

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not write dyno reports")

    async def flush(self) -> None:
        """Write what the dynos reported since the last write (the flusher does, every FLUSH s)."""
        pending = self._pending
        if not (pending.states or pending.gone or pending.lines or pending.dropped):
            return
        self._pending = _Pending()
        try:
            if pending.states or pending.gone:
                await self._write_states(pending)
        finally:
            if pending.lines or pending.dropped:
                await self._write_lines(pending)

    async def _write_states(self, pending: _Pending) -> None:
        async with self.db.session(write=True) as db:
            for dyno_id, values in pending.states.items():
                await db.execute(
                    update(Dyno)
                    .where(Dyno.id == dyno_id, Dyno.app_id == pending.apps[dyno_id])
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            if pending.gone:
                await db.execute(
                    delete(Dyno)
                    .where(Dyno.id.in_(pending.gone))
                    .execution_options(
                        synchronize_session=False,
                        runtime_apps={pending.apps[d] for d in pending.gone},
                    )
                )
            await db.commit()

    async def _write_lines(self, pending: _Pending) -> None:
        """Write the lines in a transaction of their own: it holds each app's stream
        counter (store.reserve), and holding dyno rows too could deadlock with a request
        that logs while it changes a dyno."""
        by_app: dict[uuid.UUID, list[tuple[str, str, str, datetime]]] = defaultdict(list)
        for app_id, source, dyno, message, at in pending.lines:
            by_app[app_id].append((source, dyno, message, at))
        for app_id, count in pending.dropped.items():
            message = store.overflow_message(count, pending.dropped_since[app_id])
            by_app[app_id].append(("heroku", "logplex", message, utcnow()))
        try:
            async with self.db.session(write=True) as db:
                live = set(
                    (await db.execute(select(App.id).where(App.id.in_(set(by_app))))).scalars()
                )
                # One order for every writer of several apps' counters.
                for app_id in sorted(live):
                    await store.append_many(db, app_id, by_app[app_id])
                await db.commit()
        except Exception:
            self._failed_writes += 1
            self._requeue(pending, keep=self._failed_writes < WRITE_ATTEMPTS)
            raise
        self._failed_writes = 0
        if self.on_lines is not None:
            self.on_lines()

    def _requeue(self, failed: _Pending, *, keep: bool) -> None:
        """Put the lines of a failed write back before those logged since, within the
        bounds (or, when they failed too often, not at all); what is not put back is
        counted as dropped, and its L10 line goes with the next write."""
        later = self._pending
        self._pending = _Pending(states=later.states, gone=later.gone, apps=later.apps)
        for line in failed.lines:
            if keep:
                self._pending.add(line)
            else:
                self._pending.drop(line[0], 1, line[4])
        for line in later.lines:
            self._pending.add(line)
        for source in (failed, later):
            for app_id, count in source.dropped.items():
                self._pending.drop(app_id, count, source.dropped_since[app_id])

    # --- desired state ------------------------------------------------------------------

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

    async def reconcile(self, *, full: bool = False) -> None:
        """Bring the scheduler and the formation's dyno rows in line with the database.

        A pass reads the journal of changed apps (tenku/db/changes.py) and re-reads the
        desired state of those apps only; it rebuilds and applies the state of the ones
        where any of it changed. Every app is read when `full`, on the first pass, when the
        journal names every app or too many, and at least every FULL_EVERY seconds as a
        safety net. A release's spec (its config and slug) never changes, so it is read once.
        """
        self._passes += 1
        started = time.monotonic()
        seqs, changed = await self._journal()
        full = full or started >= self._next_full
        scope: set[uuid.UUID] | None = None
        if not full and changed is not None:
            scope = changed | self._unready
            if len(scope) > MAX_PARTIAL:
                scope = None
        if scope is not None and not scope:
            await self._forget(seqs)
            return
        snap = await self._snapshot(scope)
        plan = _Plan()
        for app_id, name, maintenance in snap.apps:
            self._plan_app(plan, snap, app_id, name, maintenance, full)
        domains: dict[uuid.UUID, list[DomainRow]] = defaultdict(list)
        for row in snap.domains:
            domains[row[1]].append(row)
        # Routes follow the database at once, whatever happens to the rest of the pass.
        self._place(plan.routes, domains, scope)
        with_certificates = snap.certificates.apps()
        await self.certificates.apply(
            snap.certificates,
            [row for app_id in with_certificates for row in self._domains.get(app_id, ())],
            self._app_of,
        )
        if plan.writes or plan.deletes or plan.cleared:
            await self._write_rows(
                plan.writes,
                plan.deletes,
                plan.cleared,
                plan.current,
                {state.app_id for state in plan.states},
            )
        if plan.states and self.sandbox is not None and self.sandbox.refuses_shared_use:
            plan.states = await self._unless_shared(plan.states)
        for state in plan.states:
            await self.scheduler.apply(state)
        running = self.scheduler.apps()
        for gone in (running if scope is None else running & scope) - self._app_routes.keys():
            await self.scheduler.remove(gone)
        # Only once all of it is done: a pass that failed is redone for the same apps.
        if scope is None:
            self._seen = plan.seen
            self._next_full = started + FULL_EVERY
        else:
            for app_id in scope:
                self._seen.pop(app_id, None)
            self._seen.update(plan.seen)
        self._unready = snap.unready
        self.applied += len(plan.states)
        await self._forget(seqs)

    def _place(
        self,
        routes: dict[uuid.UUID, _Route],
        domains: dict[uuid.UUID, list[DomainRow]],
        scope: set[uuid.UUID] | None,
    ) -> None:
        """The route table (host name to app) after a pass over the apps in `scope` (every
        app when None): each app's default host, and its custom domains where they do not
        shadow a default host."""
        before = {app_id: self._hosts.get(app_id) for app_id in scope or ()}
        if scope is None:
            self._routes, self._hosts = {}, {}
            self._app_routes, self._domains = {}, {}
        for app_id in scope or ():
            for host in self._hosts.pop(app_id, ()):
                if (found := self._routes.get(host)) is not None and found.app_id == app_id:
                    del self._routes[host]
            self._app_routes.pop(app_id, None)
            self._domains.pop(app_id, None)
        base = self.settings.base_domain
        for app_id, route in routes.items():
            default = f"{route.app_name}.{base}"
            self._routes[default] = route
            self._hosts[app_id] = [default]
            self._app_routes[app_id] = route
        for app_id, route in routes.items():
            rows = domains.get(app_id, [])
            self._domains[app_id] = rows
            for hostname, _, _ in rows:
                host = hostname.lower()
                if host not in self._routes:
                    self._routes[host] = route
                    self._hosts[app_id].append(host)
        # The router's other processes: a change of which hosts route where is looked at
        # whole; otherwise only the apps of the pass can have changed.
        moved = scope is None or any(self._hosts.get(a) != hosts for a, hosts in before.items())
        self._routes_changed(None if moved else scope)

    async def _journal(self) -> tuple[list[int], set[uuid.UUID] | None]:
        """The journal's entries: their numbers, and the apps they name (None: every app)."""
        async with self.db.session(write=False) as db:
            conn = await db.connection()
            rows = (await conn.execute(select(RuntimeChange.seq, RuntimeChange.app_id))).all()
        apps: set[uuid.UUID] | None = set()
        for _, app_id in rows:
            if app_id is None:
                apps = None
            elif apps is not None:
                apps.add(app_id)
        return [row[0] for row in rows], apps

    async def _forget(self, seqs: list[int]) -> None:
        """Delete the entries a pass applied; entries committed since (even with smaller
        numbers, as PostgreSQL's sequences allow) stay for the next pass."""
        if not seqs:
            return
        async with self.db.session(write=True) as db:
            for start in range(0, len(seqs), FORGET_BATCH):
                await db.execute(
                    delete(RuntimeChange).where(
                        RuntimeChange.seq.in_(seqs[start : start + FORGET_BATCH])
                    )
                )
            await db.commit()

    def _plan_app(
        self,
        plan: _Plan,
        snap: _Snapshot,
        app_id: uuid.UUID,
        name: str,
        maintenance: bool,
        full: bool,
    ) -> None:
        """One app's part of a pass: its route, and (if anything changed) its dyno rows and
        the state the scheduler gets."""
        release_id = snap.current.get(app_id)
        spec = snap.specs.get(release_id) if release_id else None
        if spec is not None:
            plan.current[app_id] = spec
        runnable = spec is not None and spec.slug_path is not None
        formation = sorted(snap.formations.get(app_id, ()))
        dynos = sorted(snap.dynos.get(app_id, ()), key=lambda d: (d.name, str(d.id)))
        features = frozenset(snap.features.get(app_id, ()))
        key = (
            name,
            maintenance,
            release_id,
            runnable,
            tuple(formation),
            features,
            tuple(d.key for d in dynos),
        )
        plan.seen[app_id] = key
        route = self._app_routes.get(app_id)
        if not full and route is not None and self._seen.get(app_id) == key:
            plan.routes[app_id] = route
            return
        plan.routes[app_id] = _Route(
            app_id=app_id,
            app_name=name,
            maintenance=maintenance,
            blank=not runnable,
            web_quantity=sum(f[1] for f in formation if f[0] == "web"),
            config=dict(spec.config) if spec else {},
            affinity="http-session-affinity" in features,
        )
        ids = self._plan_rows(plan, app_id, spec if runnable else None, formation, dynos)
        flagged = [d for d in dynos if d.restart_requested or d.stop_requested]
        plan.cleared.extend(d.id for d in flagged)
        plan.states.append(
            AppState(
                app_id=app_id,
                app_name=name,
                release=spec,
                formation=tuple(ProcessSpec(*f) for f in formation),
                oneoffs=tuple(d.oneoff_spec() for d in dynos if d.oneoff and not d.complete),
                preboot="preboot" in features,
                dyno_metadata="runtime-dyno-metadata" in features,
                runtime_metrics="log-runtime-metrics" in features,
                restarts=frozenset(d.name for d in flagged if not d.oneoff),
                dyno_ids=ids,
                default_domain=f"{name}.{self.settings.base_domain}",
            )
        )

    @staticmethod
    def _plan_rows(
        plan: _Plan,
        app_id: uuid.UUID,
        spec: ReleaseSpec | None,
        formation: list[tuple[str, int, str, str]],
        dynos: list[_DynoRow],
    ) -> dict[str, uuid.UUID]:
        """The formation dyno rows to add, change and remove; the id of each wanted dyno."""
        wanted: dict[str, tuple[str, str, str]] = {}
        if spec is not None:
            for kind, quantity, size, command in formation:
                for i in range(1, quantity + 1):
                    wanted[f"{kind}.{i}"] = (kind, size, command)
        rows = {d.name: d for d in dynos if not d.oneoff}
        ids: dict[str, uuid.UUID] = {}
        for dyno_name, (kind, size, command) in wanted.items():
            row = rows.get(dyno_name)
            if row is None:
                ids[dyno_name] = uuid.uuid4()
                plan.writes.append(_DynoWrite(ids[dyno_name], app_id, dyno_name, kind, new=True))
                continue
            ids[dyno_name] = row.id
            if (row.release_id, row.size, row.command) != (
                spec.id if spec else None,
                size,
                command,
            ):
                plan.writes.append(_DynoWrite(row.id, app_id, dyno_name, kind, new=False))
        plan.deletes.extend(row.id for dyno_name, row in rows.items() if dyno_name not in wanted)
        return ids

    def _app_of(self, host: str) -> uuid.UUID | None:
        route = self._routes.get(host)
        return route.app_id if route is not None else None

    async def _snapshot(self, scope: set[uuid.UUID] | None) -> _Snapshot:
        """The desired state of the apps in `scope` (of every app when None)."""
        snap = _Snapshot()

        def of(stmt: _S, column: Any) -> _S:
            return stmt if scope is None else stmt.where(column.in_(scope))

        async with self.db.session(write=False) as db:
            # Plain Core rows: nothing here needs the ORM's identity map, which costs more
            # than the query on every pass.
            conn = await db.connection()
            for app_id, name, maintenance in (
                await conn.execute(of(select(App.id, App.name, App.maintenance), App.id))
            ).all():
                snap.apps.append((app_id, name, maintenance))
            latest = of(
                select(Release.app_id, func.max(Release.version).label("version"))
                .where(Release.status == "succeeded")
                .group_by(Release.app_id),
                Release.app_id,
            ).subquery()
            for app_id, release_id in (
                await conn.execute(
                    select(Release.app_id, Release.id).join(
                        latest,
                        (Release.app_id == latest.c.app_id) & (Release.version == latest.c.version),
                    )
                )
            ).all():
                snap.current[app_id] = release_id
            for app_id, kind, quantity, size, command in (
                await conn.execute(
                    of(
                        select(
                            Formation.app_id,
                            Formation.type,
                            Formation.quantity,
                            Formation.size,
                            Formation.command,
                        ),
                        Formation.app_id,
                    )
                )
            ).all():
                snap.formations[app_id].append((kind, quantity, size, command))
            for app_id, feature in (
                await conn.execute(
                    of(
                        select(AppFeatureState.app_id, AppFeatureState.name).where(
                            AppFeatureState.enabled.is_(True)
                        ),
                        AppFeatureState.app_id,
                    )
                )
            ).all():
                snap.features[app_id].add(feature)
            for row in (await conn.execute(of(select(*_DynoRow.COLUMNS), Dyno.app_id))).all():
                dyno = _DynoRow.of(row)
                snap.dynos[dyno.app_id].append(dyno)
            for hostname, app_id, endpoint_id in (
                await conn.execute(
                    of(
                        select(Domain.hostname, Domain.app_id, Domain.sni_endpoint_id),
                        Domain.app_id,
                    )
                )
            ).all():
                snap.domains.append((hostname, app_id, endpoint_id))
            snap.certificates = await self.certificates.read(conn)
            missing = set(snap.current.values()) - set(self._specs)
            releases: list[Release] = []
            slugs: dict[uuid.UUID, Slug] = {}
            if missing:
                releases = list(
                    (await db.execute(select(Release).where(Release.id.in_(missing)))).scalars()
                )
                slug_ids = {r.slug_id for r in releases if r.slug_id}
                for found in (
                    await db.execute(select(Slug).where(Slug.id.in_(slug_ids)))
                ).scalars():
                    slugs[found.id] = found
        live = set(snap.current.values())
        if scope is None:
            self._specs = {rid: spec for rid, spec in self._specs.items() if rid in live}
        for release in releases:
            slug = slugs.get(release.slug_id) if release.slug_id else None
            spec = await self._release_spec(release, slug)
            # A slug whose tarball is not to be had yet is looked for again on the next pass.
            if slug is None or spec.slug_path is not None:
                self._specs[release.id] = spec
            else:
                snap.unready.add(release.app_id)
            snap.specs[release.id] = spec
        snap.specs.update(self._specs)
        return snap

    async def _release_spec(self, release: Release, slug: Slug | None) -> ReleaseSpec:
        return ReleaseSpec(
            id=release.id,
            version=release.version,
            created_at=release.created_at,
            description=release.description,
            slug_path=await self._slug_path(slug) if slug else None,
            slug_id=slug.id if slug else None,
            commit=slug.commit if slug else None,
            process_types={
                str(k): str(v) for k, v in ((slug.process_types if slug else {}) or {}).items()
            },
            config={str(k): str(v) for k, v in (release.config or {}).items()},
        )

    async def _write_rows(
        self,
        writes: list[_DynoWrite],
        deletes: list[uuid.UUID],
        cleared: list[uuid.UUID],
        current: dict[uuid.UUID, ReleaseSpec],
        apps: set[uuid.UUID],
    ) -> None:
        """`apps`: the apps these rows belong to (for the journal)."""
        async with self.db.session(write=True) as db:
            for write in writes:
                release = current.get(write.app_id)
                formation = (
                    await db.execute(
                        select(Formation).where(
                            Formation.app_id == write.app_id,
                            Formation.type == write.type,
                        )
                    )
                ).scalar_one_or_none()
                if formation is None:
                    continue
                row = None if write.new else await db.get(Dyno, write.id)
                if row is None:
                    row = Dyno(
                        id=write.id,
                        app_id=write.app_id,
                        name=write.name,
                        type=write.type,
                        state=STARTING,
                        oneoff=False,
                        attach=False,
                        tty=False,
                        env={},
                    )
                    db.add(row)
                row.size = formation.size
                row.command = formation.command
                row.release_id = release.id if release else None
                row.release_version = release.version if release else None
            if deletes:
                await db.execute(
                    delete(Dyno)
                    .where(Dyno.id.in_(deletes))
                    .execution_options(synchronize_session=False, runtime_apps=apps)
                )
            if cleared:
                await db.execute(
                    update(Dyno)
                    .where(Dyno.id.in_(cleared), Dyno.oneoff.is_(False))
                    .values(restart_requested=False, stop_requested=False)
                    .execution_options(synchronize_session=False, runtime_apps=apps)
                )
            await db.commit()

    # --- the router's route table -------------------------------------------------------

    async def lookup(self, host: str) -> Target | None:
        return self.find(host)

    def find(self, host: str) -> Target | None:
        route = self._routes.get(host.lower().rstrip("."))
        return None if route is None else self._target(route)

    def hosts(self) -> dict[str, uuid.UUID]:
        return {host: route.app_id for host, route in self._routes.items()}

    def target(self, app_id: uuid.UUID) -> Target | None:
        route = self._app_routes.get(app_id)
        return None if route is None else self._target(route)

    def watch(self, changed: Callable[[Collection[uuid.UUID] | None], None]) -> None:
        """Call `changed` with the apps whose routing may have changed (None: any app's,
        or which hosts route where), after every pass and every change of their dynos."""
        self._route_watchers.append(changed)

    def routing_changed(self, app_id: uuid.UUID) -> None:
        """The scheduler changed an app's routable dynos or their state."""
        self._routes_changed([app_id])

    def _routes_changed(self, apps: Collection[uuid.UUID] | None) -> None:
        for changed in self._route_watchers:
            try:
                changed(apps)
            except Exception:
                log.exception("a route table watcher failed")

    def _target(self, route: _Route) -> Target:
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
            affinity=route.affinity,
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
