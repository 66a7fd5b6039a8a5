"""Heroku Postgres transfers, carried out: backups, restores and copies, and the daily
backups of schedules.

The API records a transfer and commits (tenku.data_api.backups); the runtime that holds
the data directory claims it (`runner`, `started_at`) and runs PostgreSQL's own tools as
Tenku's user, never user code: a backup is `pg_dump --format=custom` streamed into the
blob store; a restore is `pg_restore --clean --if-exists --no-owner --no-acl
--role=<the add-on's role>` fed from a backup's dump, or from a URL fetched under the
egress policy; a copy empties its target (pg:copy's warning says all its data goes), then
feeds pg_dump's output straight to pg_restore. Bytes moved and the tools' stderr reach
the transfer every second, and that is when a cancellation is seen. Each transfer has a
time limit (TENKU_PG_TRANSFER_TIMEOUT) and a size limit (TENKU_PG_TRANSFER_MAX_MB); one
database is in at most one transfer at a time.

A transfer never outlives its runtime: one that stops fails its transfers, and one that
starts fails those a predecessor left (killing whatever of their tools still runs). A
half-done backup or restore cannot be resumed honestly, so it is never retried.

Schedules are looked at every half minute: a schedule whose hour has come in its time
zone gets its backup once (late, once, after a runtime that was away). A backup that
succeeds expires the backups its plan no longer keeps (data_api/backups/retention.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.postgres import PostgresProvider, names_for
from tenku.addons.provider import ProviderError
from tenku.addons.registry import AddonRegistry
from tenku.config import Settings
from tenku.data_api.backups import service
from tenku.data_api.backups.retention import (
    Kept,
    Retention,
    expired_manual,
    expired_scheduled,
)
from tenku.data_api.backups.schedule import due, zone
from tenku.data_api.postgres import server
from tenku.db.base import utcnow
from tenku.db.engine import Database as Db
from tenku.db.models import Addon, App, PgTransfer, PgTransferSchedule
from tenku.egress import REFUSED, EgressPolicy, EgressRefused
from tenku.loops import WAKE_GAP, Passes
from tenku.resources.addon.render import plan_of
from tenku.runtime import pg_tools
from tenku.runtime.procs import kill_group, kill_marked, pump, stop_group
from tenku.runtime.sources import client_tls
from tenku.storage.blobs import CHUNK, BlobStore

log = logging.getLogger("tenku.runtime.pg_transfers")

# Transfers run at once (each is two processes at most, mostly waiting on the server).
CONCURRENCY = 2
# Seconds between progress writes (bytes, log lines) and looks for a cancellation.
PROGRESS = 1.0
# Seconds between looks at the schedules.
SCHEDULES = 30.0
# The tools' lines a transfer keeps (the platform's own always go in).
MAX_LOG_LINES = 1000
MAX_LINE = 500
MARKER = "TENKU_PG_TRANSFER"
RESTARTED = "The transfer was interrupted: the platform restarted while it ran."
STOPPED = "The transfer was interrupted: the platform stopped while it ran."
INTERNAL = "The transfer failed: an internal error (the platform's log says more)."
WARNINGS = re.compile(r"errors ignored on restore: (\d+)")


class TransferFailed(Exception):
    """Why a transfer failed, as its log tells the user."""


class Job:
    """A transfer under way: what the runtime writes back about it every second."""

    def __init__(self, transfer: PgTransfer, limit: int) -> None:
        self.id = transfer.id
        self.limit = limit
        self.logs: list[dict[str, str]] = list(transfer.logs)
        self.dropped = 0
        self.processed = 0
        self.source_bytes: int | None = transfer.source_bytes
        self.warnings = 0
        self.canceled = asyncio.Event()
        self.procs: dict[asyncio.subprocess.Process, asyncio.Task[None]] = {}
        self._written: tuple[int, int, int | None] = (-1, -1, None)

    def say(self, message: str, level: str = "info") -> None:
        self.logs.append(service.log_line(message[:MAX_LINE], level=level))

    def line(self, _stream: str, text: str) -> None:
        """A line of a tool's stderr."""
        text = text.rstrip()
        if not text:
            return
        found = WARNINGS.search(text)
        if found:
            self.warnings = int(found.group(1))
        if len(self.logs) >= MAX_LOG_LINES:
            self.dropped += 1
            return
        self.say(text)

    def moved(self, count: int) -> None:
        self.processed += count
        if self.processed > self.limit:
            raise TransferFailed(
                f"The transfer moved more than {self.limit >> 20} MB, this platform's limit "
                "(TENKU_PG_TRANSFER_MAX_MB)."
            )

    def final_logs(self) -> list[dict[str, str]]:
        if not self.dropped:
            return self.logs
        return [*self.logs, service.log_line(f"({self.dropped} more lines were not kept)")]

    def progress(self) -> dict[str, object] | None:
        """What changed since the last write, or None."""
        now = (self.processed, len(self.logs), self.source_bytes)
        if now == self._written:
            return None
        values: dict[str, object] = {"processed_bytes": self.processed}
        if now[1] != self._written[1]:
            values["logs"] = list(self.logs)
        if self.source_bytes is not None:
            values["source_bytes"] = self.source_bytes
        self._written = now
        return values


