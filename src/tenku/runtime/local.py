"""The local-process scheduler: every dyno a process group on this machine.

Each dyno gets its own directory with the slug unpacked, its own port and its own process
group. A supervisor task per dyno follows Heroku's dyno manager: `starting`, then `up`
(web dynos once `$PORT` is bound, within the boot timeout, else R10), `crashed` when the
command exits unasked (restarted with Heroku's cool-off), and `down` when stopped:
SIGTERM to the group, SIGKILL after the grace period. Memory over the size's quota is
logged as R14; twice the quota kills the dyno (R15). The lines it logs are Heroku's, word
for word, since clients colour them by pattern.

On a restart the new dyno starts as soon as the old one is signalled. With preboot, new
web dynos start beside the old ones, which keep the traffic until every new one is up
(or the preboot window passes); then the router's set switches at once and the old ones
stop, so no request meets a missing dyno.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import tarfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tenku.config import Settings
from tenku.db.models.dyno import COMPLETE, CRASHED, DOWN, STARTING, UP
from tenku.loops import wait_event
from tenku.resources.formation.sizes import cpu_shares, memory_mb, process_limit
from tenku.router import Backend
from tenku.runtime import cgroups, procs, untar
from tenku.runtime.dyno_env import (
    SlugError,
    dyno_argv,
    dyno_env,
    free_port,
    resolve_command,
    slug_error,
    slug_limits,
    unpack_slug,
)
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.sandbox import Box, Sandbox, SandboxError
from tenku.runtime.scheduler import (
    AppState,
    OneOffSpec,
    ReleaseSpec,
    Reporter,
)

log = logging.getLogger("tenku.runtime.dynos")

# Run in a dyno's sandbox before its command: the slug's tree ($0) copied into its home ($1).
COPY_IN = 'cp -a -- "$0/." "$1/" || exit 1; shift; exec "$@"'

READ_CHUNK = 64 * 1024
# Beyond the stop grace, how long an app's removal waits for its one-offs to end.
ONEOFF_SETTLE = 5.0
MAX_LINE = 10000


@dataclass(frozen=True)
class LocalOptions:
    root: Path
    host: str = "127.0.0.1"
    boot_timeout: float = 60.0
    grace: float = 30.0
    # Heroku's cool-off: the second boot crash waits this long, doubling up to the cap.
    cooloff: float = 600.0
    cooloff_cap: float = 86400.0
    boot_window: float = 600.0
    memory_interval: float = 20.0
    # Overrides every size's quota (MB); for trying R14 and R15 without gigabytes.
    memory_quota_mb: int | None = None
    # Preboot switches once every new web dyno is up, or at the latest after this.
    preboot_window: float = 180.0
    # After the switch, the old web dynos get this long before SIGTERM: requests the router
    # sent them just before it (still connecting, or in their listen queue) are answered.
    preboot_drain: float = 2.0
    attach_timeout: float = 60.0
    # Environment every dyno carries, so a later runtime finds what an earlier one left.
    marker: tuple[str, str] = ("TENKU_INSTANCE", "")
    # What one slug may unpack to.
    slug_max_bytes: int = 2048 << 20
    slug_max_members: int = 100_000

    @classmethod
    def of(cls, settings: Settings, root: Path, marker: tuple[str, str]) -> LocalOptions:
        boot = settings.boot_timeout
        preboot = settings.preboot_window
        return cls(
            root=root,
            boot_timeout=boot,
            grace=settings.dyno_grace,
            cooloff=settings.crash_cooloff,
            memory_interval=settings.memory_interval,
            preboot_window=preboot if preboot is not None else boot + 120.0,
            marker=marker,
            slug_max_bytes=settings.slug_unpack_max_mb << 20,
            slug_max_members=settings.unpack_max_members,
        )


def platform_error(exc: BaseException) -> str:
    """Heroku's R99 line for a dyno the platform could not start. The reason is shown where
    it is the app's own (its slug, the size of its environment), never a path of the
    platform's."""
    if isinstance(exc, SlugError):
        reason = str(exc)
    elif isinstance(exc, OSError) and exc.errno == errno.E2BIG:
        reason = "the config vars and command are too long to start a process"
    else:
        reason = "the platform could not start the process"
    return f"Error R99 (Platform error) -> {reason}"


def _exit_status(code: int | None) -> int:
    if code is None:
        return 0
    return 128 - code if code < 0 else code


