"""Tenku's API against a bare ASGI floor, over real HTTP on 127.0.0.1.

    .venv/bin/python bench/api_bench.py [--quick]
        [--database-url postgresql://postgres@127.0.0.1:5432/NEW_DB]
        [--https] [--workers N] [--concurrency N]

Starts `tenku up` on a throwaway database, seeds it, records Tenku's answers to
the measured requests, serves those answers from memory with bench/baseline_app.py
under the same uvicorn settings, then loads both servers with the same client and
prints requests/s and latency side by side, followed by a paging-depth check.
It only prints; see bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import cast

import httptools
import psycopg
import uvloop
from psycopg import sql
from sqlalchemy.engine import make_url

from processes import (
    STOP_SIGNALS,
    SetupError,
    cancelled_by_signals,
    free_ports,
    has_exited,
    run_until_stopped,
    settled,
    stop_group,
    tenku_command,
)
from tenku.config import normalize_database_url, sqlite_url
from tenku.tls import tls_files as tenku_tls_files

HOST = "127.0.0.1"
V3 = "application/vnd.heroku+json; version=3"
BENCH_DIR = Path(__file__).resolve().parent
RESPONSES_ENV = "TENKU_BENCH_RESPONSES"
# Far above anything the run can send: the budget must never be what is measured.
RATE_LIMIT_PER_HOUR = 10**9

LIST_EMAIL = "bench-list@example.com"
DEEP_EMAIL = "bench-deep@example.com"
LIST_APPS = 1_000
DEEP_APPS = 10_000
PAGE_MAX = 200
TARGET_APP = "bench-target"
# The measured PATCH changes one key; the others make the rewrite realistic.
STATIC_CONFIG = {f"BENCH_STATIC_{i:02d}": f"value-{i:02d}-" + "x" * 40 for i in range(10)}
CHANGING_KEY = "BENCH_VALUE"

REQUEST_TIMEOUT = 60.0
STARTUP_TIMEOUT = 60.0
# A worker gives up after this many failed requests in a row (server gone, say).
MAX_FAILURES_IN_A_ROW = 20
PAGE_BLOCK = 10
PAGE_WARMUP = 3


@dataclass(frozen=True)
class Profile:
    name: str
    # Seconds of load per server before measuring each endpoint.
    warmup: float
    # Each server is measured in `slices` turns of `slice_seconds`, taking turns with
    # the other server, so a burst of outside work on the machine hits both alike.
    slices: int
    slice_seconds: float
    page_samples: int

    @property
    def duration(self) -> float:
        return self.slices * self.slice_seconds


QUICK = Profile("quick", warmup=0.5, slices=2, slice_seconds=1.0, page_samples=20)
FULL = Profile("full", warmup=2.0, slices=5, slice_seconds=2.0, page_samples=200)


# --- processes -------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    # Set when `port` speaks HTTPS: trusts Tenku's certificate authority.
    tls: ssl.SSLContext | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def start_server(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    log: Path,
    cleanup: contextlib.ExitStack,
    tls: ssl.SSLContext | None = None,
) -> Server:
    with log.open("wb") as out:
        # A session of its own: Ctrl-C in the terminal reaches only us, and we stop
        # the whole group (uvicorn's worker processes included) on the way out.
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.callback(stop_group, proc)
    return Server(name, port, proc, log, tls)


async def run_tool(command: list[str], env: dict[str, str], what: str, limit: float) -> str:
    """Run a command to completion; on timeout or interruption, kill it first."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    except TimeoutError as exc:
        raise SetupError(f"{what} did not finish within {limit:.0f} s") from exc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise SetupError(f"{what} failed ({proc.returncode}):\n{err.decode().strip()}")
    return out.decode()