class TransferRunner:
    def __init__(
        self,
        settings: Settings,
        db: Db,
        blobs: BlobStore,
        registry: AddonRegistry,
        runner_id: str,
        *,
        poll_interval: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.registry = registry
        self.runner_id = runner_id
        self.clock = clock
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._jobs: dict[uuid.UUID, Job] = {}
        # The add-ons the running transfers read or write.
        self._busy: set[uuid.UUID] = set()
        self._claims = Passes(
            "tenku-pg-transfers",
            self.claim,
            poll_interval,
            logger=log,
            failure="could not claim Postgres transfers",
            gap=WAKE_GAP,
        )
        self._schedules = Passes(
            "tenku-pg-schedules",
            self.fire,
            SCHEDULES,
            logger=log,
            failure="could not start scheduled backups",
            after=self._claims.wake,
        )

    def start(self) -> None:
        self._claims.start()
        self._schedules.start()

    def wake(self) -> None:
        self._claims.wake()

    async def stop(self) -> None:
        """Stop claiming; running transfers stop, their tools killed, and fail."""
        await self._claims.stop()
        await self._schedules.stop()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Until no transfer runs (tests, and a runtime that drains before stopping)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- recovery -----------------------------------------------------------------------

    async def recover(self) -> int:
        """Fail the transfers an earlier runtime left running (this one holds the data
        directory, so that one is gone), killing what is left of their tools; how many."""
        async with self.db.session(write=False) as db:
            stale = list(
                (
                    await db.execute(
                        select(PgTransfer.id).where(
                            PgTransfer.finished_at.is_(None),
                            PgTransfer.runner.is_not(None),
                            PgTransfer.runner != self.runner_id,
                        )
                    )
                ).scalars()
            )
        for transfer_id in stale:
            killed = await asyncio.to_thread(kill_marked, f"{MARKER}={transfer_id}")
            if killed:
                log.warning("killed %d leftover processes of transfer %s", killed, transfer_id)
            await self._fail(transfer_id, RESTARTED)
            log.warning("Postgres transfer %s was interrupted by a restart; failed", transfer_id)
        return len(stale)

    async def _fail(self, transfer_id: uuid.UUID, message: str, job: Job | None = None) -> None:
        async with self.db.session(write=True) as db:
            transfer = await db.get(PgTransfer, transfer_id)
            if transfer is not None and transfer.finished_at is None:
                logs = job.final_logs() if job is not None else list(transfer.logs)
                transfer.logs = [*logs, service.log_line(message, level="error")]
                transfer.finished_at = self.clock()
                transfer.succeeded = False
                if job is not None:
                    transfer.processed_bytes = job.processed
            await db.commit()

    # --- schedules ----------------------------------------------------------------------

    async def fire(self, now: datetime | None = None) -> int:
        """Record the backups schedules owe by `now`; how many."""
        now = now or self.clock()
        async with self.db.session(write=False) as db:
            schedules = list((await db.execute(select(PgTransferSchedule))).scalars())
        made = 0
        for schedule in schedules:
            where = zone(schedule.timezone)
            if where is None:
                continue
            moment = due(schedule.hour, where, schedule.created_at, schedule.last_due_at, now)
            if moment is not None and await self._scheduled(schedule.id, moment):
                made += 1
        return made

    async def _scheduled(self, schedule_id: uuid.UUID, moment: datetime) -> bool:
        async with self.db.session(write=True) as db:
            schedule = (
                await db.execute(
                    select(PgTransferSchedule)
                    .where(PgTransferSchedule.id == schedule_id)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if schedule is None or (
                schedule.last_due_at is not None and schedule.last_due_at >= moment
            ):
                return False
            schedule.last_due_at = moment
            made = False
            addon = await db.get(Addon, schedule.addon_id)
            app = await db.get(App, addon.app_id) if addon is not None else None
            spec = self.registry.catalog.services.get(addon.service) if addon else None
            if addon is not None and app is not None and spec is not None:
                provider = self.registry.provider(spec)
                if addon.state == "provisioned" and isinstance(provider, PostgresProvider):
                    await service.capture(db, addon, app, schedule)
                    made = True
            if not made:
                log.warning("schedule %s: its database is not available; no backup", schedule_id)
            await db.commit()
        return made

    # --- claiming -----------------------------------------------------------------------

    async def claim(self) -> None:
        free = CONCURRENCY - len(self._tasks)
        if free <= 0:
            return
        async with self.db.session(write=False) as db:
            waiting = list(
                (
                    await db.execute(
                        select(PgTransfer.id, PgTransfer.from_addon_id, PgTransfer.to_addon_id)
                        .where(PgTransfer.runner.is_(None), PgTransfer.finished_at.is_(None))
                        .order_by(PgTransfer.created_at, PgTransfer.num)
                        .limit(100)
                    )
                ).all()
            )
        if not waiting:
            return
        claimed: list[tuple[uuid.UUID, set[uuid.UUID]]] = []
        async with self.db.session(write=True) as db:
            for transfer_id, source, target in waiting:
                if len(claimed) >= free:
                    break
                involved = {a for a in (source, target) if a is not None}
                if involved & self._busy or transfer_id in self._tasks:
                    continue
                result = await db.execute(
                    update(PgTransfer)
                    .where(
                        PgTransfer.id == transfer_id,
                        PgTransfer.runner.is_(None),
                        PgTransfer.finished_at.is_(None),
                    )
                    .values(runner=self.runner_id, started_at=self.clock())
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append((transfer_id, involved))
                    self._busy |= involved
            await db.commit()
        for transfer_id, involved in claimed:
            self._tasks[transfer_id] = asyncio.create_task(
                self._run(transfer_id, involved), name=f"pg-transfer-{transfer_id}"
            )

    async def _run(self, transfer_id: uuid.UUID, involved: set[uuid.UUID]) -> None:
        try:
            await self.carry_out(transfer_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                job = self._jobs.get(transfer_id)
                await asyncio.shield(self._fail(transfer_id, STOPPED, job))
            raise
        except Exception:
            log.exception("Postgres transfer %s crashed", transfer_id)
            with contextlib.suppress(Exception):
                await self._fail(transfer_id, INTERNAL, self._jobs.get(transfer_id))
        finally:
            self._jobs.pop(transfer_id, None)
            self._tasks.pop(transfer_id, None)
            self._busy -= involved
            # Another transfer of the same database may be waiting.
            self._claims.wake()

    # --- one transfer -------------------------------------------------------------------

    async def carry_out(self, transfer_id: uuid.UUID) -> None:
        async with self.db.session(write=False) as db:
            transfer = await db.get(PgTransfer, transfer_id)
        if transfer is None:
            return
        job = Job(transfer, self.settings.pg_transfer_max_mb << 20)
        self._jobs[transfer_id] = job
        job.say(_opening(transfer))
        progress = asyncio.create_task(self._progress(job))
        work = asyncio.create_task(self._work(transfer, job))
        stopper = asyncio.create_task(job.canceled.wait())
        try:
            await asyncio.wait(
                {work, stopper},
                timeout=self.settings.pg_transfer_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopper.cancel()
            if not work.done():
                work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
        succeeded = False
        if work.cancelled():
            if job.canceled.is_set():
                job.say("Canceled.", "error")
            else:
                limit = self.settings.pg_transfer_timeout
                job.say(
                    f"The transfer took longer than {limit:.0f} s, this platform's limit "
                    "(TENKU_PG_TRANSFER_TIMEOUT), and was stopped.",
                    "error",
                )
        else:
            problem = work.exception()
            if isinstance(problem, TransferFailed):
                job.say(str(problem), "error")
            elif problem is not None:
                raise problem
            else:
                succeeded = True
        await self._finish(transfer, job, succeeded)

    async def _work(self, transfer: PgTransfer, job: Job) -> None:
        try:
            if transfer.kind == service.BACKUP:
                await self._backup(transfer, job)
            elif transfer.kind == service.RESTORE:
                await self._restore(transfer, job)
            else:
                await self._copy(transfer, job)
        except pg_tools.ToolError as exc:
            raise TransferFailed(str(exc)) from exc
        finally:
            await asyncio.shield(self._reap(job))

    async def _progress(self, job: Job) -> None:
        while True:
            await asyncio.sleep(PROGRESS)
            try:
                await self._write_progress(job)
            except Exception:
                log.exception("could not record the progress of transfer %s", job.id)

    async def _write_progress(self, job: Job) -> None:
        values = job.progress()
        async with self.db.session(write=values is not None) as db:
            if values is not None:
                await db.execute(
                    update(PgTransfer)
                    .where(PgTransfer.id == job.id, PgTransfer.runner == self.runner_id)
                    .values(**values, updated_at=self.clock())
                    .execution_options(synchronize_session=False)
                )
            canceled = (
                await db.execute(select(PgTransfer.canceled_at).where(PgTransfer.id == job.id))
            ).first()
            await db.commit()
        # A transfer whose app went meanwhile is as good as canceled.
        if canceled is None or canceled[0] is not None:
            job.canceled.set()

    async def _finish(self, transfer: PgTransfer, job: Job, succeeded: bool) -> None:
        purge: list[str] = []
        async with self.db.session(write=True) as db:
            row = await db.get(PgTransfer, transfer.id)
            if row is None:
                # Its app was deleted meanwhile: so is anything it stored.
                purge = [transfer.blob_key] if transfer.blob_key and succeeded else []
            else:
                row.finished_at = self.clock()
                row.succeeded = succeeded
                row.warnings = job.warnings
                row.processed_bytes = job.processed
                row.source_bytes = job.source_bytes
                row.logs = job.final_logs()
                await db.flush()
                if succeeded and row.kind == service.BACKUP:
                    purge = await self._expire(db, row)
            await db.commit()
        for key in purge:
            await self.blobs.delete(key)
        log.info("Postgres transfer %s %s", transfer.id, "succeeded" if succeeded else "failed")

    async def _expire(self, db: AsyncSession, backup: PgTransfer) -> list[str]:
        """Mark deleted the backups of the same database and kind (manual or scheduled)
        that its plan no longer keeps; their dumps' keys."""
        if backup.from_addon_id is None:
            return []
        addon = await db.get(Addon, backup.from_addon_id)
        if addon is None:
            return []
        retention = Retention.of(plan_of(self.registry.catalog, addon).settings)
        scheduled = backup.schedule_id is not None
        kind = (
            PgTransfer.schedule_id.is_not(None) if scheduled else PgTransfer.schedule_id.is_(None)
        )
        rows = list(
            (
                await db.execute(
                    select(PgTransfer).where(
                        PgTransfer.app_id == backup.app_id,
                        PgTransfer.from_addon_id == backup.from_addon_id,
                        PgTransfer.kind == service.BACKUP,
                        PgTransfer.deleted_at.is_(None),
                        PgTransfer.finished_at.is_not(None),
                        kind,
                    )
                )
            ).scalars()
        )
        kept = [Kept(r.id, r.created_at, bool(r.succeeded)) for r in rows]
        expired = (expired_scheduled if scheduled else expired_manual)(kept, retention)
        now = self.clock()
        keys: list[str] = []
        for row in rows:
            if row.id in expired:
                row.deleted_at = now
                if row.blob_key:
                    keys.append(row.blob_key)
        return keys

    # --- the tools ----------------------------------------------------------------------

    async def _database(self, addon_id: uuid.UUID | None) -> tuple[Addon, PostgresProvider]:
        async with self.db.session(write=False) as db:
            addon = await db.get(Addon, addon_id) if addon_id is not None else None
        if addon is None or addon.state != "provisioned":
            raise TransferFailed("The database no longer exists.")
        spec = self.registry.catalog.services.get(addon.service)
        provider = self.registry.provider(spec) if spec is not None else None
        if not isinstance(provider, PostgresProvider):
            raise TransferFailed(f"{addon.name} is not a Heroku Postgres database.")
        return addon, provider

    async def _size(self, provider: PostgresProvider, addon: Addon) -> int | None:
        """The database's size on disk, as Heroku reports a backup's source (best effort)."""
        database, _ = names_for(addon.id)
        try:
            async with server.connect(provider, None) as conn:
                row = await (
                    await conn.execute(
                        "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s",
                        (database,),
                    )
                ).fetchone()
        except ProviderError as exc:
            log.warning("could not read the size of %s: %s", addon.name, exc.message)
            return None
        return int(str(row[0])) if row and row[0] is not None else None

    async def _spawn(
        self, job: Job, argv: list[str], to: pg_tools.Target, *, stdin: int, stdout: int
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=pg_tools.environment(to, f"{MARKER}={job.id}"),
            cwd=self.settings.data_dir,
            stdin=stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        job.procs[proc] = asyncio.create_task(pump(proc.stderr, "STDERR", job.line))
        return proc

    async def _ended(self, job: Job, proc: asyncio.subprocess.Process, name: str) -> int:
        """The tool's exit status, once its stderr is all in the log."""
        code = await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(job.procs[proc]), 5.0)
        job.say(f"{name} finished with status {code}.")
        return code

    async def _reap(self, job: Job) -> None:
        for proc, reader in job.procs.items():
            if proc.returncode is None:
                await stop_group(proc)
            else:
                kill_group(proc.pid)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(reader, 5.0)

    async def _dump(self, job: Job, to: pg_tools.Target) -> asyncio.subprocess.Process:
        argv = [
            pg_tools.tool("pg_dump", self.settings.pg_bin_dir),
            "--format=custom",
            "--verbose",
            "--no-password",
            f"--dbname={to.dbname}",
        ]
        pipe, nothing = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        return await self._spawn(job, argv, to, stdin=nothing, stdout=pipe)

    async def _dumped(self, job: Job, dump: asyncio.subprocess.Process) -> AsyncIterator[bytes]:
        """pg_dump's output, counted; fails at the end if pg_dump did."""
        assert dump.stdout is not None
        while chunk := await dump.stdout.read(CHUNK):
            job.moved(len(chunk))
            yield chunk
        code = await self._ended(job, dump, "pg_dump")
        if code != 0:
            raise TransferFailed(f"pg_dump failed (status {code}).")

    async def _backup(self, transfer: PgTransfer, job: Job) -> None:
        addon, provider = await self._database(transfer.from_addon_id)
        to = pg_tools.target(provider, addon.id)
        job.source_bytes = await self._size(provider, addon)
        assert transfer.blob_key is not None
        dump = await self._dump(job, to)
        # The store keeps nothing unless the stream ends without raising.
        size = await self.blobs.put(transfer.blob_key, self._dumped(job, dump))
        job.processed = size

    async def _restore(self, transfer: PgTransfer, job: Job) -> None:
        addon, provider = await self._database(transfer.to_addon_id)
        to = pg_tools.target(provider, addon.id)
        source: AsyncIterator[bytes]
        if transfer.source_key is not None:
            size = await self.blobs.size(transfer.source_key)
            if size is None:
                raise TransferFailed("The backup's dump no longer exists.")
            job.source_bytes = size
            source = self.blobs.get(transfer.source_key)
        elif transfer.source_url is not None:
            source = self._download(transfer.source_url, job)
        else:
            raise TransferFailed("The restore has nothing to restore.")
        await self._extensions(provider, addon, transfer.options.get("extensions") or [], job)
        await self._restore_from(source, to, job)

    async def _copy(self, transfer: PgTransfer, job: Job) -> None:
        source_addon, source_provider = await self._database(transfer.from_addon_id)
        target_addon, target_provider = await self._database(transfer.to_addon_id)
        source = pg_tools.target(source_provider, source_addon.id)
        target = pg_tools.target(target_provider, target_addon.id)
        job.source_bytes = await self._size(source_provider, source_addon)
        # pg:copy empties the target first, as its warning says; a restore only replaces
        # what the dump holds.
        try:
            await server.reset(target_provider, target_addon.id, [])
        except ProviderError as exc:
            raise TransferFailed(f"Could not empty {transfer.to_name}: {exc.message}") from exc
        job.say(f"Emptied {transfer.to_name}.")
        dump = await self._dump(job, source)
        await self._restore_from(self._dumped(job, dump), target, job, counted=True)

    async def _restore_from(
        self,
        source: AsyncIterator[bytes],
        to: pg_tools.Target,
        job: Job,
        counted: bool = False,
    ) -> None:
        argv = [
            pg_tools.tool("pg_restore", self.settings.pg_bin_dir),
            "--verbose",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            f"--role={to.role}",
            "--no-password",
            f"--dbname={to.dbname}",
        ]
        proc = await self._spawn(
            job, argv, to, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        assert proc.stdin is not None
        try:
            async for chunk in source:
                if not counted:
                    job.moved(len(chunk))
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            # pg_restore stopped reading: its status and stderr say why.
            pass
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
        proc.stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await proc.stdin.wait_closed()
        code = await self._ended(job, proc, "pg_restore")
        if code == 0:
            return
        if code == 1 and job.warnings:
            # Heroku's "Finished with N warnings": what pg_restore skipped is in the log.
            return
        raise TransferFailed(f"pg_restore failed (status {code}).")

    async def _extensions(
        self, provider: PostgresProvider, addon: Addon, names: list[str], job: Job
    ) -> None:
        """`--extensions`: made before the restore, in `public` or the named schema, by the
        add-on's own role (so only those a database owner may make)."""
        if not names:
            return
        role = sql.Identifier(names_for(addon.id)[1])
        try:
            async with server.connect(provider, addon.id) as conn:
                await conn.execute(sql.SQL("SET ROLE {}").format(role))
                for name in names:
                    schema, _, extension = name.rpartition(".")
                    await _install(conn, schema or "public", extension, job)
        except ProviderError as exc:
            job.say(f"Could not install extensions: {exc.message}", "warning")

    async def _download(self, url: str, job: Job) -> AsyncIterator[bytes]:
        shown = service.shown_url(url)
        policy = EgressPolicy.of(self.settings)
        timeout = httpx.Timeout(30.0, read=300.0)
        try:
            async with (
                policy.client(
                    timeout=timeout, follow_redirects=True, verify=client_tls(self.settings)
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise TransferFailed(
                        f"Downloading {shown} failed: HTTP {response.status_code}."
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit():
                    job.source_bytes = int(length)
                async for chunk in response.aiter_bytes(CHUNK):
                    yield chunk
        except EgressRefused as exc:
            raise TransferFailed(f"Downloading {shown} was {REFUSED}.") from exc
        except httpx.HTTPError as exc:
            raise TransferFailed(f"Downloading {shown} failed: {type(exc).__name__}.") from exc


async def _install(conn: server.Conn, schema: str, extension: str, job: Job) -> None:
    try:
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        await conn.execute(
            sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}").format(
                sql.Identifier(extension), sql.Identifier(schema)
            )
        )
        job.say(f"Installed the extension {extension} in {schema}.")
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc)
        job.say(f"Could not install the extension {extension}: {reason}", "warning")


def _opening(transfer: PgTransfer) -> str:
    name = service.name_of(transfer)
    if transfer.kind == service.BACKUP:
        return f"Backing up {transfer.from_name} to {name}."
    if transfer.kind == service.RESTORE:
        return f"Restoring {transfer.from_name} to {transfer.to_name} ({name})."
    return f"Copying {transfer.from_name} to {transfer.to_name} ({name})."