def _spec_key(state: AppState, release: ReleaseSpec, command: str, size: str) -> str:
    """What a running dyno was started from; a change means a restart."""
    raw = json.dumps(
        [
            str(release.id),
            sorted(release.config.items()),
            command,
            size,
            state.dyno_metadata,
        ],
        default=str,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


class _LineSink:
    """Splits a dyno's output into log lines."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.partial = b""

    def feed(self, data: bytes) -> None:
        self.partial += data
        *lines, self.partial = self.partial.split(b"\n")
        for line in lines:
            self.emit(line.rstrip(b"\r").decode(errors="replace"))
        while len(self.partial) > MAX_LINE:
            self.emit(self.partial[:MAX_LINE].decode(errors="replace"))
            self.partial = self.partial[MAX_LINE:]

    def close(self) -> None:
        if self.partial:
            self.emit(self.partial.decode(errors="replace"))
            self.partial = b""


async def _spawn(argv: list[str], cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """A dyno's process: its own group (signals go to all of it), output merged."""
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )


async def _read_lines(stream: asyncio.StreamReader | None, emit: Callable[[str], None]) -> None:
    if stream is None:
        return
    sink = _LineSink(emit)
    while chunk := await stream.read(READ_CHUNK):
        sink.feed(chunk)
    sink.close()


async def watch_memory(
    sched: LocalScheduler,
    app: _App,
    name: str,
    size: str,
    instance: uuid.UUID,
    box: Box,
    running: Callable[[], bool],
) -> None:
    """Sample a dyno while it runs: R14 over its size's quota, R15 when the kernel's OOM
    killer acted at the cgroup's limit (twice the quota; without a cgroup, R15 and SIGKILL
    once a sample reaches it), and the log-runtime-metrics lines when the app has them on."""
    opts = sched.opts
    quota = sched.quota(size)

    def say(message: str) -> None:
        sched.reporter.log(app.id, "heroku", name, message)

    while running():
        await asyncio.sleep(opts.memory_interval)
        memory = await asyncio.to_thread(box.memory)
        if not running():
            return
        if report_oom(box, say):
            return
        if app.state.runtime_metrics:
            for line in runtime_metrics(name, app.id, instance, memory, quota):
                say(line)
        total = memory.rss + memory.swap
        if total <= quota:
            continue
        say(f"Process running mem={total / (1024 * 1024):.0f}M({100 * total / quota:.1f}%)")
        if box.group is None and total >= 2 * quota:
            say("Error R15 (Memory quota vastly exceeded)")
            say("Stopping process with SIGKILL")
            box.kill()
            return
        say("Error R14 (Memory quota exceeded)")


def report_oom(box: Box, say: Callable[[str], None]) -> bool:
    """R15 once, if the cgroup's OOM killer has acted; the rest of the dyno goes too."""
    if box.oom_reported or box.oom_kills() == 0:
        return False
    box.oom_reported = True
    say("Error R15 (Memory quota vastly exceeded)")
    say("Stopping process with SIGKILL")
    box.kill()
    return True


def runtime_metrics(
    name: str, app_id: uuid.UUID, instance: uuid.UUID, memory: cgroups.Memory, quota: int
) -> tuple[str, str]:
    """The two lines Heroku's log-runtime-metrics writes for a dyno.

    Memory is the dyno's cgroup's (its processes' resident and swapped bytes without one).
    The load averages are the machine's: local dynos share its CPUs. Page-in and page-out
    counts are left out.
    """
    rss, swap, cache = memory.rss, memory.swap, memory.cache
    mb = 1024 * 1024
    who = f"source={name} dyno=heroku.{app_id}.{instance}"
    one, five, fifteen = os.getloadavg()
    return (
        f"{who} sample#load_avg_1m={one:.2f} sample#load_avg_5m={five:.2f} "
        f"sample#load_avg_15m={fifteen:.2f}",
        f"{who} sample#memory_total={(rss + swap + cache) / mb:.2f}MB "
        f"sample#memory_rss={rss / mb:.2f}MB sample#memory_cache={cache / mb:.2f}MB "
        f"sample#memory_swap={swap / mb:.2f}MB sample#memory_quota={quota / mb:.2f}MB",
    )


