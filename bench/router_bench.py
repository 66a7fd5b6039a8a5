"""Tenku's HTTP router against the backend it proxies to, over real HTTP on 127.0.0.1.

    .venv/bin/python bench/router_bench.py [--quick] [--duration SECONDS] [--concurrency N]

Starts a tiny ASGI backend under uvicorn, and Tenku's Router in a process of its own
routing bench.tenku.localhost to that backend, first with one router process, then with
two sharing the port (TENKU_ROUTER_PROCESSES). For each, loads the backend directly and
through the router with the same client, for a small response and a 1 MiB one, and
prints requests/s and latency side by side, followed by the router processes' memory
(VmHWM/VmRSS from /proc, so Linux only) and what became of their log lines. It only
prints; see bench/README.md for how to read the output.

The same file is the entry point of both servers (`--serve-backend`, `--serve-router`),
so the router runs in the process layout the measurement needs and nowhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import httptools
import uvloop

from processes import (
    HOST,
    STOP_SIGNALS,
    SetupError,
    cancelled_by_signals,
    free_ports,
    has_exited,
    run_until_stopped,
    stop_group,
)
from tenku.router import Backend, Router, Target

ROUTE_HOST = "bench.tenku.localhost"
SMALL_PATH = "/small"
LARGE_PATH = "/large"
SMALL_BODY = b"Hello from the router benchmark's backend.\n"
# 1 MiB with a repeating pattern, so a truncated or reordered body does not compare equal.
LARGE_BODY = bytes(range(256)) * 4096
VIA = "1.1 vegur"

REQUEST_TIMEOUT = 60.0
STARTUP_TIMEOUT = 30.0
# A worker gives up after this many failed requests in a row (server gone, say).
MAX_FAILURES_IN_A_ROW = 20
MIB = 1024 * 1024
# The router is measured with each of these process counts (TENKU_ROUTER_PROCESSES).
PROCESSES = (1, 2)
# How often the router process writes its line counters for the benchmark to read.
STATS_INTERVAL = 0.2


# --- the backend (runs in its own process) --------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _response(status: int, body: bytes) -> tuple[Message, Message]:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


ANSWERS = {SMALL_PATH: _response(200, SMALL_BODY), LARGE_PATH: _response(200, LARGE_BODY)}
NOT_FOUND = _response(404, b"not found\n")


async def backend_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Fixed answers from memory: the least an app behind the router can cost."""
    if scope["type"] != "http":
        return
    start, body = ANSWERS.get(scope["path"], NOT_FOUND)
    await send(start)
    await send(body)


