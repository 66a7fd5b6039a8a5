"""The rendezvous listener that `heroku run` attaches to.

The API hands the client `attach_url = rendezvous://host:port/<secret>`. The client
opens a TLS connection there and writes the secret (the Heroku CLI ends it with CRLF,
heroku3 sends it bare). The server answers `rendezvous\\r\\n` as a write of its own (the
CLI throws its first chunk of data away), and from then on the connection is a raw byte
stream: client bytes go to the process's stdin, its stdout and stderr (merged) come back.

* tty mode: the process runs on a pseudo-terminal that is its controlling terminal, sized
  from COLUMNS/LINES. Client bytes go to the terminal as they are.
* otherwise: pipes. The client ends its input with byte 0x04; the process's stdin is
  closed there.

When the process exits, its remaining output is sent and the connection closed. When the
client goes away (or nothing moves either way for `idle_timeout`), the process group gets
SIGHUP, then SIGTERM after `hangup_grace`, then SIGKILL after another `kill_grace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import re
import signal
import ssl
import struct
import sys
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenku.runtime.procs import kill_group, stop_group

log = logging.getLogger("tenku.rendezvous")

ACK = b"rendezvous\r\n"
# A client that has not sent its secret by then is dropped.
SECRET_TIMEOUT = 10.0
# heroku3 sends the secret without a line end: once some bytes came, a pause this long
# ends the secret.
SECRET_PAUSE = 0.3
MAX_SECRET = 256
SECRET_RE = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_SECRET)
# Between the acknowledgement and the first output, so that the two reach the client in
# separate reads even when the process writes at once.
ACK_PAUSE = 0.05
TLS_HANDSHAKE_TIMEOUT = 10.0
# After the process exited: how long its leftovers' output may take to end (something
# that escaped the process group may hold the terminal or pipe open forever).
DRAIN_LIMIT = 5.0
DRAIN_STEP = 0.5
# How long a closing connection may take to flush and see the client's goodbye (its
# close_notify or TCP close) before it is cut; shorter when the server stops.
CLOSE_LIMIT = 10.0
STOP_CLOSE_LIMIT = 2.0
READ_CHUNK = 64 * 1024
EOT = b"\x04"
DEFAULT_SIZE = (24, 80)
HANGUP_MESSAGE = "Client connection closed. Sending SIGHUP to all processes"
DETACHED_MESSAGE = (
    "Error R16 (Detached) -> An attached process is not responding to SIGHUP after its "
    "external connection was closed."
)

# Runs in the child on its way to the command: a process that starts a session gets a
# controlling terminal only by asking for it, and asking takes code in the child. The
# interpreter ignores SIGPIPE and SIGXFSZ at startup; the command gets the defaults back.
_CTTY_HELPER = """\
import fcntl, os, signal, sys, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
try:
    os.execvp(sys.argv[1], sys.argv[1:])
except OSError as exc:
    sys.stderr.write(f"{sys.argv[1]}: {exc.strerror}\\n")
    sys.stderr.flush()
    os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
"""


@dataclass
class Attachment:
    """What a claimed secret runs."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    tty: bool
    # Called with the pid (which is also the process group id) right after the spawn.
    started: Callable[[int], Awaitable[None]]
    # Called once with the exit status: the code, or 128 + the signal that killed it;
    # after the last output was handed to the connection, before the connection closes.
    # A command that cannot be started gets 127 (not found) or 126, without `started`.
    exited: Callable[[int], Awaitable[None]]
    # Platform log lines about the session (client gone, not responding to SIGHUP).
    log: Callable[[str], None] | None = None


# The secret → what to run, or None for an unknown or expired one. Called at most once
# per connection (never for a malformed secret).
Claim = Callable[[str], Awaitable[Attachment | None]]


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _window_size(env: dict[str, str]) -> tuple[int, int]:
    def dim(name: str, default: int) -> int:
        try:
            value = int(env.get(name, ""))
        except ValueError:
            return default
        return value if 0 < value < 65536 else default

    rows, cols = DEFAULT_SIZE
    return dim("LINES", rows), dim("COLUMNS", cols)