@contextlib.contextmanager
def throwaway_postgres(url: str) -> Iterator[tuple[str, str]]:
    """Create the database named in `url` (or a fresh name), drop it afterwards."""
    parsed = make_url(normalize_database_url(url))
    if not parsed.drivername.startswith("postgresql"):
        raise SetupError("--database-url must be a postgresql:// URL")
    if parsed.host != HOST or parsed.query:
        raise SetupError(f"--database-url must point at {HOST} and carry no query string")
    name = parsed.database or f"tenku_bench_{secrets.token_hex(4)}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SetupError(f"unsuitable database name {name!r}: use lowercase letters, digits, _")
    admin = parsed.set(drivername="postgresql", database="postgres")
    admin_url = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is not None:
                raise SetupError(
                    f"database {name} already exists; name one that does not "
                    "(the benchmark creates it and drops it afterwards)"
                )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise SetupError(f"PostgreSQL at {HOST}: {exc}") from exc
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False), name
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- HTTP client -----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight.

    Responses go through httptools, the C parser uvicorn itself uses: a full
    client library costs several times more CPU per request, and on a small
    machine the client shares the cores with the server it measures.
    """

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []

    @classmethod
    async def open(cls, server: Server) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, HOST, server.port, ssl=server.tls)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def on_message_begin(self) -> None:
        self._headers = []
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result(Reply(status, self._headers, b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def send(self, raw: bytes) -> Reply:
        if self._transport is None:
            raise ConnectionResetError("not connected")
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(raw)
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def build_request(
    method: str,
    path: str,
    *,
    port: int,
    token: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        f"Accept: {V3}",
        f"Authorization: Bearer {token}",
        "User-Agent: tenku-api-bench",
        *(f"{name}: {value}" for name, value in headers),
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def json_body(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


async def call(
    server: Server,
    token: str,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: object = None,
) -> Reply:
    """One request on a connection of its own (setup only, never measured)."""
    raw = build_request(
        method,
        path,
        port=server.port,
        token=token,
        headers=headers,
        body=None if body is None else json_body(body),
    )
    conn = await Connection.open(server)
    try:
        return await conn.send(raw)
    finally:
        conn.close()


async def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if has_exited(server.proc.pid):
            raise SetupError(f"{server.name} exited at start:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            await call(server, "-", "GET", "/")
            return
        await asyncio.sleep(0.1)
    raise SetupError(f"{server.name} did not answer within {STARTUP_TIMEOUT:.0f} s")


# --- load ------------------------------------------------------------------------


@dataclass
class Run:
    """Successful requests' latencies (seconds) over the elapsed wall time."""

    latencies: list[float]
    elapsed: float
    errors: int = 0
    first_error: str | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def add(self, other: Run) -> None:
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, q in (0, 100]."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(int(-(-q * len(ordered) // 100)), 1)
        return ordered[min(rank, len(ordered)) - 1]

    def mean(self) -> float:
        return sum(self.latencies) / len(self.latencies) if self.latencies else float("nan")