def serve_backend(port: int) -> None:
    import uvicorn

    uvicorn.run(
        backend_app,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


# --- the router (runs in its own process) ---------------------------------------------


class FixedRoutes:
    """A route table with one app whose one web dyno is the backend (a RouteFeed, so the
    router's other processes get it too)."""

    def __init__(self, app: Target) -> None:
        self.app = app

    async def lookup(self, host: str) -> Target | None:
        return self.find(host)

    def find(self, host: str) -> Target | None:
        return self.app if host == ROUTE_HOST else None

    def hosts(self) -> dict[str, uuid.UUID]:
        return {ROUTE_HOST: self.app.app_id}

    def target(self, app_id: uuid.UUID) -> Target | None:
        return self.app if app_id == self.app.app_id else None

    def watch(self, changed: Callable[[Collection[uuid.UUID] | None], None]) -> None:
        """The table never changes."""


class CountingLog:
    """Where the router's lines go: counted (as the runtime would queue them for the
    database), and then dropped."""

    def __init__(self) -> None:
        self.lines = 0

    def __call__(self, _app_id: uuid.UUID, _line: str) -> None:
        self.lines += 1


def write_stats(path: Path, router: Router, sink: CountingLog) -> None:
    stats = router.line_stats()
    data = {
        "sink": sink.lines,
        "delivered": stats.delivered,
        "batches": stats.batches,
        "dropped": stats.dropped,
        "workers": router.worker_pids(),
    }
    part = path.with_suffix(".part")
    part.write_text(json.dumps(data))
    part.replace(path)


async def run_router(port: int, backend_port: int, processes: int, stats: Path) -> None:
    target = Target(
        app_id=uuid.uuid4(),
        app_name="bench",
        maintenance=False,
        backends=(Backend("web.1", HOST, backend_port),),
        web_state="up",
        config={},
    )
    sink = CountingLog()
    router = Router(FixedRoutes(target), sink, processes=processes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await router.start(HOST, port, None)
    try:
        while not stop.is_set():
            write_stats(stats, router, sink)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATS_INTERVAL)
    finally:
        await router.stop()
        write_stats(stats, router, sink)


def serve_router(port: int, backend_port: int, processes: int, stats: Path) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    # uvicorn runs Tenku on uvloop when it is installed, and so the router with it.
    uvloop.run(run_router(port, backend_port, processes, stats))


# --- processes ------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    # The Host header requests carry; the router routes on it.
    host_header: str
    proc: subprocess.Popen[bytes]
    log: Path
    # Requests answered so far, warm-ups and checks included.
    answered: int = 0

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def start_server(
    name: str,
    role_args: list[str],
    port: int,
    host_header: str,
    workdir: Path,
    cleanup: contextlib.ExitStack,
) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        # A session of its own: Ctrl-C in the terminal reaches only us, and we stop
        # the whole group on the way out.
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *role_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.callback(stop_group, proc)
    return Server(name, port, f"{host_header}:{port}", proc, log)


def proc_status(pid: int) -> dict[str, int]:
    """The kB figures of /proc/<pid>/status (VmHWM is the peak resident set)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[key] = int(parts[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- HTTP client ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    length: int
    # Only kept when the connection was opened with keep_body.
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight.

    Responses go through httptools, the C parser uvicorn itself uses: a full client
    library costs several times more CPU per request, and on a small machine the
    client shares the cores with the servers it measures. During load only the body's
    length is kept, not its bytes.
    """

    def __init__(self, keep_body: bool) -> None:
        self._keep_body = keep_body
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._length = 0

    @classmethod
    async def open(cls, server: Server, keep_body: bool = False) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: cls(keep_body), HOST, server.port)
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
        self._length = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._length += len(body)
        if self._keep_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result(Reply(status, self._headers, self._length, b"".join(self._body)))

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


def build_request(server: Server, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {server.host_header}\r\n"
        "User-Agent: tenku-router-bench\r\n\r\n"
    ).encode("latin-1")


async def fetch(server: Server, path: str) -> Reply:
    """One request on a connection of its own (setup only, never measured)."""
    conn = await Connection.open(server, keep_body=True)
    try:
        reply = await conn.send(build_request(server, path))
    finally:
        conn.close()
    server.answered += 1
    return reply


