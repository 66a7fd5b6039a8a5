"""What reaches a log tail and a log drain when a dyno prints a burst of lines.

    .venv/bin/python bench/log_bench.py [--quick] [--database-url URL] [--sandbox off|on|auto]

Starts `tenku up` in a throwaway data directory (SQLite unless --database-url names an
empty PostgreSQL database) and releases an app whose one-off dynos print numbered lines
of 100 characters (`burst 0 .....`) as fast as Python writes them. Four consumers read
the app's stream: a plain tail and an SSE tail (log sessions read over HTTP, as heroku3
and the CLI read them), a syslog drain (TCP) and an HTTPS drain, all served by this
process on 127.0.0.1. Two scenarios (`--quick`: the first only):

- keep up: one burst of 10,000 lines; every consumer reads as fast as it can.
- slow: six bursts of 10,000 lines a second apart. From the first line of the burst until
  the dyno has exited, the tails stop reading, the syslog receiver reads 4 kB every 50 ms
  and the HTTPS receiver answers each post after 1 s; then they read as fast as they can.
  A plain tail that keeps up runs beside them and says when the dyno has exited.

For each consumer it prints the lines produced, delivered and announced as dropped (the
sum of the counts in the L10 lines it got), whether delivered + announced equals
produced, and whether the lines came in order; for the first scenario also how fast they
came (first to last line), as a ratio to the floor: the same command run by this
process, its stdout read through a pipe. Linux only (peak RSS from /proc). It only
prints; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dyno_bench import children, runtime_of
from processes import (
    HOST,
    SetupError,
    cancelled_by_signals,
    free_ports,
    run_until_stopped,
    stop_group,
    tenku_command,
)
from tenku.logs import store
from tenku.runtime.dyno_env import BASE_PATH

V3 = "application/vnd.heroku+json; version=3"
APP = "bench-logs"
EMAIL = "bench@example.com"
RATE_LIMIT_PER_HOUR = 10**9
BURST = 10_000
# Each line's message, in characters (a typical log line, not a short one).
WIDTH = 100
# The slow consumers must fall behind by more than an app keeps (store.KEEP) plus what the
# kernel queues for them (Linux grows a loopback socket's send buffer to a few MB).
SLOW_BURSTS = 6
SLOW_PAUSE = 1.0
STARTUP_TIMEOUT = 60.0
WAIT_TIMEOUT = 300.0
STOP_GRACE = 15.0
# The slow consumers' pace.
TAIL_RCVBUF = 4096
SYSLOG_READ = 4096
SYSLOG_PAUSE = 0.05
HTTPS_DELAY = 1.0

BURST_PY = """\
import sys
import time

count, bursts, width = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[4])
pause = float(sys.argv[3])
for b in range(bursts):
    if b:
        time.sleep(pause)
    lines = (f"burst {i} ".ljust(width, ".") for i in range(b * count, (b + 1) * count))
    sys.stdout.write("".join(line + "\\n" for line in lines))
    sys.stdout.flush()