class Dyno:
    """One formation dyno's life: started, supervised, restarted after crashes, stopped."""

    def __init__(
        self,
        sched: LocalScheduler,
        app: _App,
        dyno_id: uuid.UUID,
        name: str,
        kind: str,
        size: str,
        command: str,
        release: ReleaseSpec,
        key: str,
    ) -> None:
        self.sched = sched
        self.app = app
        self.id = dyno_id
        self.name = name
        self.type = kind
        self.size = size
        self.command = command
        self.release = release
        self.key = key
        self.state = STARTING
        self.port: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.box = Box()
        self.uid: int | None = None
        # Every start of a dyno is a distinct dyno on Heroku (log-runtime-metrics' dyno=).
        self.instance = uuid.uuid4()
        self.generation = self.instance.hex[:8]
        self.dir = sched.opts.root / str(app.id) / f"{name}-{self.generation}"
        self._stop: str | None = None
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._killed_for: str | None = None
        self.task = asyncio.create_task(self._life(), name=f"dyno-{app.name}-{name}")

    # --- reporting ------------------------------------------------------------------

    def _log(self, message: str) -> None:
        self.sched.reporter.log(self.app.id, "heroku", self.name, message)

    async def _set(self, state: str) -> None:
        if state != self.state:
            self._log(f"State changed from {self.state} to {state}")
        self.state = state
        if self.app.dynos.get(self.name) is self:
            await self.sched.reporter.dyno_state(
                self.app.id,
                self.id,
                self.name,
                state,
                port=self.port,
                pgid=self.proc.pid if self.proc and self.proc.returncode is None else None,
            )
        self.sched.changed(self.app)

    # --- life -----------------------------------------------------------------------

    async def _life(self) -> None:
        crashes = 0
        try:
            # Shown as starting from now on, also while the dyno it replaces is stopping.
            await self._set(STARTING)
            while self._stop is None:
                started = time.monotonic()
                try:
                    status = await self._run_once()
                except (SlugError, SandboxError, OSError) as exc:
                    # Counted as a crash (restarted, then cooled off), said in the app's log.
                    log.warning("dyno %s of %s did not start: %s", self.name, self.app.name, exc)
                    self._log(platform_error(exc))
                    status = -1
                if self._stop is not None:
                    break
                # Any exit the platform did not ask for is a crash, status 0 included.
                await self._set(CRASHED)
                if time.monotonic() - started > self.sched.opts.boot_window:
                    crashes = 0
                crashes += 1
                delay = (
                    0.0
                    if crashes == 1
                    else min(
                        self.sched.opts.cooloff * 2 ** (crashes - 2), self.sched.opts.cooloff_cap
                    )
                )
                log.info(
                    "%s %s crashed (status %s); restart in %ss",
                    self.app.name,
                    self.name,
                    status,
                    delay,
                )
                await wait_event(self._wake, delay)
                if self._stop is not None:
                    break
                await self._set(STARTING)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dyno %s of %s failed", self.name, self.app.name)
            with contextlib.suppress(Exception):
                await self._set(CRASHED)
        finally:
            await self._kill_now()
            await asyncio.to_thread(shutil.rmtree, self.dir, True)
            self._stopped.set()

    async def _run_once(self) -> int:
        slug = self.release.slug_path
        if slug is None:
            raise RuntimeError("release without a slug")
        uid = self.uid = self.sched.uid_for(self.app)
        tree = await self.sched.prepare_home(self.app, slug, self.dir, uid)
        self.port = self.sched.new_port()
        env = self.sched.env_for(self.app, self.dir, self.name, self.id, self.port, self.release)
        if self._stop is not None:
            return 0
        self._log(f"Starting process with command `{self.command}`")
        self.box = self.sched.box(self.app, f"{self.name}-{self.generation}", self.size)
        argv = self.sched.sandboxed(dyno_argv(self.command), uid, self.dir, self.box, self.id, tree)
        try:
            self.proc = await _spawn(argv, self.dir, env)
        except BaseException:
            self.box.close()
            raise
        self.box.started(self.proc.pid)
        if self._stop is not None:
            # Stopped while the process was being started: nothing else will signal it.
            self.sched.spawn(self._shut_down())
        await self._set(STARTING)
        pump = asyncio.create_task(self._pump(self.proc))
        proc = self.proc
        memory = asyncio.create_task(
            watch_memory(
                self.sched,
                self.app,
                self.name,
                self.size,
                self.instance,
                self.box,
                lambda: proc.returncode is None,
            )
        )
        try:
            if self.type == "web":
                await self._await_bind(self.proc)
            elif self.proc.returncode is None:
                await self._set(UP)
            if self.proc.returncode is None and self.state == STARTING and self._stop is None:
                await self._set(UP)
            code = await self.proc.wait()
        finally:
            memory.cancel()
            box = self.box
            report_oom(box, self._log)
            await asyncio.to_thread(box.close)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pump), 5)
        status = _exit_status(code)
        # A kill (R10, or a stop) has logged the exit where it happened.
        if self._killed_for is None:
            self._log(f"Process exited with status {status}")
        self._killed_for = None
        return status

    async def _await_bind(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.sched.opts.boot_timeout
        assert self.port is not None
        with self.sched.watch_bind(self.port, self.uid) as bound:
            await self._bind_or_r10(proc, bound, deadline)

    async def _bind_or_r10(
        self, proc: asyncio.subprocess.Process, bound: asyncio.Event, deadline: float
    ) -> None:
        while proc.returncode is None and self._stop is None:
            if bound.is_set():
                await self._set(UP)
                return
            if time.monotonic() >= deadline:
                limit = int(self.sched.opts.boot_timeout)
                self._log(
                    "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                    f"{limit} seconds of launch"
                )
                self._log("Stopping process with SIGKILL")
                self._killed_for = "R10"
                self.box.kill()
                await proc.wait()
                self._log(f"Process exited with status {_exit_status(proc.returncode)}")
                return
            # Woken by the bind, or at the latest after 0.2 s to see whether it exited.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bound.wait(), 0.2)

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        await _read_lines(
            proc.stdout, lambda line: self.sched.reporter.log(self.app.id, "app", self.name, line)
        )

    # --- stopping -------------------------------------------------------------------

    def stop(self, reason: str) -> Awaitable[bool]:
        """Stop for good: `restart`, `down` (scaled away, stopped) or `shutdown`."""
        if self._stop is None:
            self._stop = reason
            self._wake.set()
            self.sched.spawn(self._terminate(reason))
        return self._stopped.wait()

    async def _terminate(self, reason: str) -> None:
        proc = self.proc
        running = proc is not None and proc.returncode is None
        if reason == "restart":
            self._log("Restarting")
            if running:
                self._log(f"State changed from {self.state} to starting")
                self.state = STARTING
        elif running or self.state != DOWN:
            self._log(f"State changed from {self.state} to down")
            self.state = DOWN
        await self._shut_down()

    async def _shut_down(self) -> None:
        """SIGTERM the running process group, SIGKILL after the grace; once per dyno."""
        proc = self.proc
        if proc is None or proc.returncode is not None or self._killed_for == "stop":
            return
        self._log("Stopping all processes with SIGTERM")
        self._killed_for = "stop"
        self.box.terminate()
        grace = self.sched.opts.grace
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            self._log(
                "Error R12 (Exit timeout) -> At least one process failed to exit within "
                f"{int(grace)} seconds of SIGTERM"
            )
            self._log("Stopping remaining processes with SIGKILL")
            self.box.kill()
            await proc.wait()
        self._log(f"Process exited with status {_exit_status(proc.returncode)}")

    async def _kill_now(self) -> None:
        proc = self.proc
        if proc is not None:
            self.box.kill()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()


class OneOff:
    """A `run.N` dyno: detached (output to the log) or attached through rendezvous."""

    def __init__(self, sched: LocalScheduler, app: _App, spec: OneOffSpec) -> None:
        self.sched = sched
        self.app = app
        self.spec = spec
        self.release = app.state.release
        self.instance = uuid.uuid4()
        self.dir = sched.opts.root / str(app.id) / f"{spec.name}-{self.instance.hex[:8]}"
        self.pgid: int | None = None
        self.box = Box()
        self.state = STARTING
        self.claimed = False
        self.done = asyncio.Event()
        # The process has exited (its output may still be draining).
        self.ended = asyncio.Event()
        self._stopping = False
        self.task = asyncio.create_task(self._life(), name=f"oneoff-{app.name}-{spec.name}")

    def _log(self, message: str) -> None:
        self.sched.reporter.log(self.app.id, "heroku", self.spec.name, message)

    @property
    def command(self) -> str:
        types = self.release.process_types if self.release else {}
        return resolve_command(self.spec.command, types)

    async def _set(self, state: str) -> None:
        if state != self.state:
            self._log(f"State changed from {self.state} to {state}")
        self.state = state
        await self.sched.reporter.dyno_state(
            self.app.id, self.spec.id, self.spec.name, state, pgid=self.pgid
        )

    async def _prepare(self) -> tuple[list[str], dict[str, str]]:
        if self.release is None or self.release.slug_path is None:
            raise RuntimeError("no release to run")
        uid = self.sched.uid_for(self.app)
        tree = await self.sched.prepare_home(self.app, self.release.slug_path, self.dir, uid)
        port = self.sched.new_port()
        env = self.sched.env_for(
            self.app, self.dir, self.spec.name, self.spec.id, port, self.release, self.spec.env
        )
        self.box = self.sched.box(
            self.app, f"{self.spec.name}-{self.instance.hex[:8]}", self.spec.size
        )
        argv = self.sched.sandboxed(
            dyno_argv(self.command), uid, self.dir, self.box, self.spec.id, tree
        )
        return argv, env

    async def _life(self) -> None:
        try:
            if self.spec.attach:
                self._log("Awaiting client")
                await wait_event(self.done, self.sched.opts.attach_timeout)
                if not self.claimed and not self._stopping:
                    self._log("Error R13 (Attach error) -> Failed to attach to process")
                    self.state = COMPLETE
                await self.done.wait()
            else:
                await self._run_detached()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("one-off %s of %s failed", self.spec.name, self.app.name)
            self._log(platform_error(exc))
        finally:
            await asyncio.to_thread(self.box.close)
            await asyncio.to_thread(shutil.rmtree, self.dir, True)
            self.app.oneoffs.pop(self.spec.id, None)
            self.app.finished.add(self.spec.id)
            await self.sched.reporter.dyno_gone(self.app.id, self.spec.id)

    async def _run_detached(self) -> None:
        argv, env = await self._prepare()
        self._log(f"Starting process with command `{self.command}`")
        if self._stopping:
            return
        proc = await _spawn(argv, self.dir, env)
        self.pgid = proc.pid
        self.box.started(proc.pid)
        if self._stopping:
            self.sched.spawn(self._terminate())
        self._watch()
        await self._set(UP)
        ttl = self.spec.time_to_live
        reader = asyncio.create_task(
            _read_lines(
                proc.stdout,
                lambda line: self.sched.reporter.log(self.app.id, "app", self.spec.name, line),
            )
        )
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), ttl) if ttl else await proc.wait()
        except TimeoutError:
            self.sched.spawn(self._terminate())
            await proc.wait()
        self.ended.set()
        report_oom(self.box, self._log)
        self.box.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 5)
        await self._exited(_exit_status(proc.returncode))

    def _watch(self) -> None:
        spec = self.spec
        self.sched.spawn(
            watch_memory(
                self.sched,
                self.app,
                spec.name,
                spec.size,
                self.instance,
                self.box,
                lambda: not self.ended.is_set(),
            )
        )

    async def _exited(self, status: int) -> None:
        if not self.ended.is_set():
            report_oom(self.box, self._log)
        self.ended.set()
        self.pgid = None
        self._log(f"Process exited with status {status}")
        await self._set(COMPLETE)
        self.done.set()

    async def attachment(self) -> Attachment | None:
        if self.claimed or self._stopping:
            return None
        self.claimed = True
        argv, env = await self._prepare()
        self._log(f"Starting process with command `{self.command}`")

        async def started(pid: int) -> None:
            self.pgid = pid
            self.box.started(pid)
            self._watch()
            await self._set(UP)
            if self._stopping:
                await self._terminate()
            elif self.spec.time_to_live:
                asyncio.get_running_loop().call_later(
                    self.spec.time_to_live, lambda: self.sched.spawn(self._terminate())
                )

        return Attachment(
            argv=argv,
            env=env,
            cwd=self.dir,
            tty=self.spec.tty,
            started=started,
            exited=self._exited,
        )

    async def _terminate(self) -> None:
        pgid = self.pgid
        if pgid is None:
            return
        self._log("Stopping all processes with SIGTERM")
        self.box.terminate()
        await wait_event(self.ended, self.sched.opts.grace)
        if not self.ended.is_set():
            self._log("Stopping remaining processes with SIGKILL")
            self.box.kill()

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.pgid is not None:
            await self._terminate()
        elif self.spec.attach and not self.claimed:
            # Never attached: there is nothing to run.
            self.done.set()


