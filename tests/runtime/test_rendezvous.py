"""The rendezvous listener, driven the way `heroku run` drives it: TLS with the certificate
and host verified, the secret line, the acknowledgement as its own read, then raw bytes to
and from real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import heroku3.rendezvous  # type: ignore[import-untyped]
import pytest
import uvloop
from heroku3.rendezvous import Rendezvous

from tenku.config import Settings
from tenku.runtime import rendezvous
from tenku.runtime.rendezvous import (
    ACK,
    DETACHED_MESSAGE,
    HANGUP_MESSAGE,
    Attachment,
    RendezvousServer,
)
from tenku.tls import server_ssl_context, tls_files

T = TypeVar("T")

# Upper bounds only: how long a client or a test waits before it fails.
WAIT = 30.0
GONE_WAIT = 10.0
EXIT_MARK = "\uffff heroku-command-exit-status:"
# Small graces, so that escalation tests run quickly.
GRACE = 0.2


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext
    ca: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    data = tmp_path_factory.mktemp("rendezvous-tls")
    settings = Settings(data_dir=data, database_url=f"sqlite+aiosqlite:///{data / 'unused.db'}")
    server = server_ssl_context(settings)
    # What the CLI does: trust the CA, verify the certificate and the address it covers.
    ca = tls_files(data).ca_cert
    client = ssl.create_default_context(cafile=str(ca))
    assert client.check_hostname
    return Tls(server, client, ca)


@dataclass
class Run:
    """One claimed dyno: what its callbacks saw."""

    attachment: Attachment
    pids: list[int] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int:
        assert len(self.pids) == 1, self.pids
        return self.pids[0]

    async def exit_code(self) -> int:
        await asyncio.wait_for(self.ended.wait(), WAIT)
        assert len(self.codes) == 1, self.codes
        return self.codes[0]


class Dynos:
    """The claim side: one-use secrets, as the API hands them out."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.pending: dict[str, Run] = {}
        self.claimed: list[str] = []

    def add(
        self, script: str, *, tty: bool = False, env: dict[str, str] | None = None
    ) -> tuple[str, Run]:
        secret = secrets.token_urlsafe(32)
        run: Run

        async def started(pid: int) -> None:
            run.pids.append(pid)

        async def exited(code: int) -> None:
            run.codes.append(code)
            run.ended.set()

        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.cwd)}
        attachment = Attachment(
            argv=["bash", "-c", script],
            env={**base, **(env or {})},
            cwd=self.cwd,
            tty=tty,
            started=started,
            exited=exited,
            log=lambda line: run.logs.append(line),  # noqa: PLW0108
        )
        run = Run(attachment)
        self.pending[secret] = run
        return secret, run

    async def claim(self, secret: str) -> Attachment | None:
        self.claimed.append(secret)
        run = self.pending.pop(secret, None)
        return run.attachment if run is not None else None


async def in_thread(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in a thread of its own: blocking clients never wait for a free worker
    of the default executor (which the tests would otherwise exhaust)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, daemon=True).start()
    return await done


