"""How long Tenku takes to bring web dynos up, and what each running dyno costs it.

    .venv/bin/python bench/dyno_bench.py [--quick]

Starts `tenku up` on a throwaway SQLite database, creates a user and an app, and
releases a slug whose web process is a tiny stdlib HTTP server. For 1, 10 and 50 web
dynos (`--quick`: 1 and 10) it times the formation PATCH and a new release (a config
var change) until `GET /apps/{app}/dynos` shows every dyno `up`, and, as a floor from
the same run, starting the same command directly as N subprocesses until each one
listens. It also reads the RSS of the `tenku` processes (API and runtime) with 0 and N
dynos up, from /proc, so Linux only. All of it twice, with the sandbox off and on
(`--sandbox off|on` for one of them), and the ratio of the two. It only prints; see
bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from processes import HOST, SetupError, free_ports, process_stats, stop_group, tenku_command
from tenku.runtime.dyno_env import BASE_PATH
from tenku.runtime.procs import listening_ports

V3 = "application/vnd.heroku+json; version=3"
APP = "bench-dynos"
EMAIL = "bench@example.com"
COMMAND = "python3 server.py"
# Far above anything the polling sends: the budget must never be what is measured.
RATE_LIMIT_PER_HOUR = 10**9
FULL_COUNTS = (1, 10, 50)
QUICK_COUNTS = (1, 10)

POLL = 0.05
STARTUP_TIMEOUT = 60.0
WAIT_TIMEOUT = 300.0
STOP_GRACE = 15.0
# Let lazily freed memory settle before reading RSS.
SETTLE = 1.0
MIB = 1024 * 1024

SERVER_PY = f'''\
"""The bench's web process: answers 200 on $PORT, on {HOST} only."""

import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