async def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if has_exited(server.proc.pid):
            raise SetupError(f"the {server.name} exited at start:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            reply = await fetch(server, SMALL_PATH)
            if reply.status == 200:
                return
        await asyncio.sleep(0.1)
    raise SetupError(
        f"the {server.name} did not answer within {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


# --- load -----------------------------------------------------------------------------


@dataclass
class Run:
    """Successful requests' latencies (seconds) over the elapsed wall time."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    first_error: str | None = None
    # CPU seconds the router process used while this ran (router runs only).
    router_cpu: float = 0.0

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


async def hammer(server: Server, raw: bytes, length: int, concurrency: int, seconds: float) -> Run:
    """Closed-loop load: `concurrency` connections, each sending its next request
    as soon as the previous answer is in, until `seconds` have passed."""
    conns: list[Connection] = []
    try:
        for _ in range(concurrency):
            conns.append(await Connection.open(server))
    except OSError as exc:
        for conn in conns:
            conn.close()
        raise SetupError(
            f"cannot connect to the {server.name}: {exc}\n{server.log_tail()}"
        ) from exc
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None

    async def worker(slot: int) -> None:
        nonlocal errors, first_error
        failures_in_a_row = 0
        while time.perf_counter() < deadline and failures_in_a_row < MAX_FAILURES_IN_A_ROW:
            started = time.perf_counter()
            try:
                reply = await conns[slot].send(raw)
                server.answered += 1
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                errors += 1
                failures_in_a_row += 1
                first_error = first_error or repr(exc)
                conns[slot].close()
                with contextlib.suppress(OSError):
                    conns[slot] = await Connection.open(server)
                continue
            took = time.perf_counter() - started
            if reply.status != 200 or reply.length != length:
                errors += 1
                failures_in_a_row += 1
                first_error = first_error or f"HTTP {reply.status}, {reply.length} bytes"
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


# --- the scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    label: str
    path: str
    body: bytes


RESPONSES = (
    Response(f"small ({len(SMALL_BODY)} B)", SMALL_PATH, SMALL_BODY),
    Response("1 MiB", LARGE_PATH, LARGE_BODY),
)


@dataclass(frozen=True)
class Plan:
    warmup: float
    turns: int
    turn_seconds: float

    @property
    def duration(self) -> float:
        return self.turns * self.turn_seconds


def plan(args: argparse.Namespace) -> Plan:
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 10.0)
    # Turns of 1-2 s, so a burst of outside work on the machine hits both targets alike.
    turn = 1.0 if duration < 5 else 2.0
    turns = max(1, round(duration / turn))
    return Plan(0.5 if args.quick else 1.0, turns, duration / turns)


@dataclass
class RouterUnderTest:
    """A router under test: its process (which starts any others) and its counters."""

    server: Server
    processes: int
    stats_file: Path

    def stats(self) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return {}

    def pids(self) -> list[int]:
        return [self.server.proc.pid, *self.stats().get("workers", [])]

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total


@dataclass
class Measured:
    response: Response
    processes: int
    router: Run
    direct: Run


@dataclass
class Memory:
    stage: str
    # pid -> (VmHWM, VmRSS) in kB
    processes: dict[int, tuple[int, int]]


def memory(router: RouterUnderTest, stage: str) -> Memory:
    found = {}
    for pid in router.pids():
        with contextlib.suppress(OSError, KeyError):
            status = proc_status(pid)
            found[pid] = (status["VmHWM"], status["VmRSS"])
    return Memory(stage, found)


async def check(router: Server, direct: Server) -> None:
    """Both targets must send the same bytes, and the router's replies must be its own."""
    for response in RESPONSES:
        for server in (direct, router):
            reply = await fetch(server, response.path)
            if reply.status != 200 or reply.body != response.body:
                raise SetupError(
                    f"{response.label} from the {server.name}: HTTP {reply.status}, "
                    f"{reply.length} bytes, body equal: {reply.body == response.body}"
                )
        via = (await fetch(router, response.path)).header("via")
        if via != VIA:
            raise SetupError(f"the router's reply carries Via: {via!r}, not {VIA!r}")


async def measure(
    router: RouterUnderTest, direct: Server, concurrency: int, p: Plan
) -> tuple[list[Measured], list[Memory]]:
    results = []
    memories = [memory(router, "before load")]
    for response in RESPONSES:
        sides = ((router.server, Run()), (direct, Run()))
        raws = {server.name: build_request(server, response.path) for server, _ in sides}
        length = len(response.body)
        for server, _ in sides:
            await hammer(server, raws[server.name], length, concurrency, p.warmup)
        for _ in range(p.turns):
            for server, total in sides:
                cpu_before = router.cpu_seconds()
                total.add(
                    await hammer(server, raws[server.name], length, concurrency, p.turn_seconds)
                )
                if server is router.server:
                    total.router_cpu += router.cpu_seconds() - cpu_before
        results.append(Measured(response, router.processes, sides[0][1], sides[1][1]))
        memories.append(memory(router, f"after {response.label}"))
    return results, memories


@dataclass
class Lines:
    """What became of the router's log lines during one router's runs."""

    processes: int
    requests: int
    stats: dict[str, Any]


async def settled_lines(router: RouterUnderTest) -> dict[str, Any]:
    """The router's line counters once the last batches are in (they go every 50 ms)."""
    stats = router.stats()
    for _ in range(20):
        await asyncio.sleep(STATS_INTERVAL * 2)
        again = router.stats()
        if again.get("sink") == stats.get("sink"):
            return again
        stats = again
    return stats


# --- output ---------------------------------------------------------------------------


def load_average() -> str:
    """Other work on the machine skews every figure; show how much there was."""
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    busy = "; above the CPU count: expect noisy figures" if one > cpus else ""
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs{busy}"


def ms(seconds: float) -> str:
    value = seconds * 1000
    if math.isnan(value):
        return "n/a"
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


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def label(m: Measured) -> str:
    return f"{m.response.label}, {m.processes} proc"


def print_table(results: list[Measured], concurrency: int, p: Plan) -> None:
    print()
    print(
        f"Throughput and latency: {concurrency} keep-alive connections, {p.warmup:g} s "
        f"warm-up, then {p.duration:g} s per target and response ({p.turns} turns of "
        f"{p.turn_seconds:g} s, the targets taking turns); the router with 1 and with 2 "
        "processes (TENKU_ROUTER_PROCESSES), each against its own direct runs"
    )
    print("  R/D = through the router / direct to the backend, for every column:")
    print("    req/s: the share of the direct throughput the router passes (higher is better)")
    print(
        "    p50, p99: how many times longer a request through the router takes (lower is better)"
    )
    print()
    width = max(len(label(m)) for m in results)
    head = (
        f"{'response':<{width}} | {'req/s':>8} {'':>8} {'':>7} | {'p50 ms':>7} {'':>7} {'':>6} "
        f"| {'p99 ms':>7} {'':>7} {'':>6}"
    )
    sub = (
        f"{'':<{width}} | {'router':>8} {'direct':>8} {'R/D':>7} | {'router':>7} {'direct':>7} "
        f"{'R/D':>6} | {'router':>7} {'direct':>7} {'R/D':>6}"
    )
    print(head.rstrip())
    print(sub)
    print("-" * len(sub))
    for m in results:
        r, d = m.router, m.direct
        r50, d50, r99, d99 = r.percentile(50), d.percentile(50), r.percentile(99), d.percentile(99)
        print(
            f"{label(m):<{width}} | {r.rps:>8,.0f} {d.rps:>8,.0f} "
            f"{ratio(safe_div(r.rps, d.rps)):>7} | {ms(r50):>7} {ms(d50):>7} "
            f"{ratio(safe_div(r50, d50)):>6} | {ms(r99):>7} {ms(d99):>7} "
            f"{ratio(safe_div(r99, d99)):>6}"
        )
    print()
    for m in results:
        r, d = m.router, m.direct
        size = len(m.response.body)
        line = f"  {label(m)}: router {r.requests:,} requests, direct {d.requests:,}"
        if size >= MIB:
            line += (
                f"; body throughput router {r.rps * size / MIB:,.0f} MiB/s, "
                f"direct {d.rps * size / MIB:,.0f} MiB/s"
            )
        line += f"; router processes' CPU {safe_div(r.router_cpu, r.elapsed):.0%} of one core"
        problems = [
            f"{name} {run.errors} errors (first: {run.first_error})"
            for name, run in (("router", r), ("direct", d))
            if run.errors
        ]
        print(line + ("; " + "; ".join(problems) if problems else "; no errors"))


def print_memory(processes: int, memories: list[Memory]) -> None:
    print()
    print(
        f"Router memory with {processes} process{'es' if processes > 1 else ''} "
        "(/proc/<pid>/status; the first pid started the others):"
    )
    pids = list(memories[0].processes)
    print(f"  {'when':<22} " + " ".join(f"{f'pid {pid} peak / now':>26}" for pid in pids))
    for m in memories:
        cells = []
        for pid in pids:
            peak, now = m.processes.get(pid, (0, 0))
            cells.append(f"{mib(peak):>12} / {mib(now):>11}")
        print(f"  {m.stage:<22} " + " ".join(cells))
    grown = [
        memories[-1].processes.get(pid, (0, 0))[0] - memories[0].processes[pid][0] for pid in pids
    ]
    print(f"  peak grew under load by {', '.join(mib(g) for g in grown)}")


def print_lines(lines: list[Lines]) -> None:
    print()
    print("Router log lines (a heroku[router] line per request, as in production; the sink")
    print("counts them where the runtime would queue them for the database):")
    for entry in lines:
        stats = entry.stats
        sink, batches = stats.get("sink", 0), stats.get("batches", 0)
        others = "; the other process's came over its socket pair" if entry.processes > 1 else ""
        print(
            f"  {entry.processes} proc: {entry.requests:,} requests answered, {sink:,} lines "
            f"reached the sink in the router's first process, in {batches:,} batches "
            f"(about {safe_div(sink, batches):,.0f} a batch{others}); "
            f"{stats.get('dropped', 0):,} dropped"
        )


# --- main -----------------------------------------------------------------------------


async def start_router(
    processes: int, backend_port: int, workdir: Path, cleanup: contextlib.ExitStack
) -> RouterUnderTest:
    [port] = free_ports(1)
    stats = workdir / f"router-{processes}.json"
    server = start_server(
        f"router ({processes} proc)",
        [
            "--serve-router",
            str(port),
            "--backend-port",
            str(backend_port),
            "--processes",
            str(processes),
            "--stats",
            str(stats),
        ],
        port,
        ROUTE_HOST,
        workdir,
        cleanup,
    )
    await wait_until_serving(server)
    router = RouterUnderTest(server, processes, stats)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while len(router.pids()) < processes:
        if time.monotonic() > deadline:
            raise SetupError(f"the router's other processes did not start:\n{server.log_tail()}")
        await asyncio.sleep(0.1)
    return router


async def bench(args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack) -> None:
    p = plan(args)
    print(f"Tenku router benchmark ({'quick' if args.quick else 'full'} run)")
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}; {os.cpu_count()} CPUs"
    )
    print(f"  load average at start: {load_average()}")
    [backend_port] = free_ports(1)
    backend = start_server(
        "backend", ["--serve-backend", str(backend_port)], backend_port, HOST, workdir, cleanup
    )
    await wait_until_serving(backend)
    print(
        f"  backend: uvicorn {version('uvicorn')} (httptools, uvloop), one process on "
        f"{HOST}:{backend_port}, answering from memory"
    )
    print(
        f"  router: tenku.router.Router on uvloop (httptools {version('httptools')}), "
        f"{ROUTE_HOST} -> the backend over kept connections; with 1 process, then with 2 "
        "sharing the port (SO_REUSEPORT)"
    )
    print(
        "  client: one process, asyncio on uvloop with the httptools parser, "
        "same code for both targets"
    )
    results: list[Measured] = []
    memories: dict[int, list[Memory]] = {}
    lines: list[Lines] = []
    for processes in PROCESSES:
        router = await start_router(processes, backend_port, workdir, cleanup)
        await check(router.server, backend)
        measured, memories[processes] = await measure(router, backend, args.concurrency, p)
        results += measured
        lines.append(Lines(processes, router.server.answered, await settled_lines(router)))
        stop_group(router.server.proc)
    print("  checked: both targets send the same status and body bytes; the router adds Via")
    results.sort(key=lambda m: RESPONSES.index(m.response))
    print_table(results, args.concurrency, p)
    for processes, stages in memories.items():
        print_memory(processes, stages)
    print_lines(lines)
    print()
    print(f"load average at the end: {load_average()}")


def run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as cleanup:
        try:
            workdir = Path(tempfile.mkdtemp(prefix="tenku-router-bench-"))
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
            uvloop.run(cancelled_by_signals(bench(args, workdir, cleanup)))
        finally:
            # The cleanups are bounded; a second Ctrl-C must not cut them short.
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tenku's router against direct requests to its backend "
        "(prints only; see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="2 s per measurement, not 10 s")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of load per target and response (default 10, or 2 with --quick)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="keep-alive connections during load"
    )
    # The two servers' entry points: this file, started again by the benchmark.
    parser.add_argument("--serve-backend", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-router", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--backend-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if args.serve_router is not None and (args.backend_port is None or args.stats is None):
        parser.error("--serve-router needs --backend-port and --stats")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_backend is not None:
        serve_backend(args.serve_backend)
        return 0
    if args.serve_router is not None:
        serve_router(args.serve_router, args.backend_port, args.processes, args.stats)
        return 0
    if not Path("/proc/self/status").exists():
        print("error: this benchmark reads /proc and runs on Linux only", file=sys.stderr)
        return 1
    return run_until_stopped(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