@dataclass
class _Preboot:
    old: list[Dyno]
    new: list[Dyno]
    deadline: float


class _App:
    def __init__(self, state: AppState) -> None:
        self.id = state.app_id
        self.name = state.app_name
        self.state = state
        self.dynos: dict[str, Dyno] = {}
        self.retiring: set[Dyno] = set()
        self.oneoffs: dict[uuid.UUID, OneOff] = {}
        # One-offs that ended: their rows may be read again before they are deleted.
        self.finished: set[uuid.UUID] = set()
        self.preboot: _Preboot | None = None
        self.backends: tuple[Backend, ...] = ()
        # Slugs unpacked once (sandboxed) for the app's dynos to copy: slug -> tree.
        self.slug_trees: dict[Path, Path] = {}
        self.slug_lock = asyncio.Lock()


def _fresh_dir(sandbox: Sandbox, home: Path, uid: int) -> None:
    shutil.rmtree(home, ignore_errors=True)
    sandbox.own_dir(home, uid)


class LocalScheduler:
    def __init__(
        self, opts: LocalOptions, reporter: Reporter, sandbox: Sandbox | None = None
    ) -> None:
        self.opts = opts
        self.reporter = reporter
        # Ports web dynos must bind, and one reader of the machine's listening sockets for
        # all of them (a read per starting dyno would crowd the thread pool).
        self._binding: dict[int, tuple[asyncio.Event, int | None]] = {}
        self._bind_reader: asyncio.Task[None] | None = None
        self.sandbox = sandbox if sandbox is not None and sandbox.enabled else None
        self._apps: dict[uuid.UUID, _App] = {}
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # --- the interface ----------------------------------------------------------------

    async def recover(self) -> None:
        marker = "=".join(self.opts.marker)
        killed = await asyncio.to_thread(self.sandbox.clear) if self.sandbox else 0
        killed += await asyncio.to_thread(procs.kill_marked, marker)
        if killed:
            log.warning("killed %d processes left by an earlier runtime", killed)
        await asyncio.to_thread(shutil.rmtree, self.opts.root, True)

    def apps(self) -> set[uuid.UUID]:
        return set(self._apps)

    def backends(self, app_id: uuid.UUID) -> tuple[Backend, ...]:
        app = self._apps.get(app_id)
        return app.backends if app else ()

    def web_state(self, app_id: uuid.UUID) -> str:
        app = self._apps.get(app_id)
        if app is None:
            return "none"
        if app.backends:
            return UP
        webs = [d for d in app.dynos.values() if d.type == "web"]
        if not webs:
            return "none"
        if any(d.state == STARTING for d in webs):
            return STARTING
        return CRASHED

    async def apply(self, state: AppState) -> None:
        async with self._lock:
            app = self._apps.get(state.app_id)
            if app is None:
                app = self._apps[state.app_id] = _App(state)
            app.state = state
            app.name = state.app_name
            self._apply_formation(app, state)
            self._apply_oneoffs(app, state)
            self.changed(app)

    async def remove(self, app_id: uuid.UUID) -> None:
        async with self._lock:
            app = self._apps.pop(app_id, None)
        if app is None:
            return
        waits: list[Awaitable[object]] = [
            d.stop("down") for d in [*app.dynos.values(), *app.retiring]
        ]
        app.backends = ()
        self.reporter.routing_changed(app_id)
        oneoffs = list(app.oneoffs.values())
        waits += [one.stop() for one in oneoffs]
        await asyncio.gather(*waits, return_exceptions=True)
        # A one-off stopped while its process was being started is signalled once it has
        # started: its process outlived the app by as much unless waited for here.
        running = [one.task for one in oneoffs if not one.task.done()]
        if running:
            await asyncio.wait(running, timeout=self.opts.grace + ONEOFF_SETTLE)
        await asyncio.to_thread(shutil.rmtree, self.opts.root / str(app_id), True)

    async def close(self) -> None:
        for app_id in list(self._apps):
            await self.remove(app_id)
        for task in list(self._background):
            task.cancel()
        if self._bind_reader is not None:
            self._bind_reader.cancel()

    async def attachment(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> Attachment | None:
        app = self._apps.get(app_id)
        one = app.oneoffs.get(dyno_id) if app else None
        return await one.attachment() if one else None

    # --- binding ----------------------------------------------------------------------

    def new_port(self) -> int:
        """A dyno's $PORT: from the sandbox's range (which sandboxed code cannot reach)."""
        if self.sandbox is not None:
            return self.sandbox.port(self.opts.host)
        return free_port(self.opts.host)

    @contextlib.contextmanager
    def watch_bind(self, port: int, uid: int | None) -> Iterator[asyncio.Event]:
        """An event set once `port` is listened on (by `uid` alone, when given: a port that
        another app's code bound first is never taken for the dyno's)."""
        event = asyncio.Event()
        self._binding[port] = (event, uid)
        if self._bind_reader is None or self._bind_reader.done():
            self._bind_reader = asyncio.create_task(self._read_binds(), name="tenku-binds")
        try:
            yield event
        finally:
            if self._binding.get(port, (None, None))[0] is event:
                del self._binding[port]

    async def _read_binds(self) -> None:
        while self._binding:
            listening = await asyncio.to_thread(procs.listeners)
            for port, (event, uid) in list(self._binding.items()):
                owners = listening.get(port)
                if owners and (uid is None or owners == {uid}):
                    event.set()
            await asyncio.sleep(0.1)

    # --- the sandbox ----------------------------------------------------------------

    def uid_for(self, app: _App) -> int | None:
        return self.sandbox.uid_for(app.id) if self.sandbox else None

    def quota(self, size: str) -> int:
        """A dyno's memory quota in bytes (R14 above it; the cgroup's limit is twice it)."""
        return (self.opts.memory_quota_mb or memory_mb(size)) * 1024 * 1024

    def box(self, app: _App, name: str, size: str) -> Box:
        if self.sandbox is None:
            return Box()
        limits = cgroups.Limits(
            memory_bytes=2 * self.quota(size),
            pids=process_limit(size),
            cpu_shares=cpu_shares(size),
        )
        # A group per start: a restarted dyno's OOM count starts from nothing.
        group = self.sandbox.group(f"{app.id.hex[:12]}-{name}-{secrets.token_hex(3)}", limits)
        return Box(group, sandboxed=True)

    def sandboxed(
        self,
        argv: list[str],
        uid: int | None,
        home: Path,
        box: Box,
        dyno_id: uuid.UUID,
        tree: Path | None = None,
    ) -> list[str]:
        """The dyno's command in its sandbox; with `tree`, it first copies the slug into its
        home (as the app's uid, inside the sandbox)."""
        if self.sandbox is None:
            return argv
        readable: list[Path] = []
        if tree is not None:
            argv = ["/bin/sh", "-c", COPY_IN, str(tree), str(home), *argv]
            readable.append(tree)
        return self.sandbox.command(
            argv,
            uid=uid,
            writable=[home],
            readable=readable,
            cwd=home,
            group=box.group,
            hostname=str(dyno_id),
        )

    async def prepare_home(self, app: _App, slug: Path, home: Path, uid: int | None) -> Path | None:
        """A fresh home for a dyno. Unsandboxed, the slug is unpacked into it here. In the
        sandbox, the home is made for the app's uid and the slug's tree returned: unpacked
        once per app and slug (a Python process, the costly part of a start), it is copied
        by each dyno as it starts."""
        opts = self.opts
        if self.sandbox is None or uid is None:
            await asyncio.to_thread(
                unpack_slug, slug, home, opts.slug_max_bytes, opts.slug_max_members
            )
            return None
        tree = await self._slug_tree(app, slug, uid)
        await asyncio.to_thread(_fresh_dir, self.sandbox, home, uid)
        return tree

    async def _slug_tree(self, app: _App, slug: Path, uid: int) -> Path:
        assert self.sandbox is not None
        async with app.slug_lock:
            tree = app.slug_trees.get(slug)
            if tree is not None:
                return tree
            key = hashlib.sha256(str(slug).encode()).hexdigest()[:16]
            tree = self.opts.root / str(app.id) / f".slug-{key}"
            await asyncio.to_thread(shutil.rmtree, tree, True)
            limits = slug_limits(self.opts.slug_max_bytes, self.opts.slug_max_members)
            try:
                await self.sandbox.unpack(slug, tree, limits, uid=uid)
            except (untar.UnsafeArchive, tarfile.TarError, EOFError) as exc:
                await asyncio.to_thread(shutil.rmtree, tree, True)
                raise slug_error(exc) from exc
            app.slug_trees[slug] = tree
            # Trees of slugs that are neither this one nor the current release's go.
            current = app.state.release.slug_path if app.state.release else None
            for old in [s for s in app.slug_trees if s not in (slug, current)]:
                await asyncio.to_thread(shutil.rmtree, app.slug_trees.pop(old), True)
            return tree

    def env_for(
        self,
        app: _App,
        home: Path,
        name: str,
        dyno_id: uuid.UUID,
        port: int,
        release: ReleaseSpec | None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        env = dyno_env(
            home=home,
            dyno=name,
            dyno_id=dyno_id,
            port=port,
            release=release,
            app_id=app.id,
            app_name=app.name,
            metadata=app.state.dyno_metadata,
            extra=extra,
            default_domain=app.state.default_domain,
        )
        env[self.opts.marker[0]] = self.opts.marker[1]
        return env

    # --- formation --------------------------------------------------------------------

    def _wanted(self, state: AppState) -> dict[str, tuple[str, str, str]]:
        """name -> (type, size, command) of every formation dyno the state asks for."""
        wanted: dict[str, tuple[str, str, str]] = {}
        release = state.release
        if release is None or release.slug_path is None:
            return wanted
        for proc in state.formation:
            for i in range(1, proc.quantity + 1):
                name = f"{proc.type}.{i}"
                if name in state.dyno_ids:
                    wanted[name] = (proc.type, proc.size, proc.command)
        return wanted

    def _apply_formation(self, app: _App, state: AppState) -> None:
        wanted = self._wanted(state)
        for name in [n for n in app.dynos if n not in wanted]:
            self._retire(app, app.dynos.pop(name), "down")
        release = state.release
        fresh: list[Dyno] = []
        replaced: list[Dyno] = []
        for name, (kind, size, command) in sorted(wanted.items()):
            assert release is not None
            key = _spec_key(state, release, command, size)
            current = app.dynos.get(name)
            if current is not None and current.key == key and name not in state.restarts:
                continue
            dyno = Dyno(self, app, state.dyno_ids[name], name, kind, size, command, release, key)
            app.dynos[name] = dyno
            fresh.append(dyno)
            if current is not None:
                replaced.append(current)
        preboot_old = [d for d in replaced if d.type == "web"] if state.preboot else []
        for old in replaced:
            if old in preboot_old:
                # Hidden from the API (the new dyno owns the row) but still routed to.
                app.retiring.add(old)
            else:
                self._retire(app, old, "restart")
        if preboot_old:
            previous = app.preboot.old if app.preboot else []
            app.preboot = _Preboot(
                old=[*previous, *preboot_old],
                new=[d for d in fresh if d.type == "web"],
                deadline=time.monotonic() + self.opts.preboot_window,
            )
            self.spawn(self._preboot_switch(app, app.preboot))

    def _retire(self, app: _App, dyno: Dyno, reason: str) -> None:
        app.retiring.add(dyno)
        waiting = dyno.stop(reason)

        async def gone() -> None:
            await waiting
            app.retiring.discard(dyno)
            self.changed(app)

        self.spawn(gone())

    async def _preboot_switch(self, app: _App, preboot: _Preboot) -> None:
        while time.monotonic() < preboot.deadline and app.preboot is preboot:
            if preboot.new and all(d.state == UP for d in preboot.new):
                break
            await asyncio.sleep(0.2)
        if app.preboot is not preboot:
            return
        app.preboot = None
        self.changed(app)
        await asyncio.sleep(self.opts.preboot_drain)
        for old in preboot.old:
            app.retiring.discard(old)
            self._retire(app, old, "down")

    # --- one-offs ---------------------------------------------------------------------

    def _apply_oneoffs(self, app: _App, state: AppState) -> None:
        app.finished &= {spec.id for spec in state.oneoffs}
        for spec in state.oneoffs:
            one = app.oneoffs.get(spec.id)
            if spec.id in app.finished:
                continue
            if one is None and not spec.stop:
                app.oneoffs[spec.id] = OneOff(self, app, spec)
            elif one is not None and spec.stop:
                self.spawn(one.stop())

    # --- routing ----------------------------------------------------------------------

    def changed(self, app: _App) -> None:
        """Recompute the app's routable set; replaced as a whole, never edited in place."""
        app.backends = self._routable(app)
        self.reporter.routing_changed(app.id)

    def _routable(self, app: _App) -> tuple[Backend, ...]:
        if app.preboot is not None:
            olds = [d for d in app.preboot.old if d.state == UP and d._stop is None]
            if olds:
                return tuple(Backend(d.name, self.opts.host, d.port) for d in olds if d.port)
        return tuple(
            Backend(d.name, self.opts.host, d.port)
            for d in app.dynos.values()
            if d.type == "web" and d.state == UP and d.port and d._stop is None
        )

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