class Client:
    """A blocking TLS client, as the CLI and heroku3 are; every call runs in a thread so
    that the server in the test's event loop keeps going."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise

    async def send(self, data: bytes) -> None:
        await in_thread(self.sock.sendall, data)

    async def recv(self) -> bytes:
        """One read: the data of one TLS record at most, like one `data` event."""
        return await in_thread(self.sock.recv, 65536)

    async def recv_until(self, needle: bytes) -> bytes:
        got = b""
        while needle not in got:
            chunk = await self.recv()
            assert chunk, f"connection closed before {needle!r}; got {got!r}"
            got += chunk
        return got

    async def read_to_end(self) -> bytes:
        """Everything until the server closes; then the client closes too, as the CLI
        does when it exits."""

        def read() -> bytes:
            chunks = []
            with self.sock:
                while chunk := self.sock.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks)

        return await in_thread(read)

    def close(self) -> None:
        self.sock.close()


class Harness:
    def __init__(self, server: RendezvousServer, dynos: Dynos, tls: Tls) -> None:
        self.server = server
        self.dynos = dynos
        self.tls = tls
        self.clients: list[Client] = []

    async def connect(self, secret: str | None = None, *, crlf: bool = True) -> Client:
        client = await in_thread(Client, self.server.port, self.tls.client)
        self.clients.append(client)
        if secret is not None:
            await client.send(secret.encode() + (b"\r\n" if crlf else b""))
        return client

    async def attach(self, secret: str, *, crlf: bool = True) -> Client:
        """Connected, the secret sent, and the acknowledgement read on its own."""
        client = await self.connect(secret, crlf=crlf)
        assert await client.recv() == ACK
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
async def serving(tls: Tls, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tls, tmp_path) as h:
        yield h


@contextlib.asynccontextmanager
async def harness(tls: Tls, cwd: Path, **kw: float) -> AsyncIterator[Harness]:
    dynos = Dynos(cwd)
    kw = {"hangup_grace": GRACE, "kill_grace": GRACE, **kw}
    h = Harness(RendezvousServer(tls.server, dynos.claim, **kw), dynos, tls)
    await h.server.start("127.0.0.1", 0)
    try:
        yield h
    finally:
        try:
            await h.server.stop()
        finally:
            h.close()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still lives (zombies waiting to be reaped don't)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


async def assert_group_gone(pgid: int) -> None:
    for _ in range(int(GONE_WAIT / 0.05)):
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"process group {pgid} is still running")


async def test_acknowledgement_is_a_read_of_its_own(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo started-at-once")
    client = await serving.connect(secret)
    assert await client.recv() == ACK
    assert await client.read_to_end() == b"started-at-once\n"
    assert await run.exit_code() == 0


async def test_stdin_ends_at_eot(serving: Harness) -> None:
    secret, run = serving.dynos.add("cat")
    client = await serving.attach(secret)
    await client.send(b"input-from-stdin\n\x04")
    assert await client.read_to_end() == b"input-from-stdin\n"
    assert await run.exit_code() == 0
    assert run.pids
    assert run.logs == []


async def test_input_sent_along_with_the_secret_reaches_the_process(serving: Harness) -> None:
    secret, run = serving.dynos.add("cat; echo done")
    client = await serving.connect()
    await client.send(secret.encode() + b"\r\nearly\n\x04ignored")
    assert await client.recv() == ACK
    assert await client.read_to_end() == b"early\ndone\n"
    assert await run.exit_code() == 0


async def test_stdout_and_stderr_are_merged(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo out; echo err >&2")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"out\nerr\n"
    assert await run.exit_code() == 0


async def test_exit_code_convention_of_the_cli(serving: Harness) -> None:
    # `heroku run -x` appends the echo to the command itself.
    secret, run = serving.dynos.add(f"bash -c 'exit 3'; echo \"{EXIT_MARK} $?\"")
    client = await serving.attach(secret)
    out = await client.read_to_end()
    assert f"{EXIT_MARK} 3".encode() in out
    assert await run.exit_code() == 0


async def test_exit_status_of_the_process_is_reported(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo bye; exit 7")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"bye\n"
    # Reported before the connection closed.
    assert run.codes == [7]


CTTY_CHECK = "(: < /dev/tty) 2>/dev/null && echo has-ctty || echo no-ctty"


async def test_tty_gets_size_and_a_controlling_terminal(serving: Harness) -> None:
    env = {"COLUMNS": "123", "LINES": "45", "TERM": "xterm-256color"}
    script = f'stty size; tty; echo "term=$TERM"; {CTTY_CHECK}'
    secret, run = serving.dynos.add(script, tty=True, env=env)
    client = await serving.attach(secret)
    out = (await client.read_to_end()).decode()
    assert "45 123\r\n" in out
    assert "/dev/pts/" in out
    assert "term=xterm-256color" in out
    assert "has-ctty" in out
    assert await run.exit_code() == 0


async def test_without_tty_there_is_no_terminal(serving: Harness) -> None:
    secret, run = serving.dynos.add(f"tty; {CTTY_CHECK}")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"not a tty\nno-ctty\n"
    assert await run.exit_code() == 0


async def test_tty_passes_bytes_as_they_are(serving: Harness) -> None:
    secret, run = serving.dynos.add("cat", tty=True, env={"TERM": "xterm"})
    client = await serving.attach(secret)
    await client.send(b"abc\n")
    # The terminal echoes, then cat repeats the line.
    assert (await client.recv_until(b"abc\r\nabc\r\n")).endswith(b"abc\r\nabc\r\n")
    # Ctrl-D at the start of a line is the terminal's end of input.
    await client.send(b"\x04")
    await client.read_to_end()
    assert await run.exit_code() == 0


async def test_tty_output_written_just_before_exit_arrives(serving: Harness) -> None:
    secret, run = serving.dynos.add("seq 1 30000", tty=True)
    client = await serving.attach(secret)
    out = await client.read_to_end()
    assert out.split(b"\r\n") == [str(i).encode() for i in range(1, 30001)] + [b""]
    assert await run.exit_code() == 0


async def test_large_output_without_tty(serving: Harness) -> None:
    secret, run = serving.dynos.add("head -c 3000000 /dev/zero | tr '\\0' x; echo")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"x" * 3_000_000 + b"\n"
    assert await run.exit_code() == 0


async def test_leftovers_do_not_hold_the_connection_open(serving: Harness) -> None:
    secret, run = serving.dynos.add("sleep 300 & echo main-done")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"main-done\n"
    assert await run.exit_code() == 0
    await assert_group_gone(run.pid)


async def test_output_held_open_by_an_escaped_process_is_given_up(
    serving: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendezvous, "DRAIN_LIMIT", 0.3)
    # A new session is out of reach of the group kill, and keeps the output pipe open.
    secret, run = serving.dynos.add("setsid sleep 300 & echo pid=$!; echo main-done")
    client = await serving.attach(secret)
    out = await client.read_to_end()
    escaped = int(out.split(b"pid=")[1].split(b"\n")[0])
    try:
        assert out.endswith(b"main-done\n")
        assert await run.exit_code() == 0
    finally:
        os.kill(escaped, signal.SIGKILL)


async def test_death_by_signal_is_reported_as_128_plus_signal(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo going; kill -TERM $$")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"going\n"
    assert await run.exit_code() == 128 + 15


@pytest.fixture
async def patient(tls: Tls, tmp_path: Path) -> AsyncIterator[Harness]:
    """A server that waits long after SIGHUP: for tests of processes that do stop on it,
    which a loaded machine may take longer than GRACE to reap."""
    async with harness(tls, tmp_path, hangup_grace=WAIT) as h:
        yield h


async def test_client_going_away_hangs_up_the_process(patient: Harness) -> None:
    secret, run = patient.dynos.add("echo ready; sleep 300")
    client = await patient.attach(secret)
    await client.recv_until(b"ready")
    assert os.getpgid(run.pid) == run.pid
    client.close()
    await assert_group_gone(run.pid)
    assert await run.exit_code() == 128 + 1
    assert run.logs == [HANGUP_MESSAGE]


async def test_tty_client_going_away_hangs_up_the_process(patient: Harness) -> None:
    secret, run = patient.dynos.add("echo ready; sleep 300", tty=True)
    client = await patient.attach(secret)
    await client.recv_until(b"ready")
    client.close()
    await assert_group_gone(run.pid)
    assert await run.exit_code() == 128 + 1


async def test_ignoring_sighup_gets_sigterm(serving: Harness) -> None:
    secret, run = serving.dynos.add('trap "" HUP; echo ready; sleep 300')
    client = await serving.attach(secret)
    await client.recv_until(b"ready")
    client.close()
    await assert_group_gone(run.pid)
    assert await run.exit_code() == 128 + 15
    assert run.logs == [HANGUP_MESSAGE, DETACHED_MESSAGE]


async def test_ignoring_sighup_and_sigterm_gets_sigkill(serving: Harness) -> None:
    secret, run = serving.dynos.add('trap "" HUP TERM; echo ready; sleep 300')
    client = await serving.attach(secret)
    await client.recv_until(b"ready")
    client.close()
    await assert_group_gone(run.pid)
    assert await run.exit_code() == 128 + 9


async def test_idle_connection_is_closed(tls: Tls, tmp_path: Path) -> None:
    async with harness(tls, tmp_path, idle_timeout=0.5, hangup_grace=WAIT) as h:
        secret, run = h.dynos.add("sleep 300")
        client = await h.attach(secret)
        # The server closes the silent connection, then hangs up the process.
        assert await client.read_to_end() == b""
        await assert_group_gone(run.pid)
        assert await run.exit_code() == 128 + 1
        assert run.logs == [HANGUP_MESSAGE]


async def test_unknown_secret_is_closed_without_output(serving: Harness) -> None:
    client = await serving.connect("no-such-secret")
    assert await client.read_to_end() == b""
    assert serving.dynos.claimed == ["no-such-secret"]


async def test_a_secret_is_used_once(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo once")
    first = await serving.attach(secret)
    assert await first.read_to_end() == b"once\n"
    second = await serving.connect(secret)
    assert await second.read_to_end() == b""
    assert await run.exit_code() == 0


@pytest.mark.parametrize(
    "line", [b"\r\n", b"bad secret\r\n", b"\x00\x01\r\n", b"x" * 300 + b"\r\n"]
)
async def test_malformed_secret_is_closed_without_a_claim(serving: Harness, line: bytes) -> None:
    client = await serving.connect()
    await client.send(line)
    assert await client.read_to_end() == b""
    assert serving.dynos.claimed == []


async def test_secret_without_line_end_like_heroku3(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo hello")
    client = await serving.connect(secret, crlf=False)
    first = (await client.recv()).decode()
    assert first.startswith("rendezvous")
    assert await client.read_to_end() == b"hello\n"
    assert await run.exit_code() == 0


class _TrackingContext(ssl.SSLContext):
    """heroku3 never closes its socket; the test does, through this."""

    opened: list[ssl.SSLSocket] = []

    def wrap_socket(self, *args: Any, **kw: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kw)
        self.opened.append(sock)
        return sock


def _heroku3_run(url: str, ca: Path) -> str:
    client = Rendezvous(url, timeout_secs=WAIT)
    # heroku3 trusts only its bundled CA file; point it at Tenku's.
    client.cert = str(ca)
    try:
        output: str = client.start()
    finally:
        for sock in _TrackingContext.opened:
            sock.close()
    return output


async def test_heroku3_rendezvous_client(serving: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_TrackingContext, "opened", [])
    # Only heroku3's own reference to the ssl module changes.
    monkeypatch.setattr(
        heroku3.rendezvous, "ssl", SimpleNamespace(**{**vars(ssl), "SSLContext": _TrackingContext})
    )
    secret, run = serving.dynos.add("echo from-heroku3")
    url = f"rendezvous://127.0.0.1:{serving.server.port}/{secret}"
    assert await in_thread(_heroku3_run, url, serving.tls.ca) == "from-heroku3\n"
    assert await run.exit_code() == 0


async def test_secret_with_bare_lf(serving: Harness) -> None:
    secret, run = serving.dynos.add("echo hello")
    client = await serving.connect()
    await client.send(secret.encode() + b"\n")
    assert await client.recv() == ACK
    assert await client.read_to_end() == b"hello\n"
    assert await run.exit_code() == 0


async def test_silent_client_is_dropped(serving: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendezvous, "SECRET_TIMEOUT", 0.3)
    client = await serving.connect()
    assert await client.read_to_end() == b""
    assert serving.dynos.claimed == []


def _plain_tcp(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
        return got


def _untrusting_client(port: int) -> None:
    ctx = ssl.create_default_context()  # system CAs only: rejects the server's certificate
    with (
        socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")


async def test_failed_handshakes_do_not_hurt_the_server(serving: Harness) -> None:
    port = serving.server.port
    # Plain text where TLS was expected: the server answers with an alert, or just closes.
    reply = await in_thread(_plain_tcp, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"HTTP" not in reply
    # Gone before the handshake.
    socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    await in_thread(_untrusting_client, port)
    secret, run = serving.dynos.add("echo still-serving")
    client = await serving.attach(secret)
    assert await client.read_to_end() == b"still-serving\n"
    assert await run.exit_code() == 0


async def test_missing_command_reports_127(serving: Harness) -> None:
    secret, run = serving.dynos.add("true")
    run.attachment.argv = ["/no/such/command"]
    client = await serving.attach(secret)
    assert b"/no/such/command" in await client.read_to_end()
    assert await run.exit_code() == 127
    assert run.pids == []


async def test_missing_command_on_a_tty_reports_127(serving: Harness) -> None:
    secret, run = serving.dynos.add("true", tty=True)
    run.attachment.argv = ["no-such-command-anywhere"]
    client = await serving.attach(secret)
    assert b"no-such-command-anywhere" in await client.read_to_end()
    assert await run.exit_code() == 127


async def test_stop_ends_every_session(tls: Tls, tmp_path: Path) -> None:
    async with harness(tls, tmp_path, kill_grace=WAIT) as h:
        runs, clients = [], []
        for tty in (False, True):
            secret, run = h.dynos.add("echo ready; sleep 300", tty=tty)
            client = await h.attach(secret)
            await client.recv_until(b"ready")
            runs.append(run)
            clients.append(client)
        stubborn_secret, stubborn = h.dynos.add('trap "" TERM; echo ready; sleep 300')
        client = await h.attach(stubborn_secret)
        await client.recv_until(b"ready")
        waiting = await h.connect()  # connected, no secret yet
        port = h.server.port
        # A short kill grace for this stop, so the stubborn one gets SIGKILL soon.
        h.server.kill_grace = GRACE
        # Clients keep reading, as real ones do, and so answer the TLS close.
        reads = [asyncio.create_task(c.read_to_end()) for c in [*clients, client, waiting]]
        await h.server.stop()
        for run in runs:
            assert await run.exit_code() == 128 + 15
            await assert_group_gone(run.pid)
        assert await stubborn.exit_code() == 128 + 9
        await assert_group_gone(stubborn.pid)
        await asyncio.gather(*reads)
        with pytest.raises(ConnectionRefusedError):
            await in_thread(socket.create_connection, ("127.0.0.1", port))


def _session_under_uvloop(tls: Tls, cwd: Path) -> tuple[bytes, bytes, int, int]:
    """A tty and a non-tty session on uvloop, the loop `tenku up` serves with."""

    async def main() -> tuple[bytes, bytes, int, int]:
        async with harness(tls, cwd) as h:
            plain_secret, plain = h.dynos.add("cat")
            tty_secret, tty = h.dynos.add("stty size", tty=True, env={"LINES": "9", "COLUMNS": "7"})
            client = await h.attach(plain_secret)
            await client.send(b"via-uvloop\n\x04")
            out = await client.read_to_end()
            tty_client = await h.attach(tty_secret)
            tty_out = await tty_client.read_to_end()
            return out, tty_out, await plain.exit_code(), await tty.exit_code()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


async def test_works_on_uvloop(tls: Tls, tmp_path: Path) -> None:
    out, tty_out, code, tty_code = await in_thread(_session_under_uvloop, tls, tmp_path)
    assert out == b"via-uvloop\n"
    assert tty_out == b"9 7\r\n"
    assert (code, tty_code) == (0, 0)