async def hammer(
    server: Server,
    next_request: Callable[[], bytes],
    expect: int,
    concurrency: int,
    seconds: float,
) -> Run:
    """Closed-loop load: `concurrency` connections, each sending its next request
    as soon as the previous answer is in, until `seconds` have passed."""
    conns = [await Connection.open(server) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None

    async def worker(slot: int) -> None:
        nonlocal errors, first_error
        failures_in_a_row = 0
        while time.perf_counter() < deadline and failures_in_a_row < MAX_FAILURES_IN_A_ROW:
            raw = next_request()
            started = time.perf_counter()
            try:
                reply = await conns[slot].send(raw)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                errors += 1
                failures_in_a_row += 1
                first_error = first_error or repr(exc)
                conns[slot].close()
                with contextlib.suppress(OSError):
                    conns[slot] = await Connection.open(server)
                continue
            took = time.perf_counter() - started
            if reply.status != expect:
                errors += 1
                failures_in_a_row += 1
                first_error = first_error or f"HTTP {reply.status}: {reply.body[:300]!r}"
                continue
            failures_in_a_row = 0
            latencies.append(took)

    start = time.perf_counter()
    deadline = start + seconds
    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        for conn in conns:
            conn.close()
    return Run(latencies, time.perf_counter() - start, errors, first_error)


# One request kind of a mixed load: how often it comes up, its source, the status it expects.
MixedKind = tuple[str, int, Callable[[], bytes], int]


async def hammer_mixed(
    server: Server, kinds: list[MixedKind], concurrency: int, seconds: float
) -> dict[str, Run]:
    """Closed-loop load like `hammer`, each request of a kind drawn by weight (seeded, so
    runs draw the same sequence); one Run per kind, all over the same wall time."""
    conns = [await Connection.open(server) for _ in range(concurrency)]
    draw = random.Random(0)
    labels = [label for label, _, _, _ in kinds]
    weights = [weight for _, weight, _, _ in kinds]
    by_label = {label: (source, expect) for label, _, source, expect in kinds}
    runs = {label: Run([], 0.0) for label in labels}

    async def worker(slot: int) -> None:
        failures_in_a_row = 0
        while time.perf_counter() < deadline and failures_in_a_row < MAX_FAILURES_IN_A_ROW:
            label = draw.choices(labels, weights)[0]
            source, expect = by_label[label]
            run = runs[label]
            raw = source()
            started = time.perf_counter()
            try:
                reply = await conns[slot].send(raw)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                run.errors += 1
                failures_in_a_row += 1
                run.first_error = run.first_error or repr(exc)
                conns[slot].close()
                with contextlib.suppress(OSError):
                    conns[slot] = await Connection.open(server)
                continue
            took = time.perf_counter() - started
            if reply.status != expect:
                run.errors += 1
                failures_in_a_row += 1
                run.first_error = run.first_error or f"HTTP {reply.status}: {reply.body[:300]!r}"
                continue
            failures_in_a_row = 0
            run.latencies.append(took)

    start = time.perf_counter()
    deadline = start + seconds
    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        for conn in conns:
            conn.close()
    elapsed = time.perf_counter() - start
    for run in runs.values():
        run.elapsed = elapsed
    return runs


async def sequential(conn: Connection, raw: bytes, count: int) -> list[float]:
    """`count` requests one after the other on one connection (latency, no queueing)."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await conn.send(raw)
        took = time.perf_counter() - started
        if reply.status not in (200, 206):
            raise SetupError(f"paging request failed: HTTP {reply.status} {reply.body[:300]!r}")
        out.append(took)
    return out


# --- the scenario ----------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    # A PATCH sets this key to a new value on every request.
    changing_key: str | None = None

    def requests(self, port: int, token: str) -> Callable[[], bytes]:
        """A source of requests for one server; PATCH values never repeat within it."""
        if self.changing_key is None:
            raw = build_request(
                self.method, self.path, port=port, token=token, headers=self.headers
            )
            return lambda: raw
        key = self.changing_key
        counter = itertools.count()

        def next_patch() -> bytes:
            # Fixed width, so every PATCH body and answer has the same size.
            body = json_body({key: f"{next(counter):012d}"})
            return build_request(
                self.method, self.path, port=port, token=token, headers=self.headers, body=body
            )

        return next_patch


ENDPOINTS = (
    Endpoint("GET /apps/{app}", "GET", f"/apps/{TARGET_APP}"),
    Endpoint(
        f"GET /apps (max={LIST_APPS})", "GET", "/apps", (("Range", f"id ..; max={LIST_APPS}"),)
    ),
    Endpoint(
        "PATCH config-vars",
        "PATCH",
        f"/apps/{TARGET_APP}/config-vars",
        changing_key=CHANGING_KEY,
    ),
)


@dataclass
class Measured:
    endpoint: Endpoint
    tenku: Run
    baseline: Run
    # Where the machine's CPU went while Tenku was measured (`CpuShares`).
    cpu: dict[str, float] | None = None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_by_process() -> dict[int, tuple[int, str, float]]:
    """Each process's parent, name and CPU seconds so far, from /proc (empty elsewhere)."""
    found: dict[int, tuple[int, str, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the name: state, ppid, ... utime and stime are the 12th and 13th.
        found[int(name)] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


class CpuShares:
    """CPU used while Tenku is measured, by Tenku's processes (the server and whatever it
    started), the database (PostgreSQL's processes outside Tenku), this load generator and
    everything else: a ratio between runs is only comparable where the CPUs were not all
    taken."""

    def __init__(self, tenku: Server) -> None:
        self.root = tenku.proc.pid
        self.used: dict[str, float] = {}
        self.elapsed = 0.0
        self._start: dict[int, tuple[int, str, float]] = {}
        self._started = 0.0

    def begin(self) -> None:
        self._start = _cpu_by_process()
        self._started = time.perf_counter()

    def end(self) -> None:
        now = _cpu_by_process()
        self.elapsed += time.perf_counter() - self._started
        tenku = self._tree(now)
        for pid, (_, comm, cpu) in now.items():
            delta = cpu - self._start.get(pid, (0, comm, 0.0))[2]
            if delta <= 0:
                continue
            if pid in tenku:
                group = "Tenku"
            elif pid == os.getpid():
                group = "load generator"
            elif comm.startswith("postgres"):
                group = "database"
            else:
                group = "other"
            self.used[group] = self.used.get(group, 0.0) + delta

    def _tree(self, procs: dict[int, tuple[int, str, float]]) -> set[int]:
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [self.root]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo += children.get(pid, [])
        return tree

    def shares(self) -> dict[str, float] | None:
        """Each group's CPU as a percentage of one CPU over Tenku's turns."""
        if not self.elapsed or not self.used:
            return None
        return {group: used / self.elapsed * 100 for group, used in self.used.items()}


@dataclass
class Paging:
    pages: int
    apps_seen: int
    walk_seconds: float
    first_range: str
    last_range: str
    first: Run
    last: Run
    # The first page of the account with 1,001 apps, for scale.
    small_first: Run


@dataclass
class Context:
    args: argparse.Namespace
    profile: Profile
    cleanup: contextlib.ExitStack
    workdir: Path
    env: dict[str, str]
    database: str


def child_env(data_dir: Path, database_url: str) -> dict[str, str]:
    # Settings the caller's shell may carry must not leak into the servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENKU_")}
    env.update(
        TENKU_DATA_DIR=str(data_dir),
        TENKU_DATABASE_URL=database_url,
        TENKU_HOST=HOST,
        TENKU_RATE_LIMIT_PER_HOUR=str(RATE_LIMIT_PER_HOUR),
    )
    return env


async def create_user(ctx: Context, email: str) -> str:
    out = await run_tool(
        [*tenku_command(), "users", "create", email, "--password", secrets.token_urlsafe(18)],
        ctx.env,
        f"tenku users create {email}",
        limit=120,
    )
    return out.strip().splitlines()[-1]


async def seed(ctx: Context) -> float:
    started = time.perf_counter()
    await run_tool(
        [
            sys.executable,
            str(BENCH_DIR / "seed.py"),
            "--data-dir",
            str(ctx.workdir / "data"),
            "--apps",
            LIST_EMAIL,
            "list",
            str(LIST_APPS),
            "--apps",
            DEEP_EMAIL,
            "deep",
            str(DEEP_APPS),
        ],
        ctx.env,
        "seeding",
        limit=600,
    )
    return time.perf_counter() - started


async def prepare_target(tenku: Server, token: str) -> None:
    """The measured app goes through the API, like any app a user would make."""
    made = await call(tenku, token, "POST", "/apps", body={"name": TARGET_APP})
    if made.status != 201:
        raise SetupError(f"POST /apps: HTTP {made.status} {made.body[:300]!r}")
    configured = await call(
        tenku, token, "PATCH", f"/apps/{TARGET_APP}/config-vars", body=STATIC_CONFIG
    )
    if configured.status != 200:
        raise SetupError(f"PATCH config-vars: HTTP {configured.status} {configured.body[:300]!r}")


async def record(
    server: Server, sources: dict[Endpoint, Callable[[], bytes]]
) -> dict[Endpoint, Reply]:
    conn = await Connection.open(server)
    try:
        replies = {ep: await conn.send(source()) for ep, source in sources.items()}
    finally:
        conn.close()
    for ep, reply in replies.items():
        if reply.status not in (200, 206):
            raise SetupError(f"{ep.label}: HTTP {reply.status} {reply.body[:300]!r}")
    return replies


def write_answers(path: Path, replies: dict[Endpoint, Reply]) -> None:
    answers = [
        {
            "method": ep.method,
            "path": ep.path,
            "status": reply.status,
            "headers": reply.headers,
            "body": base64.b64encode(reply.body).decode(),
        }
        for ep, reply in replies.items()
    ]
    path.write_text(json.dumps({"responses": answers}))


def compare_replays(tenku: dict[Endpoint, Reply], baseline: dict[Endpoint, Reply]) -> None:
    """The floor is only meaningful if it sends what Tenku sent."""
    ignored = {"date", "server"}
    for ep, want in tenku.items():
        got = baseline[ep]
        want_names = sorted(k for k, _ in want.headers if k not in ignored)
        got_names = sorted(k for k, _ in got.headers if k not in ignored)
        if got.status != want.status or got.body != want.body or got_names != want_names:
            raise SetupError(
                f"the baseline does not replay {ep.label} faithfully: "
                f"status {got.status} vs {want.status}, body equal: {got.body == want.body}, "
                f"headers {got_names} vs {want_names}"
            )


async def measure(
    ctx: Context,
    tenku: Server,
    baseline: Server,
    token: str,
    recorded: dict[Endpoint, Reply],
    sources: dict[Endpoint, Callable[[], bytes]],
) -> list[Measured]:
    concurrency, profile = ctx.args.concurrency, ctx.profile
    results = []
    for ep in ENDPOINTS:
        expect = recorded[ep].status
        sides = (
            (tenku, sources[ep], Run([], 0.0)),
            (baseline, ep.requests(baseline.port, token), Run([], 0.0)),
        )
        for server, source, _ in sides:
            await hammer(server, source, expect, concurrency, profile.warmup)
        cpu = CpuShares(tenku)
        for _ in range(profile.slices):
            for server, source, total in sides:
                if server is tenku:
                    cpu.begin()
                total.add(await hammer(server, source, expect, concurrency, profile.slice_seconds))
                if server is tenku:
                    cpu.end()
        results.append(Measured(ep, sides[0][2], sides[1][2], cpu.shares()))
    return results


async def paging_depth(ctx: Context, tenku: Server, tokens: dict[str, str]) -> Paging:
    port = tenku.port
    first_range = f"name ..; max={PAGE_MAX}"

    def page(range_value: str, email: str = DEEP_EMAIL) -> bytes:
        return build_request(
            "GET", "/apps", port=port, token=tokens[email], headers=(("Range", range_value),)
        )

    conn = await Connection.open(tenku)
    try:
        current, pages, seen = first_range, 0, 0
        started = time.perf_counter()
        for _ in range(DEEP_APPS // PAGE_MAX + 2):
            reply = await conn.send(page(current))
            if reply.status not in (200, 206):
                raise SetupError(f"walking pages: HTTP {reply.status} {reply.body[:300]!r}")
            pages += 1
            seen += len(json.loads(reply.body))
            following = reply.header("next-range")
            if following is None:
                break
            current = following
        walk = time.perf_counter() - started

        samples: dict[str, list[float]] = {"first": [], "last": [], "small": []}
        raws = {
            "first": page(first_range),
            "last": page(current),
            "small": page(first_range, LIST_EMAIL),
        }
        for raw in raws.values():
            await sequential(conn, raw, PAGE_WARMUP)
        # Alternating blocks spread any drift (cache, WAL growth) over every side.
        for _ in range(max(ctx.profile.page_samples // PAGE_BLOCK, 1)):
            for key, raw in raws.items():
                samples[key] += await sequential(conn, raw, PAGE_BLOCK)
    finally:
        conn.close()
    runs = {key: Run(values, sum(values)) for key, values in samples.items()}
    return Paging(
        pages, seen, walk, first_range, current, runs["first"], runs["last"], runs["small"]
    )


# --- output ----------------------------------------------------------------------


def load_average() -> str:
    """Other work on the machine skews both servers' figures; show how much there was."""
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    busy = "; above the CPU count: expect noisy figures" if one > cpus else ""
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs{busy}"


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float) -> str:
    if math.isnan(value):  # a side had no successful request
        return "n/a"
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 1:
        return f"{value:.2f}x"
    return f"{value:.3f}x"


def safe_div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def print_table(ctx: Context, results: list[Measured]) -> None:
    p = ctx.profile
    print()
    print(
        f"Throughput and latency: {ctx.args.concurrency} keep-alive connections, "
        f"{p.warmup:g} s warm-up, then {p.duration:g} s per server and endpoint "
        f"({p.slices} turns of {p.slice_seconds:g} s, the servers taking turns)"
    )
    print("  T/B = Tenku / baseline, for every column:")
    print("    req/s: the share of the bare app's throughput Tenku reaches (higher is better)")
    print("    p50, p99: how many times longer a Tenku request takes (lower is better)")
    print()
    head = (
        f"{'endpoint':<22} | {'req/s':>9} {'':>9} {'':>7} | {'p50 ms':>7} {'':>7} {'':>6} "
        f"| {'p99 ms':>7} {'':>7} {'':>6}"
    )
    sub = (
        f"{'':<22} | {'Tenku':>9} {'baseline':>9} {'T/B':>7} | {'Tenku':>7} {'base':>7} "
        f"{'T/B':>6} | {'Tenku':>7} {'base':>7} {'T/B':>6}"
    )
    print(head.rstrip())
    print(sub)
    print("-" * len(sub))
    for m in results:
        t, b = m.tenku, m.baseline
        t50, b50, t99, b99 = t.percentile(50), b.percentile(50), t.percentile(99), b.percentile(99)
        print(
            f"{m.endpoint.label:<22} | {t.rps:>9,.0f} {b.rps:>9,.0f} "
            f"{ratio(safe_div(t.rps, b.rps)):>7} | {ms(t50):>7} {ms(b50):>7} "
            f"{ratio(safe_div(t50, b50)):>6} | {ms(t99):>7} {ms(b99):>7} "
            f"{ratio(safe_div(t99, b99)):>6}"
        )
    print()
    for m in results:
        counts = (
            f"{m.endpoint.label}: Tenku {m.tenku.requests:,} requests, "
            f"baseline {m.baseline.requests:,}"
        )
        problems = [
            f"{name} {run.errors} errors (first: {run.first_error})"
            for name, run in (("Tenku", m.tenku), ("baseline", m.baseline))
            if run.errors
        ]
        print("  " + counts + ("; " + "; ".join(problems) if problems else "; no errors"))
    shares = [(m.endpoint.label, m.cpu) for m in results if m.cpu]
    if shares:
        cpus = os.cpu_count() or 1
        print()
        print(f"CPU while Tenku was measured, in % of one CPU ({cpus} CPUs: {cpus * 100}% in all):")
        groups = ("Tenku", "database", "load generator", "other")
        for label, cpu in shares:
            used = ", ".join(f"{g} {cpu[g]:.0f}" for g in groups if cpu.get(g, 0) >= 0.5)
            print(f"  {label}: {used}")


MIXED_PAGE = 200


def mixed_kinds(port: int, token: str) -> list[MixedKind]:
    """Mostly reads of one app, some pages of apps, and config changes (each a release)."""
    page = Endpoint(
        f"GET /apps (max={MIXED_PAGE})", "GET", "/apps", (("Range", f"id ..; max={MIXED_PAGE}"),)
    )
    get, _, patch = ENDPOINTS
    return [
        (get.label, 80, get.requests(port, token), 200),
        (page.label, 10, page.requests(port, token), 206),
        (patch.label, 10, patch.requests(port, token), 200),
    ]


async def mixed_load(ctx: Context, tenku: Server, token: str) -> tuple[dict[str, Run], int]:
    """Tenku alone under the mixed load; and how often its log says the database was locked."""
    args = ctx.args
    kinds = mixed_kinds(tenku.port, token)
    await hammer_mixed(tenku, kinds, args.mixed_concurrency, ctx.profile.warmup)
    before = locked_lines(tenku)
    runs = await hammer_mixed(tenku, kinds, args.mixed_concurrency, args.mixed)
    return runs, locked_lines(tenku) - before


def locked_lines(server: Server) -> int:
    try:
        text = server.log.read_text(errors="replace")
    except OSError:
        return 0
    return text.count("database is locked")


def print_mixed(ctx: Context, runs: dict[str, Run], locked: int) -> None:
    args = ctx.args
    print()
    print(
        f"Mixed load on Tenku alone: {args.mixed_concurrency} keep-alive connections for "
        f"{args.mixed:g} s, each request drawn at random: 80% GET /apps/{{app}}, "
        f"10% GET /apps (max={MIXED_PAGE}), 10% PATCH config-vars"
    )
    print()
    head = (
        f"{'request':<22} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | errors"
    )
    print(head)
    print("-" * len(head))
    reads = Run([], 0.0)
    for label, run in runs.items():
        if label.startswith("GET"):
            reads.latencies += run.latencies
            reads.elapsed = run.elapsed
        print(
            f"{label:<22} | {run.rps:>7,.0f} | {ms(run.percentile(50)):>7} | "
            f"{ms(run.percentile(99)):>7} | {ms(run.percentile(100)):>7} | {run.errors}"
        )
    print(
        f"{'all reads':<22} | {reads.rps:>7,.0f} | {ms(reads.percentile(50)):>7} | "
        f"{ms(reads.percentile(99)):>7} | {ms(reads.percentile(100)):>7} |"
    )
    print()
    for label, run in runs.items():
        if run.errors:
            print(f"  {label}: first error: {run.first_error}")
    print(f"  'database is locked' in Tenku's log during the run: {locked}")


def print_paging(ctx: Context, paging: Paging) -> None:
    first, last, small = paging.first, paging.last, paging.small_first
    print()
    print(
        f"Paging depth: GET /apps, Range by name, max={PAGE_MAX}; one request at a time, "
        f"{ctx.profile.page_samples} per row, in alternating blocks of {PAGE_BLOCK}"
    )
    print(
        f"  walked {paging.pages} pages ({paging.apps_seen:,} apps) of {DEEP_EMAIL} along "
        f"Next-Range in {paging.walk_seconds:.2f} s"
    )
    print(f"  first page: Range: {paging.first_range}")
    print(f"  last page:  Range: {paging.last_range}")
    print()

    def row(label: str, p50: str, mean: str, p99: str) -> None:
        print(f"{label:<38} | {p50:>7} {mean:>8} {p99:>7}")

    def ratios(label: str, a: Run, b: Run) -> None:
        row(
            label,
            ratio(safe_div(a.percentile(50), b.percentile(50))),
            ratio(safe_div(a.mean(), b.mean())),
            ratio(safe_div(a.percentile(99), b.percentile(99))),
        )

    row("page", "p50 ms", "mean ms", "p99 ms")
    print("-" * 64)
    for label, run in (
        (f"first page, {DEEP_APPS:,} apps", first),
        (f"last page, {DEEP_APPS:,} apps", last),
        (f"first page, {LIST_APPS + 1:,} apps (for scale)", small),
    ):
        row(label, ms(run.percentile(50)), ms(run.mean()), ms(run.percentile(99)))
    ratios("last/first (depth)", last, first)
    ratios(f"first {DEEP_APPS:,} / first {LIST_APPS + 1:,} (size)", first, small)
    print("  depth near 1.00x: a deep page costs what the first one does (keyset paging)")
    print("  size above 1.00x: a page costs more on a bigger account (work per account, not page)")


# --- main ------------------------------------------------------------------------


async def bench(ctx: Context) -> None:
    args, profile = ctx.args, ctx.profile
    print(f"Tenku API benchmark ({profile.name} run)")
    print(
        f"  Python {platform.python_version()}; "
        f"uvicorn {version('uvicorn')} with {args.workers} worker(s) for both servers, on {HOST}"
    )
    print(f"  database: {ctx.database}")
    print(f"  load average at start: {load_average()}")
    print(
        "  client: one process, asyncio on uvloop with the httptools parser, "
        "same code for both servers"
    )

    tokens = {email: await create_user(ctx, email) for email in (LIST_EMAIL, DEEP_EMAIL)}
    seeded = await seed(ctx)
    analyzed = "; then ANALYZE" if args.database_url else ""
    print(
        f"  seeding: {LIST_APPS:,} apps for {LIST_EMAIL} and {DEEP_APPS:,} for {DEEP_EMAIL}, "
        f"inserted through tenku's models by bench/seed.py (a separate process, before the "
        f"server started{analyzed}) in {seeded:.1f} s"
    )

    https_port, http_port, baseline_port = free_ports(3)
    tenku = start_server(
        "tenku",
        [
            *tenku_command(),
            "up",
            "--data-dir",
            str(ctx.workdir / "data"),
            "--host",
            HOST,
            "--port",
            str(https_port),
            "--http-port",
            str(http_port),
            "--workers",
            str(args.workers),
        ],
        ctx.env,
        http_port,
        ctx.workdir / "tenku.log",
        ctx.cleanup,
    )
    await wait_until_serving(tenku)
    # The CA exists once the server answers; only then can a client trust it.
    tls_files = tenku_tls_files(ctx.workdir / "data")
    tls = ssl.create_default_context(cafile=str(tls_files.ca_cert)) if args.https else None
    if tls is not None:
        tenku = replace(tenku, port=https_port, tls=tls)
        await wait_until_serving(tenku)
    print(
        "  transport: "
        + (
            "HTTPS (Tenku's --port listener; the baseline serves Tenku's certificate)"
            if tls is not None
            else "plain HTTP (Tenku's --http-port listener, served by the same process)"
        )
    )

    token = tokens[LIST_EMAIL]
    await prepare_target(tenku, token)
    print(
        f"  measured app: {TARGET_APP}, created with POST /apps and given "
        f"{len(STATIC_CONFIG)} config vars ({LIST_EMAIL} has {LIST_APPS + 1:,} apps)"
    )
    tenku_sources = {ep: ep.requests(tenku.port, token) for ep in ENDPOINTS}
    recorded = await record(tenku, tenku_sources)
    for ep, reply in recorded.items():
        paging = ", with Next-Range" if reply.header("next-range") else ""
        print(f"  recorded {ep.label}: HTTP {reply.status}, {len(reply.body):,} bytes{paging}")

    answers = ctx.workdir / "answers.json"
    write_answers(answers, recorded)
    tls_options = (
        ["--ssl-certfile", str(tls_files.cert), "--ssl-keyfile", str(tls_files.key)]
        if tls is not None
        else []
    )
    baseline = start_server(
        "baseline",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "baseline_app:create",
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            HOST,
            "--port",
            str(baseline_port),
            "--workers",
            str(args.workers),
            "--log-level",
            "info",
            "--no-access-log",
            *tls_options,
        ],
        {**ctx.env, RESPONSES_ENV: str(answers)},
        baseline_port,
        ctx.workdir / "baseline.log",
        ctx.cleanup,
        tls,
    )
    await wait_until_serving(baseline)
    baseline_sources = {ep: ep.requests(baseline.port, token) for ep in ENDPOINTS}
    compare_replays(recorded, await record(baseline, baseline_sources))
    print("  baseline: bench/baseline_app.py replays the same status, headers and body bytes")

    took = await settled(tenku.proc.pid)
    print(
        "  settled: Tenku's processes went idle "
        + (f"after {took:.0f} s" if took is not None else "NEVER (measured anyway)")
        + " (start-up work, such as the runtime's first pass over every app, is not measured)"
    )
    results = await measure(ctx, tenku, baseline, token, recorded, tenku_sources)
    print_table(ctx, results)
    print_paging(ctx, await paging_depth(ctx, tenku, tokens))
    if args.mixed:
        print_mixed(ctx, *await mixed_load(ctx, tenku, token))
    print()
    print(f"load average at the end: {load_average()}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tenku's API against a bare ASGI baseline (prints only; see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="short runs, well under a minute")
    parser.add_argument(
        "--database-url",
        help=f"postgresql://USER@{HOST}:5432/NEW_DB: a database the run creates and drops "
        "(default: SQLite in a temporary directory)",
    )
    parser.add_argument(
        "--https",
        action="store_true",
        help="measure over Tenku's HTTPS listener (the baseline then serves Tenku's "
        "certificate) instead of its plain-HTTP one",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="keep-alive connections during load"
    )
    parser.add_argument(
        "--mixed",
        type=float,
        default=0,
        metavar="SECONDS",
        help="then load Tenku alone with mixed reads and writes for SECONDS (e.g. 20)",
    )
    parser.add_argument(
        "--mixed-concurrency",
        type=int,
        default=64,
        help="keep-alive connections during the mixed load (default 64)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.concurrency < 1 or args.mixed_concurrency < 1:
        parser.error("--workers, --concurrency and --mixed-concurrency must be at least 1")
    if args.mixed < 0:
        parser.error("--mixed must not be negative")
    return args


def run(args: argparse.Namespace) -> None:
    profile = QUICK if args.quick else FULL
    with contextlib.ExitStack() as cleanup:
        try:
            workdir = Path(tempfile.mkdtemp(prefix="tenku-bench-"))
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
            if args.database_url:
                url, name = cleanup.enter_context(throwaway_postgres(args.database_url))
                described = f"PostgreSQL database {name} on {HOST} (created for this run)"
            else:
                url = sqlite_url(workdir / "data")
                described = "SQLite in a temporary directory"
            env = child_env(workdir / "data", url)
            uvloop.run(
                cancelled_by_signals(
                    bench(Context(args, profile, cleanup, workdir, env, described))
                )
            )
        finally:
            # The cleanups are bounded; a second Ctrl-C must not cut them short.
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_until_stopped(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