class _Fd:
    """A non-blocking file descriptor (pipe end or terminal master) read and written
    through the event loop. Only one task reads and one task writes at a time, and the
    descriptor is closed only once neither does."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        os.set_blocking(fd, False)

    async def _ready(self, write: bool) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(self.fd, wake)
        else:
            loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            if write:
                loop.remove_writer(self.fd)
            else:
                loop.remove_reader(self.fd)

    async def read(self) -> bytes:
        """Some bytes, or b"" at the end: a terminal master reads EIO once every
        slave descriptor is closed, which is its end."""
        while True:
            try:
                return os.read(self.fd, READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                await self._ready(write=False)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return b""
                raise

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except (BlockingIOError, InterruptedError):
                await self._ready(write=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


class _Session:
    """One claimed connection: its process, from spawn to exit."""

    def __init__(
        self,
        server: RendezvousServer,
        attachment: Attachment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        early_input: bytes,
    ) -> None:
        self.server = server
        self.attachment = attachment
        self.reader = reader
        self.writer = writer
        self.early_input = early_input
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        self.connected = True
        self.gone = asyncio.Event()
        self.stopping = asyncio.Event()
        self.stdin: _Fd | None = None
        self.output: _Fd | None = None
        # Since when the output pump waits for the process (None: it writes to the client).
        self.output_wait_since: float | None = None

    def platform_log(self, message: str) -> None:
        if self.attachment.log is None:
            return
        try:
            self.attachment.log(message)
        except Exception:
            log.exception("rendezvous: log callback failed")

    def touch(self) -> None:
        self.last_activity = self.loop.time()

    def client_gone(self) -> None:
        self.connected = False
        self.gone.set()

    async def run(self) -> None:
        a = self.attachment
        await self._acknowledge()
        try:
            proc = await self._spawn()
        except (OSError, ValueError) as exc:
            code = 127 if isinstance(exc, FileNotFoundError | ValueError) else 126
            log.warning("rendezvous: cannot start %r: %s", a.argv, exc)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            await self._send(f"{a.argv[0] if a.argv else 'command'}: {reason}\r\n".encode())
            await self._report_exit(code)
            return
        try:
            await a.started(proc.pid)
        except Exception:
            log.exception("rendezvous: started callback failed")
        code = exit_status(await self._attend(proc))
        await self._report_exit(code)

    async def _report_exit(self, code: int) -> None:
        try:
            await self.attachment.exited(code)
        except Exception:
            log.exception("rendezvous: exited callback failed")

    async def _acknowledge(self) -> None:
        try:
            self.writer.write(ACK)
            await self.writer.drain()
        except OSError:
            self.client_gone()
            return
        # The process starts only now, so its first output cannot join the acknowledgement.
        await asyncio.sleep(ACK_PAUSE)

    async def _send(self, data: bytes) -> None:
        if not self.connected:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError:
            self.client_gone()

    async def _spawn(self) -> asyncio.subprocess.Process:
        a = self.attachment
        if not a.argv:
            raise ValueError("empty command")
        if a.tty:
            master, slave = os.openpty()
            try:
                fcntl.ioctl(
                    slave, termios.TIOCSWINSZ, struct.pack("HHHH", *_window_size(a.env), 0, 0)
                )
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", "-c", _CTTY_HELPER, *a.argv,
                    stdin=slave, stdout=slave, stderr=slave,
                    cwd=a.cwd, env=dict(a.env), start_new_session=True,
                )  # fmt: skip
            except BaseException:
                os.close(master)
                raise
            finally:
                # Once the process and everything it started let go of the terminal,
                # reading the master ends with EIO.
                os.close(slave)
            self.stdin = self.output = _Fd(master)
            return proc
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *a.argv,
                stdin=in_r, stdout=out_w, stderr=out_w,
                cwd=a.cwd, env=dict(a.env), start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)
        self.stdin, self.output = _Fd(in_w), _Fd(out_r)
        return proc

    async def _attend(self, proc: asyncio.subprocess.Process) -> int:
        """Relay bytes until the process exits; its return code."""
        exited = asyncio.create_task(proc.wait())
        pumping_out = asyncio.create_task(self._pump_output())
        helpers: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._pump_input()),
            asyncio.create_task(self._watch_idle()),
        ]
        gone = asyncio.create_task(self.gone.wait())
        stopping = asyncio.create_task(self.stopping.wait())
        helpers += [gone, stopping]
        try:
            await asyncio.wait({exited, gone, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done() and not stopping.done():
                self.platform_log(HANGUP_MESSAGE)
                self._close_soon()
                kill_group(proc.pid, signal.SIGHUP)
                await asyncio.wait(
                    {exited, stopping},
                    timeout=self.server.hangup_grace,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not exited.done() and not stopping.done():
                    self.platform_log(DETACHED_MESSAGE)
            if not exited.done():
                await stop_group(proc, self.server.kill_grace)
            returncode = await exited
            # The one-off ends with its process: whatever it left behind goes too, which
            # also lets go of the terminal or pipe so that the output reaches its end.
            kill_group(proc.pid)
            await self._finish_output(pumping_out)
            return returncode
        finally:
            helpers.append(pumping_out)
            for task in helpers:
                task.cancel()
            # Shielded: even when the session is cancelled, the group dies and the
            # descriptors close.
            await asyncio.shield(self._clean_up(proc, exited, helpers))

    async def _finish_output(self, pumping_out: asyncio.Task[None]) -> None:
        """Wait until the output after the exit has reached the client, as long as more
        may come and the client takes it. Output that does not end within DRAIN_LIMIT
        (something escaped the group and holds the pipe or terminal) is given up, and so
        is the rest for a client that went away; a slow client that still reads gets all
        of it, unless the server is stopping."""
        stop_by = self.loop.time() + DRAIN_LIMIT if self.stopping.is_set() else None
        while not pumping_out.done():
            now = self.loop.time()
            since = self.output_wait_since
            if since is not None:
                left = since + DRAIN_LIMIT - now
            elif self.connected:
                left = DRAIN_STEP  # writing to the client: look again soon
            else:
                break
            if stop_by is not None:
                left = min(left, stop_by - now)
            if left <= 0:
                break
            await asyncio.wait({pumping_out}, timeout=left)
        pumping_out.cancel()

    async def _clean_up(
        self,
        proc: asyncio.subprocess.Process,
        exited: asyncio.Task[int],
        helpers: list[asyncio.Task[Any]],
    ) -> None:
        await asyncio.wait(helpers)
        if not exited.done():
            kill_group(proc.pid)
            await asyncio.wait({exited})
        for fd in {self.stdin, self.output}:
            if fd is not None:
                fd.close()

    async def _pump_input(self) -> None:
        """Client bytes to the process until the client goes away."""
        stdin = self.stdin  # None once the process's input ended
        tty = self.attachment.tty
        data = self.early_input
        try:
            while True:
                if not data:
                    data = await self.reader.read(READ_CHUNK)
                    if not data:
                        break
                self.touch()
                if stdin is not None:
                    # Without a terminal the client ends its input with EOT, which the
                    # process does not see; a terminal gets every byte (Ctrl-D included).
                    end = -1 if tty else data.find(EOT)
                    try:
                        await stdin.write(data if end < 0 else data[:end])
                    except OSError:  # the process closed its input, or the terminal is gone
                        end = 0
                    if end >= 0:
                        if not tty:
                            stdin.close()
                        stdin = None
                data = b""
        except OSError:
            pass
        self.client_gone()

    async def _pump_output(self) -> None:
        assert self.output is not None
        while True:
            self.output_wait_since = self.loop.time()
            data = await self.output.read()
            self.output_wait_since = None
            if not data:
                break
            self.touch()
            # Once the client is gone, output is read and dropped, so that the process
            # never blocks on a full pipe while it handles SIGHUP.
            await self._send(data)

    async def _watch_idle(self) -> None:
        idle = self.server.idle_timeout
        while True:
            left = self.last_activity + idle - self.loop.time()
            if left <= 0:
                break
            await asyncio.sleep(left)
        log.info("rendezvous: connection idle for %ss, closing it", idle)
        self.client_gone()

    def _close_soon(self) -> None:
        self.connected = False
        with contextlib.suppress(Exception):
            self.writer.close()


class RendezvousServer:
    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        claim: Claim,
        *,
        idle_timeout: float = 3600.0,
        hangup_grace: float = 5.0,
        kill_grace: float = 10.0,
    ) -> None:
        self.ssl_context = ssl_context
        self.claim = claim
        self.idle_timeout = idle_timeout
        self.hangup_grace = hangup_grace
        self.kill_grace = kill_grace
        self._server: asyncio.Server | None = None
        # Every connection being handled, with its session once the secret was claimed.
        self._handlers: dict[asyncio.Task[None], _Session | None] = {}
        self._stopped = False

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._handle,
            host,
            port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
        )

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the rendezvous server is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Stop listening and end every session: its process group gets SIGTERM, then
        SIGKILL after `kill_grace`."""
        self._stopped = True
        if self._server is not None:
            self._server.close()
        for task, session in list(self._handlers.items()):
            if session is None:
                task.cancel()
            else:
                session.stopping.set()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = None
        # The task must not end cancelled or failed: asyncio would report it as unhandled.
        try:
            try:
                if not self._stopped:
                    await self._serve(task, reader, writer)
            except Exception:
                log.exception("rendezvous: session failed")
            finally:
                await _close(writer, STOP_CLOSE_LIMIT if self._stopped else CLOSE_LIMIT)
        except asyncio.CancelledError:
            if not writer.transport.is_closing():
                writer.transport.abort()
        finally:
            self._handlers.pop(task, None)

    async def _serve(
        self, task: asyncio.Task[None], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            got = await _read_secret(reader)
        except (OSError, TimeoutError):
            got = None
        if got is None:
            log.warning("rendezvous: no valid secret from %s", peer)
            return
        secret, early_input = got
        attachment = await self.claim(secret)
        if attachment is None:
            log.warning("rendezvous: unknown or expired secret from %s", peer)
            return
        session = _Session(self, attachment, reader, writer, early_input)
        self._handlers[task] = session
        if self._stopped:
            session.stopping.set()
        await session.run()


async def _read_secret(reader: asyncio.StreamReader) -> tuple[str, bytes] | None:
    """The secret line and whatever followed it, or None for no valid secret in time."""
    buf = b""
    async with asyncio.timeout(SECRET_TIMEOUT):
        while (end := buf.find(b"\n")) < 0 and len(buf) <= MAX_SECRET + 1:
            try:
                if buf:
                    chunk = await asyncio.wait_for(reader.read(READ_CHUNK), SECRET_PAUSE)
                else:
                    chunk = await reader.read(READ_CHUNK)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
    if end >= 0:
        line, rest = buf[:end], buf[end + 1 :]
    else:
        line, rest = buf, b""
    line = line.removesuffix(b"\r")
    if not SECRET_RE.fullmatch(line):
        return None
    return line.decode("ascii"), rest


async def _close(writer: asyncio.StreamWriter, limit: float) -> None:
    """TLS close_notify, then the TCP close; cut short when the peer does not play along."""
    with contextlib.suppress(Exception):
        writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), limit)
    except TimeoutError:
        writer.transport.abort()
    except Exception:
        pass