"""

L10 = re.compile(r"^Error L10 \(output buffer overflow\): (\d+) messages dropped since ")
TAIL_LINE = re.compile(r"^\S+ (\w+)\[([\w.]+)\]: (.*)$")
SYSLOG_MSG = re.compile(rb"^<\d+>1 \S+ \S+ (\S+) (\S+) - - (.*)$", re.S)
HTTP_MSG = re.compile(rb"^<\d+>1 \S+ host (\S+) (\S+) - (.*)$", re.S)


# --- what a consumer got ------------------------------------------------------------------


@dataclass
class Count:
    """Lines one consumer received, and the L10 lines among them."""

    name: str
    delivered: int = 0
    announced: int = 0
    # L10 lines received (each stands for one or more lost lines).
    notices: int = 0
    last: int = -1
    out_of_order: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def line(self, source: str, dyno: str, message: str) -> None:
        if source == "app" and message.startswith("burst "):
            n = int(message.split(" ", 2)[1])
            if n <= self.last:
                self.out_of_order += 1
            self.last = n
            self.delivered += 1
            self.last_at = time.perf_counter()
            if not self.started.is_set():
                self.first_at = self.last_at
                self.started.set()
        elif source == "heroku" and dyno == "logplex":
            m = L10.match(message)
            if m:
                self.announced += int(m.group(1))
                self.notices += 1
        elif source == "heroku" and message.startswith("Process exited with status"):
            self.done.set()


class Pace:
    """When a slow consumer goes slow (its first burst line) and fast again (the dyno
    has exited)."""

    def __init__(self, slow: bool, ended: asyncio.Event) -> None:
        self.slow = slow
        self.ended = ended

    def holding(self, count: Count) -> bool:
        return self.slow and count.started.is_set() and not self.ended.is_set()

    async def hold(self, count: Count) -> None:
        """A stalled reader: nothing more until the dyno has exited."""
        if self.holding(count):
            await self.ended.wait()


# --- tails: log sessions read over HTTP ------------------------------------------------


async def tail(
    port: int, path: str, sse: bool, count: Count, pace: Pace, ready: asyncio.Event
) -> None:
    """Read a log session's stream over plain HTTP/1.1 (chunked), line by line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if pace.slow:
        # Set before connecting, so the window stays small: the server feels the stall.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TAIL_RCVBUF)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=TAIL_RCVBUF)
    accept = "text/event-stream" if sse else "*/*"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: {accept}\r\n\r\n".encode())
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SetupError(f"log session: {head.splitlines()[0].decode()}")
        pending = b""
        while not count.done.is_set():
            await pace.hold(count)
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                break
            pending += (await reader.readexactly(size + 2))[:-2]
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                text = raw.decode()
                if sse:
                    if not text.startswith("data: "):
                        continue
                    text = text[len("data: ") :]
                m = TAIL_LINE.match(text)
                if m:
                    ready.set()
                    count.line(m.group(1), m.group(2), m.group(3))
    finally:
        writer.close()


# --- drains: receivers of syslog frames and of HTTPS posts -----------------------------


def frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete RFC 6587 octet-counted frames, and what is left of the next one."""
    out = []
    while True:
        length, sep, rest = data.partition(b" ")
        if not sep or not length.isdigit() or len(rest) < int(length):
            return out, data
        n = int(length)
        out.append(rest[:n])
        data = rest[n:]


def take(message: bytes, pattern: re.Pattern[bytes], count: Count) -> None:
    m = pattern.match(message)
    if m:
        count.line(m.group(1).decode(), m.group(2).decode(), m.group(3).decode().rstrip("\n"))


class Receiver:
    """A server of this process that a drain delivers to; `close` ends its connections,
    kept-alive ones too, so that no handler is left waiting."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def serve(
        self,
        handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        **kw: Any,
    ) -> Receiver:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.add(writer)
            try:
                with contextlib.suppress(asyncio.IncompleteReadError, OSError):
                    await handle(reader, writer)
            finally:
                self.writers.discard(writer)
                writer.close()

        self.server = await asyncio.start_server(tracked, HOST, 0, **kw)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        # Their handlers see the end of their streams and return.
        for _ in range(100):
            if not self.writers:
                break
            await asyncio.sleep(0.01)


async def syslog_receiver(count: Count, pace: Pace) -> Receiver:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        while True:
            if pace.holding(count):
                await asyncio.sleep(SYSLOG_PAUSE)
                chunk = await reader.read(SYSLOG_READ)
            else:
                chunk = await reader.read(1 << 16)
            if not chunk:
                break
            done, pending = frames(pending + chunk)
            for message in done:
                take(message, SYSLOG_MSG, count)

    return await Receiver().serve(handle, limit=SYSLOG_READ)


async def https_receiver(count: Count, pace: Pace, tls: ssl.SSLContext) -> Receiver:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            if pace.holding(count):
                await asyncio.sleep(HTTPS_DELAY)
            for message in frames(body)[0]:
                take(message, HTTP_MSG, count)
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    return await Receiver().serve(handle, ssl=tls)


# --- Tenku ----------------------------------------------------------------------------


