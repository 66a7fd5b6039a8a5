"""The build runtime: claims pending builds from the database and runs them.

The API only records a build as pending and nudges the runtime after commit. The
runtime claims builds with a conditional UPDATE, so however many API workers there are,
and whichever process created the build (a git hook), each build runs once. One build per
app runs at a time; the app's other builds wait, oldest first. An installation runs one
runtime, so a build that was claimed but never finished when a runtime starts was left by
its predecessor (crashed or killed): it is failed, and whatever its processes left
running is killed.

Nudges reach a runtime in the same process directly and one in another process through a
datagram on a Unix socket in the data directory (`tenku.nudge`); without either, the
runtime still finds pending builds by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import select, update

from tenku.addons.registry import AddonRegistry
from tenku.addons.settings import AddonSettings
from tenku.children import die_with_parent
from tenku.config import Settings
from tenku.db import liveness
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import Build
from tenku.logs.drains import DrainForwarder
from tenku.loops import WAKE_GAP, Passes
from tenku.nudge import Inbox, instance_name, register, unregister
from tenku.router import Router
from tenku.runtime.addons import AddonSweeper
from tenku.runtime.builder import Builder, BuildSettings
from tenku.runtime.dynos import DynoManager
from tenku.runtime.janitor import Janitor
from tenku.runtime.local import LocalOptions, LocalScheduler
from tenku.runtime.output import STDERR, OutputWriter
from tenku.runtime.pg_transfers import TransferRunner
from tenku.runtime.procs import kill_leftovers
from tenku.runtime.promotions import Promoter
from tenku.runtime.rendezvous import RendezvousServer
from tenku.runtime.sandbox import Sandbox
from tenku.runtime.setups import SetupPerformer, SetupRunner
from tenku.storage.blobs import BlobStore, DirectoryBlobStore
from tenku.storage.signing import Signer, load_secret
from tenku.tls import server_ssl_context

log = logging.getLogger("tenku.runtime")

POLL_INTERVAL = 2.0


class Runtime:
    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        blobs: BlobStore | None = None,
        signer: Signer | None = None,
        *,
        concurrency: int | None = None,
        poll_interval: float = POLL_INTERVAL,
        timeout: float | None = None,
        run_dynos: bool = True,
    ) -> None:
        self.settings = settings
        self._own_db = db is None
        self.db = db or Database(settings.database_url)
        self.build_settings = BuildSettings(
            settings=settings,
            db=self.db,
            blobs=blobs or DirectoryBlobStore(settings.data_dir / "blobs"),
            signer=signer or Signer(load_secret(settings.data_dir, settings.secret_key)),
            timeout=timeout or settings.build_timeout,
            sandbox=Sandbox(settings),
        )
        self.concurrency = concurrency or settings.build_concurrency
        self.id = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._claims = Passes(
            "tenku-runtime",
            self._claim,
            poll_interval,
            logger=log,
            failure="could not claim builds",
            gap=WAKE_GAP,
        )
        self._beats = Passes(
            "tenku-heartbeat",
            self._beat,
            settings.runtime_heartbeat,
            logger=log,
            failure="could not write the runtime's heartbeat",
        )
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._busy_apps: set[uuid.UUID] = set()
        self._inbox: Inbox | None = None
        self._drains: DrainForwarder | None = None
        self._janitor: Janitor | None = None
        self._addons: AddonSweeper | None = None
        self.promoter: Promoter | None = None
        self.pg_transfers: TransferRunner | None = None
        self._setups: SetupRunner | None = None
        self._poll_interval = poll_interval
        self.run_dynos = run_dynos
        self.dynos: DynoManager | None = None
        self.router: Router | None = None
        self.rendezvous: RendezvousServer | None = None

    # --- lifecycle ----------------------------------------------------------------

    async def start(self, exclusive: bool = False) -> None:
        """Start claiming builds; with `exclusive`, refuse to start beside another runtime
        of the same data directory (RuntimeError)."""
        sandbox = self.build_settings.sandbox
        if sandbox is not None and self.settings.sandbox == "on" and not sandbox.enabled:
            raise RuntimeError(f"TENKU_SANDBOX=on, but {sandbox.description}")
        if sandbox is not None:
            log.info("builds and dynos: sandbox %s", sandbox.description)
        # Beating before anything carries this runtime's id, so the API never sees it stale.
        await self._beat()
        self._beats.start()
        # Only the one runtime that holds the data directory recovers, delivers and runs dynos.
        if self._listen():
            if sandbox is not None:
                await asyncio.to_thread(sandbox.start)
            registry = AddonRegistry(AddonSettings.of(self.settings))
            self._setups = self._setup_runner(registry)
            await self.recover()
            self.promoter = Promoter(self.db, self.id, self._poll_interval, self._released)
            await self.promoter.recover()
            self.pg_transfers = TransferRunner(
                self.settings,
                self.db,
                self.build_settings.blobs,
                registry,
                self.id,
                poll_interval=self._poll_interval,
            )
            await self.pg_transfers.recover()
            self.pg_transfers.start()
            # Only the runtime that owns the data directory delivers, so no line goes twice.
            self._drains = DrainForwarder(self.settings, self.db)
            self._drains.start()
            self._addons = AddonSweeper(self.settings, self.db, registry)
            self._addons.start()
            interval = self.settings.janitor_interval
            if interval > 0:
                env = self.build_settings
                self._janitor = Janitor(
                    self.settings, self.db, env.blobs, env.signer, interval=interval
                )
                self._janitor.start()
            if self.run_dynos:
                await self._start_dynos()
            # After the dynos: a promoted release restarts them.
            self.promoter.start()
            self._setups.start()
        elif exclusive:
            await self._beats.stop()
            await self._forget()
            raise RuntimeError(f"A build runtime already runs for {self.settings.data_dir}.")
        else:
            log.warning("another build runtime serves %s", self.settings.data_dir)
        register(self)
        self._claims.start()

    async def stop(self) -> None:
        """Stop claiming, stop running builds (their processes killed, builds failed)."""
        unregister(self)
        await self._claims.stop()
        if self._setups is not None:
            # Before the builds stop: setups waiting on one build again next time.
            await self._setups.stop()
            self._setups = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.pg_transfers is not None:
            # Running backups, restores and copies fail: none can be resumed half-way.
            await self.pg_transfers.stop()
            self.pg_transfers = None
        if self.promoter is not None:
            # A promotion it was carrying out stays claimed: the next runtime resumes it.
            await self.promoter.stop()
            self.promoter = None
        await self._stop_dynos()
        if self._drains is not None:
            await self._drains.stop()
            self._drains = None
        if self._janitor is not None:
            await self._janitor.stop()
            self._janitor = None
        if self._addons is not None:
            await self._addons.stop()
            self._addons = None
        if self._inbox is not None and self.build_settings.sandbox is not None:
            await asyncio.to_thread(self.build_settings.sandbox.stop)
        self._unlisten()
        await self._beats.stop()
        await self._forget()
        if self._own_db:
            await self.db.dispose()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def wake(self) -> None:
        self._claims.wake()
        if self._addons is not None:
            self._addons.wake()
        if self.promoter is not None:
            self.promoter.wake()
        if self.pg_transfers is not None:
            self.pg_transfers.wake()
        if self._setups is not None:
            self._setups.wake()
        if self.dynos is not None:
            self.dynos.wake()
        # A request may have logged a platform line.
        if self._drains is not None:
            self._drains.wake()

    def _released(self) -> None:
        """A promotion released a slug: the app's dynos restart, its log lines go out."""
        if self.dynos is not None:
            self.dynos.wake()
        if self._drains is not None:
            self._drains.wake()

    # --- app setups ---------------------------------------------------------------------

    def _setup_runner(self, registry: AddonRegistry) -> SetupRunner:
        env = self.build_settings

        def wake_dynos() -> None:
            if self.dynos is not None:
                self.dynos.wake()

        performer = SetupPerformer(
            self.settings,
            self.db,
            env.blobs,
            env.signer,
            registry,
            wake_builds=self._claims.wake,
            wake_dynos=wake_dynos,
        )
        return SetupRunner(performer, self.id, poll_interval=self._poll_interval)

    # --- dynos, the router and rendezvous -----------------------------------------------

    async def _start_dynos(self) -> None:
        marker = ("TENKU_INSTANCE", instance_name(self.settings))
        root = self.settings.data_dir / "dynos"
        self.dynos = DynoManager(
            self.settings,
            self.db,
            self.build_settings.blobs,
            lambda manager: LocalScheduler(
                LocalOptions.of(self.settings, root, marker), manager, self.build_settings.sandbox
            ),
            self.id,
            self.build_settings.sandbox,
        )
        if self._drains is not None:
            self.dynos.on_lines = self._drains.wake
        await self.dynos.recover()
        await self.dynos.start()
        settings = self.settings
        ssl_context = await asyncio.to_thread(server_ssl_context, settings)
        # The router's own: it picks apps' certificates by SNI on it.
        router_context = await asyncio.to_thread(server_ssl_context, settings)
        secret = self.build_settings.signer.secret
        affinity_key = hmac.new(secret, b"session-affinity", hashlib.sha256).digest()
        self.router = Router(
            self.dynos,
            self.dynos.router_log,
            affinity_key=affinity_key,
            certificates=self.dynos.certificates,
            processes=settings.router_processes,
        )
        self.rendezvous = RendezvousServer(ssl_context, self.dynos.claim)
        try:
            await self.router.start(
                settings.host,
                settings.router_port,
                settings.router_https_port,
                router_context,
                ssl_factory=functools.partial(server_ssl_context, settings),
            )
            await self.rendezvous.start(settings.host, settings.rendezvous_port)
        except OSError as exc:
            log.error("could not listen for apps' traffic or dyno attaches: %s", exc)

    async def _stop_dynos(self) -> None:
        if self.rendezvous is not None:
            await self.rendezvous.stop()
            self.rendezvous = None
        if self.router is not None:
            await self.router.stop()
            self.router = None
        if self.dynos is not None:
            await self.dynos.stop()
            self.dynos = None

    # --- nudges from other processes ------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._inbox is not None

    def _listen(self) -> bool:
        inbox = Inbox.open(self.settings)
        if inbox is None:
            return False
        asyncio.get_running_loop().add_reader(inbox.sock.fileno(), self._on_datagram)
        self._inbox = inbox
        return True

    def _on_datagram(self) -> None:
        if self._inbox is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            while self._inbox.sock.recv(64):
                pass
        self.wake()

    def _unlisten(self) -> None:
        if self._inbox is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inbox.sock.fileno())
            self._inbox.close()
            self._inbox = None

    # --- heartbeat --------------------------------------------------------------------

    async def _beat(self) -> None:
        async with self.db.session(write=True) as db:
            await liveness.beat(db, self.id)
            await db.commit()

    async def _forget(self) -> None:
        with contextlib.suppress(Exception):
            async with self.db.session(write=True) as db:
                await liveness.forget(db, self.id)
                await db.commit()

    # --- recovery -------------------------------------------------------------------

    async def recover(self) -> None:
        """Fail the builds an earlier runtime claimed and never finished, and take over
        its app setups (those waiting on such a build build again). The runtime that
        holds the data directory is its only one, so every other runner is gone: its
        heartbeat row goes too."""
        if self._setups is not None:
            await self._setups.recover()
        async with self.db.session(write=True) as db:
            await liveness.forget_all_but(db, {self.id})
            stale = list(
                (
                    await db.execute(
                        select(Build.id, Build.pgid).where(
                            Build.status == "pending",
                            Build.runner.is_not(None),
                            Build.runner != self.id,
                        )
                    )
                ).all()
            )
            await db.commit()
        for build_id, pgid in stale:
            if pgid:
                killed = await asyncio.to_thread(kill_leftovers, pgid, f"TENKU_BUILD_ID={build_id}")
                if killed:
                    log.warning("killed %d leftover processes of build %s", killed, build_id)
            out = OutputWriter(self.db, build_id)
            await out.resume()
            out.write(STDERR, " !     Build interrupted: the platform restarted during the build.")
            async with self.db.session(write=True) as db:
                result = await db.execute(
                    update(Build)
                    .where(Build.id == build_id, Build.status == "pending")
                    .values(status="failed", exit_code=1, finished_at=utcnow(), pgid=None)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0):
                    db.add_all(out.take_rows())
                await db.commit()
            log.warning("build %s was interrupted by a restart; marked failed", build_id)
        # Nothing runs yet, so every build directory left on disk is debris.
        await asyncio.to_thread(shutil.rmtree, self.build_settings.work_root, True)

    # --- claiming -------------------------------------------------------------------

    async def _claim(self) -> None:
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return
        # A read first: most polls find nothing, and on SQLite a write would lock.
        async with self.db.session(write=False) as db:
            waiting = list(
                (
                    await db.execute(
                        select(Build.id, Build.app_id)
                        .where(Build.status == "pending", Build.runner.is_(None))
                        .order_by(Build.created_at, Build.id)
                        .limit(200)
                    )
                ).all()
            )
            if not waiting:
                return
            busy = set(
                (
                    await db.execute(
                        select(Build.app_id).where(
                            Build.status == "pending", Build.runner.is_not(None)
                        )
                    )
                ).scalars()
            )
        busy |= self._busy_apps
        claimed: list[tuple[uuid.UUID, uuid.UUID]] = []
        async with self.db.session(write=True) as db:
            for build_id, app_id in waiting:
                if len(claimed) >= free:
                    break
                if app_id in busy:
                    continue
                result = await db.execute(
                    update(Build)
                    .where(Build.id == build_id, Build.runner.is_(None))
                    .values(runner=self.id)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append((build_id, app_id))
                    busy.add(app_id)
            await db.commit()
        for build_id, app_id in claimed:
            self._busy_apps.add(app_id)
            task = asyncio.create_task(self._run(build_id, app_id), name=f"build-{build_id}")
            self._tasks[build_id] = task

    async def _run(self, build_id: uuid.UUID, app_id: uuid.UUID) -> None:
        try:
            await Builder(self.build_settings, build_id).run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("build %s crashed", build_id)
        finally:
            self._tasks.pop(build_id, None)
            self._busy_apps.discard(app_id)
            # The app's next build may be waiting.
            self.wake()


# --- running it as a process of its own ---------------------------------------------


async def serve(settings: Settings) -> None:
    """Run a runtime until SIGTERM or SIGINT; running builds are then stopped and failed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = Runtime(settings)
    try:
        await runtime.start(exclusive=True)
    except RuntimeError as exc:
        await runtime.db.dispose()
        raise SystemExit(str(exc)) from exc
    log.info("build runtime %s started", runtime.id)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        log.info("build runtime %s stopped", runtime.id)


def spawn(settings: Settings) -> subprocess.Popen[bytes]:
    """Start `tenku runtime` beside the API (same process group, so ^C reaches both)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tenku.cli", "runtime", "--data-dir", str(settings.data_dir)],
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        # The runtime must not outlive `tenku up`, even when that is killed outright.
        preexec_fn=die_with_parent,  # noqa: PLW1509
    )