http.server.HTTPServer(("{HOST}", int(os.environ["PORT"])), Handler).serve_forever()
'''


# --- processes ------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    return [child for child, fields in process_stats() if int(fields[1]) == pid]


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def runtime_of(up_pid: int) -> int:
    """The `tenku runtime` process `tenku up` (`up_pid`) started."""
    for pid in children(up_pid):
        if "tenku" in cmdline(pid) and " runtime" in cmdline(pid):
            return pid
    raise SetupError("no `tenku runtime` process under `tenku up`")


def rss(pid: int) -> int:
    """Resident set size in bytes; 0 if the process is gone."""
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Tenku:
    proc: subprocess.Popen[bytes]
    http: httpx.Client
    log: Path

    def runtime_pid(self) -> int:
        return runtime_of(self.proc.pid)

    def platform_rss(self) -> tuple[int, int]:
        """RSS of the API process (`tenku up`) and of the runtime."""
        return rss(self.proc.pid), rss(self.runtime_pid())

    def dyno_rss(self) -> int:
        """RSS of everything the runtime has spawned: the dynos' processes."""
        return sum(rss(pid) for pid in descendants(self.runtime_pid()))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- the API --------------------------------------------------------------------------


def call(tenku: Tenku, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> Any:
    r = tenku.http.request(method, path, **kw)
    if r.status_code not in ok:
        raise SetupError(f"{method} {path}: {r.status_code} {r.text}")
    return r.json()


def dynos(tenku: Tenku) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = call(tenku, "GET", f"/apps/{APP}/dynos", (200, 206))
    return data


def wait_for(check: Callable[[], bool], what: str, tenku: Tenku) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not check():
        if tenku.proc.poll() is not None:
            raise SetupError(f"`tenku up` exited while waiting for {what}:\n{tenku.log_tail()}")
        if time.monotonic() > deadline:
            states = [(d["name"], d["state"], d["release"]) for d in dynos(tenku)]
            raise SetupError(f"timed out waiting for {what}; dynos: {states}")
        time.sleep(POLL)


def all_up(tenku: Tenku, count: int) -> bool:
    now = dynos(tenku)
    return len(now) == count and all(d["state"] == "up" for d in now)


def environ_port(pid: int) -> int | None:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"PORT="):
            return int(entry[5:])
    return None


def restarted_checker(tenku: Tenku, count: int, old_version: int) -> Callable[[], bool]:
    """A check for "every dyno restarted on the new release and is up again".

    On a new release a dyno's row keeps its id and already says `up` with the new
    version while the old process is being stopped, so the API alone cannot tell. The
    check also wants the runtime's children to be `count` new processes (none of the
    pids from before the release), each listening on its $PORT.
    """
    old_pids = set(children(tenku.runtime_pid()))

    def check() -> bool:
        kids = set(children(tenku.runtime_pid()))
        if len(kids) != count or kids & old_pids:
            return False
        ports = {environ_port(pid) for pid in kids}
        if None in ports or not ports <= listening_ports():
            return False
        now = dynos(tenku)
        return len(now) == count and all(
            d["state"] == "up" and (d.get("release") or {}).get("version", 0) > old_version
            for d in now
        )

    return check


def slug_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, mode in (("./app", b"", 0o755), ("./app/server.py", SERVER_PY, 0o644)):
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            info.mode = mode
            if name == "./app":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def deploy(tenku: Tenku) -> None:
    call(tenku, "POST", "/apps", (201,), json={"name": APP})
    slug = call(
        tenku, "POST", f"/apps/{APP}/slugs", (201,), json={"process_types": {"web": COMMAND}}
    )
    # The blob URL names the HTTPS port; keep its path and query, send it over plain HTTP.
    target = httpx.URL(slug["blob"]["url"]).raw_path.decode()
    put = httpx.put(f"{tenku.http.base_url}".rstrip("/") + target, content=slug_tarball())
    if put.status_code != 200:
        raise SetupError(f"slug upload: {put.status_code} {put.text}")
    call(tenku, "POST", f"/apps/{APP}/releases", (201,), json={"slug": slug["id"]})


def scale(tenku: Tenku, count: int) -> None:
    call(tenku, "PATCH", f"/apps/{APP}/formation/web", (200,), json={"quantity": count})


def scale_to_zero(tenku: Tenku) -> None:
    scale(tenku, 0)
    wait_for(lambda: not dynos(tenku), "0 dynos", tenku)
    wait_for(lambda: not descendants(tenku.runtime_pid()), "dyno processes to exit", tenku)


# --- the floor: the same command as plain subprocesses ---------------------------------


def listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def dyno_path() -> str:
    """PATH as a dyno gets it (the standard dirs first), so `python3` is the same file."""
    dirs = BASE_PATH.split(":")
    return ":".join(dirs + [d for d in os.environ.get("PATH", "").split(":") if d not in dirs])


def direct_start(count: int, workdir: Path) -> tuple[float, int]:
    """Seconds to start `count` copies of the web command until each listens, and the
    mean RSS of one copy (its whole process group)."""
    app_dir = workdir / "direct"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "server.py").write_text(SERVER_PY)
    ports = free_ports(count)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        for port in ports:
            env = {**os.environ, "PATH": dyno_path(), "PORT": str(port)}
            procs.append(
                subprocess.Popen(
                    ["bash", "-c", COMMAND],
                    cwd=app_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        waiting = set(ports)
        deadline = time.monotonic() + WAIT_TIMEOUT
        while waiting:
            waiting = {p for p in waiting if not listens(p)}
            if waiting:
                if time.monotonic() > deadline:
                    raise SetupError(f"{len(waiting)} direct servers never listened")
                time.sleep(0.005)
        elapsed = time.perf_counter() - started
        time.sleep(SETTLE)
        total = sum(rss(p.pid) + sum(rss(d) for d in descendants(p.pid)) for p in procs)
        return elapsed, total // count
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            stop_group(proc, STOP_GRACE)


# --- the run --------------------------------------------------------------------------


@dataclass
class Round:
    count: int
    formation: float
    release: float
    direct: float
    api_zero: int
    runtime_zero: int
    api_n: int
    runtime_n: int
    dyno_rss: int
    direct_rss: int


def measure(tenku: Tenku, count: int, workdir: Path) -> Round:
    time.sleep(SETTLE)
    api_zero, runtime_zero = tenku.platform_rss()

    started = time.perf_counter()
    scale(tenku, count)
    wait_for(lambda: all_up(tenku, count), f"{count} dynos up", tenku)
    formation = time.perf_counter() - started

    time.sleep(SETTLE)
    api_n, runtime_n = tenku.platform_rss()
    dyno_rss = tenku.dyno_rss() // count

    version = max(d["release"]["version"] for d in dynos(tenku))
    started = time.perf_counter()
    value = secrets.token_hex(6)
    call(tenku, "PATCH", f"/apps/{APP}/config-vars", (200,), json={"BENCH_VALUE": value})
    wait_for(restarted_checker(tenku, count, version), f"{count} restarted dynos", tenku)
    release = time.perf_counter() - started

    scale_to_zero(tenku)
    direct, direct_rss = direct_start(count, workdir)
    return Round(
        count,
        formation,
        release,
        direct,
        api_zero,
        runtime_zero,
        api_n,
        runtime_n,
        dyno_rss,
        direct_rss,
    )


def child_env(data_dir: Path, ports: dict[str, int], sandbox: str) -> dict[str, str]:
    # Settings the caller's shell may carry must not leak into Tenku.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENKU_")}
    env.update(
        TENKU_SANDBOX=sandbox,
        TENKU_DATA_DIR=str(data_dir),
        TENKU_HOST=HOST,
        TENKU_RATE_LIMIT_PER_HOUR=str(RATE_LIMIT_PER_HOUR),
        TENKU_ROUTER_PORT=str(ports["router"]),
        TENKU_ROUTER_HTTPS_PORT=str(ports["router_https"]),
        TENKU_RENDEZVOUS_PORT=str(ports["rendezvous"]),
    )
    return env


def start_tenku(workdir: Path, cleanup: contextlib.ExitStack, sandbox: str) -> Tenku:
    data_dir = workdir / "data"
    https, plain, router, router_https, rendezvous = free_ports(5)
    ports = {"router": router, "router_https": router_https, "rendezvous": rendezvous}
    env = child_env(data_dir, ports, sandbox)
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

    log = workdir / "tenku.log"
    command = [*tenku_command(), "up", "--data-dir", str(data_dir)]
    command += ["--port", str(https), "--http-port", str(plain)]
    with log.open("wb") as out:
        # A session of its own: we stop the whole group (runtime included) on the way out.
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.callback(stop_group, proc, STOP_GRACE)
    http = httpx.Client(
        base_url=f"http://{HOST}:{plain}",
        headers={"Accept": V3, "Authorization": f"Bearer {key}"},
        timeout=60,
        trust_env=False,
    )
    cleanup.callback(http.close)
    tenku = Tenku(proc, http, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SetupError(f"`tenku up` exited ({proc.returncode}):\n{tenku.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if http.get("/account").status_code == 200:
                break
        if time.monotonic() > deadline:
            raise SetupError(f"`tenku up` not serving after {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.1)
    wait_for(lambda: bool(children(proc.pid)), "the runtime process", tenku)
    return tenku


def mib(value: float) -> str:
    return f"{value / MIB:.1f}"


def print_results(rounds: list[Round]) -> None:
    print()
    print("time to N web dynos up (s)")
    print(f"{'N':>4} | {'formation':>10} {'release':>10} {'direct':>10} |", end="")
    print(f" {'form/dir':>9} {'rel/dir':>9}")
    for r in rounds:
        print(
            f"{r.count:>4} | {r.formation:>10.2f} {r.release:>10.2f} {r.direct:>10.3f} |"
            f" {r.formation / r.direct:>8.1f}x {r.release / r.direct:>8.1f}x"
        )  # fmt: skip
    print()
    print("memory (MiB RSS): Tenku's API and runtime processes with 0 and N dynos up")
    print(
        f"{'N':>4} | {'API 0':>7} {'API N':>7} {'run 0':>7} {'run N':>7} |"
        f" {'Tenku/dyno':>10} | {'dyno':>6} {'direct':>7}"
    )
    for r in rounds:
        per_dyno = (r.api_n + r.runtime_n - r.api_zero - r.runtime_zero) / r.count
        print(
            f"{r.count:>4} | {mib(r.api_zero):>7} {mib(r.api_n):>7} {mib(r.runtime_zero):>7}"
            f" {mib(r.runtime_n):>7} | {mib(per_dyno):>10} | {mib(r.dyno_rss):>6}"
            f" {mib(r.direct_rss):>7}"
        )


def print_comparison(off: list[Round], on: list[Round]) -> None:
    print()
    print("the sandbox's cost: sandboxed / unsandboxed, same run")
    print(f"{'N':>4} | {'formation':>10} {'release':>10} | {'Tenku/dyno MiB':>15}")
    for a, b in zip(off, on, strict=True):
        per_a = (a.api_n + a.runtime_n - a.api_zero - a.runtime_zero) / a.count
        per_b = (b.api_n + b.runtime_n - b.api_zero - b.runtime_zero) / b.count
        print(
            f"{a.count:>4} | {b.formation / a.formation:>9.2f}x {b.release / a.release:>9.2f}x |"
            f" {mib(per_a):>6} -> {mib(per_b):<6}"
        )


def bench(args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack) -> None:
    counts = QUICK_COUNTS if args.quick else FULL_COUNTS
    print(
        f"tenku dyno bench: Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, SQLite in a temporary directory"
    )
    modes = ["off", "on"] if args.sandbox == "both" else [args.sandbox]
    results: dict[str, list[Round]] = {}
    for mode in modes:
        print(f"sandbox {mode}", flush=True)
        with contextlib.ExitStack() as instance:
            tenku = start_tenku(workdir / f"sandbox-{mode}", instance, mode)
            deploy(tenku)
            # A first release may give the web process a default dyno: start every round
            # from 0.
            scale_to_zero(tenku)
            rounds = []
            for count in counts:
                print(f"  {count} dyno(s)...", flush=True)
                rounds.append(measure(tenku, count, workdir))
            results[mode] = rounds
    for mode, rounds in results.items():
        print(f"\n== sandbox {mode} ==")
        print_results(rounds)
    if len(results) == 2:
        print_comparison(results["off"], results["on"])
    print(f"\nload at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 dynos instead of 1, 10, 50")
    parser.add_argument(
        "--sandbox", choices=("both", "off", "on"), default="both", help="which runs to make"
    )
    args = parser.parse_args(argv)
    with stop_signals_interrupt():
        try:
            with contextlib.ExitStack() as cleanup:
                workdir = Path(tempfile.mkdtemp(prefix="tenku-dyno-bench-"))
                cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
                try:
                    bench(args, workdir, cleanup)
                finally:
                    # The cleanups are bounded; a second Ctrl-C must not cut them short.
                    for signum in STOP_SIGNALS:
                        signal.signal(signum, signal.SIG_IGN)
        except SetupError as err:
            print(f"\nerror: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted; Tenku stopped and temporary files removed", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