@dataclass
class Tenku:
    proc: subprocess.Popen[bytes]
    http: httpx.AsyncClient
    http_port: int
    data_dir: Path
    log: Path

    def runtime_pid(self) -> int:
        return runtime_of(self.proc.pid)

    def peaks(self) -> tuple[int, int]:
        """Peak RSS (VmHWM, kB) of the API process and of the runtime."""
        return peak_rss(self.proc.pid), peak_rss(self.runtime_pid())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def call(self, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> Any:
        r = await self.http.request(method, path, **kw)
        if r.status_code not in ok:
            raise SetupError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child_env(data_dir: Path, args: argparse.Namespace, ports: list[int]) -> dict[str, str]:
    # Settings the caller's shell may carry must not leak into Tenku.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENKU_")}
    env.update(
        TENKU_SANDBOX=args.sandbox,
        TENKU_DATA_DIR=str(data_dir),
        TENKU_HOST=HOST,
        TENKU_RATE_LIMIT_PER_HOUR=str(RATE_LIMIT_PER_HOUR),
        # The drains' receivers are this process, on loopback.
        TENKU_ALLOW_PRIVATE_TARGETS="127.0.0.0/8",
        TENKU_ROUTER_PORT=str(ports[0]),
        TENKU_ROUTER_HTTPS_PORT=str(ports[1]),
        TENKU_RENDEZVOUS_PORT=str(ports[2]),
    )
    if args.database_url:
        env["TENKU_DATABASE_URL"] = args.database_url
    return env


def spawn_tenku(
    workdir: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], str, int]:
    """`tenku up` with a user of its own: the process, the user's API key, the HTTP port."""
    data_dir = workdir / "data"
    https, plain, *others = free_ports(5)
    env = child_env(data_dir, args, others)
    created = subprocess.run(  # noqa: PLW1510 (the return code is checked below)
        [*tenku_command(), "users", "create", EMAIL, "--password", secrets.token_urlsafe(18)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    if created.returncode != 0:
        raise SetupError(f"tenku users create failed:\n{created.stderr.decode().strip()}")
    key = created.stdout.decode().strip().splitlines()[-1]
    command = [*tenku_command(), "up", "--data-dir", str(data_dir)]
    command += ["--port", str(https), "--http-port", str(plain)]
    with (workdir / "tenku.log").open("wb") as out:
        # A session of its own: the whole group (runtime and dynos) is stopped on the way out.
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, key, plain


async def start_tenku(
    workdir: Path, args: argparse.Namespace, cleanup: contextlib.ExitStack
) -> Tenku:
    proc, key, plain = await asyncio.to_thread(spawn_tenku, workdir, args)
    cleanup.callback(stop_group, proc, STOP_GRACE)
    http = httpx.AsyncClient(
        base_url=f"http://{HOST}:{plain}",
        headers={"Accept": V3, "Authorization": f"Bearer {key}"},
        timeout=60,
        trust_env=False,
    )
    tenku = Tenku(proc, http, plain, workdir / "data", workdir / "tenku.log")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SetupError(f"`tenku up` exited ({proc.returncode}):\n{tenku.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/account")).status_code == 200 and children(proc.pid):
                return tenku
        if time.monotonic() > deadline:
            raise SetupError(f"`tenku up` not serving after {STARTUP_TIMEOUT:.0f} s")
        await asyncio.sleep(0.1)


def slug_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        top = tarfile.TarInfo("./app")
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
        tar.addfile(top)
        script = tarfile.TarInfo("./app/burst.py")
        raw = BURST_PY.encode()
        script.size, script.mode, script.mtime = len(raw), 0o644, int(time.time())
        tar.addfile(script, io.BytesIO(raw))
    return buf.getvalue()


async def deploy(tenku: Tenku) -> None:
    await tenku.call("POST", "/apps", (201,), json={"name": APP})
    slug = await tenku.call(
        "POST", f"/apps/{APP}/slugs", (201,), json={"process_types": {"burst": "sleep 1"}}
    )
    # The blob URL names the HTTPS port; keep its path and query, send it over plain HTTP.
    target = httpx.URL(slug["blob"]["url"]).raw_path.decode()
    put = await tenku.http.put(target, content=slug_tarball(), headers={"Content-Type": ""})
    if put.status_code != 200:
        raise SetupError(f"slug upload: {put.status_code} {put.text}")
    await tenku.call("POST", f"/apps/{APP}/releases", (201,), json={"slug": slug["id"]})


# --- one scenario ---------------------------------------------------------------------


@dataclass
class Result:
    count: Count
    produced: int

    @property
    def accounted(self) -> bool:
        return self.count.delivered + self.count.announced == self.produced

    @property
    def span(self) -> float:
        return self.count.last_at - self.count.first_at


async def until(event: asyncio.Event, what: str, tenku: Tenku) -> None:
    try:
        async with asyncio.timeout(WAIT_TIMEOUT):
            while not event.is_set():
                if tenku.proc.poll() is not None:
                    raise SetupError(f"`tenku up` exited waiting for {what}:\n{tenku.log_tail()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 1.0)
    except TimeoutError:
        raise SetupError(f"timed out waiting for {what}") from None


async def scenario(tenku: Tenku, tls: ssl.SSLContext, bursts: int, slow: bool) -> list[Result]:
    """Run one one-off printing `bursts` bursts; what each consumer got."""
    ended = asyncio.Event()
    pace = Pace(slow, ended)
    names = ["plain tail", "SSE tail", "syslog drain", "HTTPS drain"]
    counts = {name: Count(name) for name in names}
    reference = Count("plain tail (keeps up)") if slow else None
    receivers = [
        await syslog_receiver(counts["syslog drain"], pace),
        await https_receiver(counts["HTTPS drain"], pace, tls),
    ]
    syslog_port, https_port = (r.port for r in receivers)
    tasks: list[asyncio.Task[None]] = []
    drains = []
    try:
        for url in (f"syslog://{HOST}:{syslog_port}", f"https://{HOST}:{https_port}/logs"):
            drain = await tenku.call("POST", f"/apps/{APP}/log-drains", (201,), json={"url": url})
            drains.append(drain["id"])
        readers: list[tuple[Count, Pace, bool]] = [
            (counts["plain tail"], pace, False),
            (counts["SSE tail"], pace, True),
        ]
        if reference is not None:
            readers.append((reference, Pace(False, ended), False))
        for count, its_pace, sse in readers:
            session = await tenku.call(
                "POST", f"/apps/{APP}/log-sessions", (201,), json={"tail": True, "lines": 1}
            )
            path = httpx.URL(session["logplex_url"]).raw_path.decode()
            ready = asyncio.Event()
            tasks.append(
                asyncio.create_task(tail(tenku.http_port, path, sse, count, its_pace, ready))
            )
            # The backlog line is out once the session has its position.
            await until(ready, f"the {count.name} to open", tenku)
        command = f"python3 burst.py {BURST} {bursts} {SLOW_PAUSE} {WIDTH}"
        await tenku.call(
            "POST", f"/apps/{APP}/dynos", (201,), json={"command": command, "attach": False}
        )
        if reference is not None:
            await until(reference.done, "the one-off to exit", tenku)
            ended.set()
        for count in counts.values():
            await until(count.done, f"the {count.name} to see the end", tenku)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for drain_id in drains:
            await tenku.call("DELETE", f"/apps/{APP}/log-drains/{drain_id}", (200,))
        for receiver in receivers:
            await receiver.close()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise SetupError(f"a tail failed: {task.exception()!r}")
    produced = BURST * bursts
    everyone = [*counts.values(), *([reference] if reference else [])]
    return [Result(count, produced) for count in everyone]


# --- the floor ------------------------------------------------------------------------


def dyno_path() -> str:
    """PATH as a dyno gets it (the standard dirs first), so `python3` is the same file."""
    dirs = BASE_PATH.split(":")
    return ":".join(dirs + [d for d in os.environ.get("PATH", "").split(":") if d not in dirs])


async def direct(workdir: Path) -> float:
    """Seconds from the first to the last line of one burst read through a pipe."""
    script = workdir / "burst.py"
    script.write_text(BURST_PY)
    proc = await asyncio.create_subprocess_exec(
        "python3",
        str(script),
        str(BURST),
        "1",
        "0",
        str(WIDTH),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PATH": dyno_path()},
    )
    assert proc.stdout is not None
    first = last = 0.0
    lines = 0
    while line := await proc.stdout.readline():
        last = time.perf_counter()
        if not lines:
            first = last
        lines += int(line.startswith(b"burst "))
    await proc.wait()
    if lines != BURST:
        raise SetupError(f"the burst printed {lines} lines directly, not {BURST}")
    return last - first


# --- output ---------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(title: str, results: list[Result], floor: float | None) -> None:
    """The accounting of each consumer; with `floor`, how fast the lines came too."""
    print()
    print(title)
    timing = f" | {'lines/s':>9} {'span s':>7} {'span/direct':>12}" if floor else ""
    print(
        f"  {'consumer':<22} {'produced':>9} {'delivered':>10} {'announced':>10}"
        f" {'L10 lines':>10} {'d+a=p':>6} {'in order':>9}{timing}"
    )
    for r in results:
        c = r.count
        row = (
            f"  {c.name:<22} {r.produced:>9,} {c.delivered:>10,} {c.announced:>10,}"
            f" {c.notices:>10,} {'yes' if r.accounted else 'NO':>6}"
            f" {'yes' if not c.out_of_order else 'NO':>9}"
        )
        if floor:
            rate = c.delivered / r.span if r.span > 0 else float("inf")
            row += f" | {rate:>9,.0f} {r.span:>7.2f} {r.span / floor:>11.0f}x"
        print(row)


async def bench(args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack) -> None:
    database = "PostgreSQL" if args.database_url else "SQLite in a temporary directory"
    print(
        f"tenku log bench: Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" load {load_average()}, {database}, sandbox {args.sandbox}"
    )
    print(
        f"  an app keeps {store.KEEP:,} lines; consumers read pages of up to {store.PAGE:,} lines"
    )
    floors = [await direct(workdir) for _ in range(5)]
    floor = statistics.median(floors)
    print(
        f"  direct (the same command, its stdout read through a pipe): {BURST:,} lines"
        f" in {floor * 1000:.1f} ms ({BURST / floor:,.0f} lines/s), median of 5"
    )
    tenku = await start_tenku(workdir, args, cleanup)
    try:
        await deploy(tenku)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_dir = tenku.data_dir / "tls"
        tls.load_cert_chain(tls_dir / "server.pem", tls_dir / "server-key.pem")
        api_0, runtime_0 = tenku.peaks()
        kept = await scenario(tenku, tls, 1, slow=False)
        api_1, runtime_1 = tenku.peaks()
        print_table(f"one burst of {BURST:,} lines at once; every consumer keeps up", kept, floor)
        if not args.quick:
            slowed = await scenario(tenku, tls, SLOW_BURSTS, slow=True)
            api_2, runtime_2 = tenku.peaks()
            print_table(
                f"{SLOW_BURSTS} bursts of {BURST:,} lines {SLOW_PAUSE:.0f} s apart; the four"
                " consumers slow down from the first line until the dyno has exited",
                slowed,
                None,
            )
            api_1, runtime_1 = api_2, runtime_2
        print()
        print(
            f"peak RSS (VmHWM, MiB), before -> after: API {api_0 / 1024:.1f} ->"
            f" {api_1 / 1024:.1f}, runtime {runtime_0 / 1024:.1f} -> {runtime_1 / 1024:.1f}"
        )
    finally:
        await tenku.http.aclose()
    print(f"load at the end {load_average()}")


def run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as cleanup:
        try:
            workdir = Path(tempfile.mkdtemp(prefix="tenku-log-bench-"))
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
            asyncio.run(cancelled_by_signals(bench(args, workdir, cleanup)))
        finally:
            # The cleanups are bounded; a second Ctrl-C must not cut them short.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the keep-up scenario only")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database (default: SQLite in a temp dir)"
    )
    parser.add_argument(
        "--sandbox", choices=("off", "on", "auto"), default="off", help="TENKU_SANDBOX"
    )
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("error: this benchmark reads /proc and runs on Linux only", file=sys.stderr)
        return 1
    return run_until_stopped(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