def stop_spawned(proc: subprocess.Popen[bytes], grace: float = 45.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# A runtime that dies is started again after FIRST_DELAY seconds, doubling up to MAX_DELAY
# while it keeps dying within STEADY seconds of its start.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STEADY = 60.0
# `tenku up`'s own lines go where uvicorn's do.
up_log = logging.getLogger("uvicorn.error")


class Supervisor:
    """Keeps one `tenku runtime` running beside the API for as long as `tenku up` runs:
    one that dies (killed, crashed) is started again, with a line saying so.

    The new runtime takes over from the dead one as after any crash: it fails the builds
    the old one left, kills what is left of its processes, and starts the formation's dynos
    again (`Runtime.recover`, `DynoManager.recover`). The managed add-on servers are kept
    running the same way (`name` and `stopper` say what they are and how they stop).
    """

    def __init__(
        self,
        settings: Settings,
        spawner: Callable[[], subprocess.Popen[bytes]],
        *,
        name: str = "the runtime",
        stopper: Callable[[subprocess.Popen[bytes], float], None] = stop_spawned,
    ) -> None:
        self.settings = settings
        self.spawner = spawner
        self.name = name
        self.stopper = stopper
        self.restarts = 0
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="tenku-runtime-supervisor")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        # Spawned from this thread, which lives as long as the supervision: a child's
        # parent-death signal fires when the thread that started it ends.
        delay = FIRST_DELAY
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._proc = self.spawner()
                except Exception:
                    up_log.exception(
                        "%s could not be started; trying again in %.0f s", self.name, delay
                    )
                    self._proc = None
            if self._proc is None:
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            started = time.monotonic()
            status = self._proc.wait()
            if self._stopping.is_set():
                return
            if status == 0:
                # Asked to stop (SIGTERM, or ^C reaching the whole process group while
                # `tenku up` shuts down): not a crash.
                up_log.warning(
                    "%s (pid %d) stopped; it starts again with `tenku up`",
                    self.name,
                    self._proc.pid,
                )
                return
            if time.monotonic() - started >= STEADY:
                delay = FIRST_DELAY
            self.restarts += 1
            up_log.error(
                "%s (pid %d) exited with status %d; starting it again in %.0f s",
                self.name,
                self._proc.pid,
                status,
                delay,
            )
            self._stopping.wait(delay)
            delay = min(delay * 2, MAX_DELAY)

    def stop(self, grace: float = 45.0) -> None:
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None:
            self.stopper(proc, grace)
        self._thread.join()
