"""Log drains receive the app's stream: syslog over TCP and TLS, and HTTP posts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import DrainCursor, LogDrain
from tenku.logs import store
from tenku.logs.drains import DrainForwarder, ca_file
from tests.conftest import ApiClient, User
from tests.ports import free_port

# The runtime's own SQL (claims, sweeps, cursors) runs on PostgreSQL here; the rest of the
# live tests run on SQLite.
pytestmark = pytest.mark.backend("postgresql")

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"
TOKEN = r"d\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
SYSLOG = re.compile(rf"^<(\d+)>1 {STAMP} ({TOKEN}) (\w+) ([\w.]+) - - (.*)\n$", re.S)
HTTP = re.compile(rf"^<(\d+)>1 {STAMP} host (\w+) ([\w.]+) - (.*)$", re.S)
SET_FOO = "Set FOO config vars by alice@example.com"
SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


def unframe(data: bytes, *, partial: bool = False) -> list[bytes]:
    """Split RFC 6587 octet-counted frames, failing on anything malformed; with `partial`,
    a last frame still on its way is left out."""
    frames = []
    while data:
        length, sep, rest = data.partition(b" ")
        if partial and (not sep or (length.isdigit() and len(rest) < int(length))):
            break
        assert sep, data[:40]
        assert length.isdigit(), data[:40]
        n = int(length)
        assert len(rest) >= n, "truncated frame"
        frames.append(rest[:n])
        data = rest[n:]
    return frames


async def until(arrived: asyncio.Event, check: Callable[[], bool], limit: float = 20.0) -> None:
    """Wait (the limit only guards against a hang) until received data satisfies `check`."""
    async with asyncio.timeout(limit):
        while not check():
            await arrived.wait()
            arrived.clear()


class Syslog:
    """A loopback syslog receiver; `frames` holds every complete frame received."""

    def __init__(self) -> None:
        # What each connection sent, in the order the connections were opened.
        self.data: list[bytearray] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.arrived = asyncio.Event()

    @property
    def frames(self) -> list[str]:
        out: list[str] = []
        for received in self.data:
            out.extend(f.decode() for f in unframe(bytes(received), partial=True))
        return out

    def messages(self) -> list[str]:
        found = []
        for f in self.frames:
            m = SYSLOG.match(f)
            assert m, f
            found.append(m.group(5))
        return found

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = bytearray()
        self.data.append(received)
        while chunk := await reader.read(1 << 16):
            received += chunk
            self.arrived.set()
        writer.close()

    async def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> Syslog:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port, ssl=tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@asynccontextmanager
async def syslog(port: int = 0, tls: ssl.SSLContext | None = None) -> AsyncIterator[Syslog]:
    receiver = await Syslog().start(port, tls)
    try:
        yield receiver
    finally:
        await receiver.close()


class HttpReceiver:
    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *header_lines = head.strip().split("\r\n")
        headers = {}
        for h in header_lines:
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((request_line, headers, body))
        self.arrived.set()
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


def make_tls(data_dir: Path) -> ssl.SSLContext:
    """A server context with a certificate from a fresh CA that is written to Tenku's CA file."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drain test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = ca_file(Settings(data_dir=data_dir, database_url="sqlite://", port=0))
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path = data_dir / "drain-cert.pem"
    key_path = data_dir / "drain-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


async def add_drain(user: User, app: dict[str, object], url: str) -> str:
    r = await user.post(f"/apps/{app['name']}/log-drains", json={"url": url})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def set_foo(user: User, app: dict[str, object], value: str = "1") -> None:
    r = await user.patch(f"/apps/{app['name']}/config-vars", json={"FOO": value})
    assert r.status_code == 200, r.text


async def cursor(api: ApiClient, token: str) -> DrainCursor:
    async with api.database.session(write=False) as db:
        found = (
            await db.execute(
                select(DrainCursor)
                .join(LogDrain, LogDrain.id == DrainCursor.drain_id)
                .where(LogDrain.token == token)
            )
        ).scalar_one()
        return found


async def write_lines(api: ApiClient, app_id: uuid.UUID, messages: list[str]) -> None:
    """App output in one write, as the runtime's log writer stores it."""
    async with api.database.session(write=True) as db:
        now = dt.datetime.now(dt.UTC)
        await store.append_many(db, app_id, [("app", "web.1", m, now) for m in messages])
        await db.commit()


async def deliver_once(settings: Settings, api: ApiClient) -> None:
    """One delivery pass of a fresh forwarder, as the runtime would run it."""
    forwarder = DrainForwarder(settings, api.database)
    try:
        await forwarder.run_once()
    finally:
        await forwarder.stop()


async def test_syslog_drain_receives_framed_rfc5424_lines(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    app = await alice.create_app()
    async with syslog() as receiver:
        token = await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
        await set_foo(alice, app)
        await deliver_once(settings, api)
        await until(receiver.arrived, lambda: len(receiver.frames) >= 2)
        frames = receiver.frames
    # The stream from the moment the drain was added: no "Initial release" backfill.
    assert [SYSLOG.match(f).group(5) for f in frames] == [  # type: ignore[union-attr]
        SET_FOO,
        "Release v2 created by alice@example.com",
    ]
    m = SYSLOG.match(frames[0])
    assert m is not None
    assert m.groups() == ("45", token, "heroku", "api", SET_FOO)
    raw = b"".join(receiver.data)
    first = frames[0].encode()
    assert raw.startswith(str(len(first)).encode() + b" <45>1 ")


async def test_tls_syslog_drain_trusts_tenku_ca(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    tls = make_tls(settings.data_dir)
    app = await alice.create_app()
    async with syslog(tls=tls) as receiver:
        token = await add_drain(alice, app, f"syslog+tls://127.0.0.1:{receiver.port}")
        await set_foo(alice, app)
        await deliver_once(settings, api)
        await until(receiver.arrived, lambda: len(receiver.frames) >= 2)
        m = SYSLOG.match(receiver.frames[0])
        assert m is not None
        assert m.groups() == ("45", token, "heroku", "api", SET_FOO)


async def test_tls_drain_with_untrusted_certificate_is_not_delivered(
    alice: User, api: ApiClient, settings: Settings, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    tls = make_tls(other)
    app = await alice.create_app()
    async with syslog(tls=tls) as receiver:
        token = await add_drain(alice, app, f"syslog+tls://127.0.0.1:{receiver.port}")
        await set_foo(alice, app)
        await deliver_once(settings, api)
        assert receiver.frames == []
    # Not delivered, so the position stays where the drain started.
    assert (await cursor(api, token)).dropped == 0


async def test_http_drain_receives_logplex_batches(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    receiver = HttpReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        app = await alice.create_app()
        token = await add_drain(alice, app, f"http://user:secret@127.0.0.1:{port}/logs?x=1")
        await set_foo(alice, app)
        await deliver_once(settings, api)
    finally:
        server.close()
        await server.wait_closed()
    assert len(receiver.requests) == 1
    request_line, headers, body = receiver.requests[0]
    assert request_line == "POST /logs?x=1 HTTP/1.1"
    assert headers["content-type"] == "application/logplex-1"
    assert headers["logplex-drain-token"] == token
    assert headers["logplex-msg-count"] == "2"
    assert re.fullmatch(r"[0-9A-F]{32}", headers["logplex-frame-id"])
    assert headers["authorization"].startswith("Basic ")
    frames = [f.decode() for f in unframe(body)]
    parsed = [HTTP.match(f) for f in frames]
    assert all(parsed), frames
    assert [m.groups() for m in parsed if m] == [
        ("45", "heroku", "api", SET_FOO),
        ("45", "heroku", "api", "Release v2 created by alice@example.com"),
    ]


async def test_refused_http_batch_is_dropped_and_counted(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    receiver = HttpReceiver(status=403)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        app = await alice.create_app()
        token = await add_drain(alice, app, f"http://127.0.0.1:{port}/")
        await set_foo(alice, app)
        forwarder = DrainForwarder(settings, api.database)
        try:
            await forwarder.run_once()
            await forwarder.run_once(ignore_backoff=True)
        finally:
            await forwarder.stop()
    finally:
        server.close()
        await server.wait_closed()
    # A 4xx is final: the batch is not sent again.
    assert len(receiver.requests) == 1
    assert (await cursor(api, token)).dropped == 2


async def test_dead_drain_does_not_block_live_one_and_is_retried(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    app = await alice.create_app()
    dead_port = free_port()
    async with syslog() as live:
        await add_drain(alice, app, f"syslog://127.0.0.1:{dead_port}")
        await add_drain(alice, app, f"syslog://127.0.0.1:{live.port}")
        await set_foo(alice, app)
        forwarder = DrainForwarder(settings, api.database)
        try:
            await forwarder.run_once()
            await until(live.arrived, lambda: len(live.frames) >= 2)
            assert live.messages() == [SET_FOO, "Release v2 created by alice@example.com"]
            # Backing off: the next regular pass leaves the dead drain alone.
            await forwarder.run_once()
            async with syslog(dead_port) as revived:
                await forwarder.run_once(ignore_backoff=True)
                await until(revived.arrived, lambda: len(revived.frames) >= 2)
                assert revived.messages() == live.messages()
        finally:
            await forwarder.stop()
        assert len(live.frames) == 2


async def test_positions_survive_a_restart(alice: User, api: ApiClient, settings: Settings) -> None:
    app = await alice.create_app()
    async with syslog() as receiver:
        token = await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
        await set_foo(alice, app, "1")
        first = DrainForwarder(settings, api.database, page=1)
        try:
            await first.run_once()
        finally:
            await first.stop()
        await set_foo(alice, app, "2")
        await set_foo(alice, app, "3")
        second = DrainForwarder(settings, api.database, page=1)
        try:
            for _ in range(10):
                await second.run_once()
        finally:
            await second.stop()
        await until(receiver.arrived, lambda: len(receiver.frames) >= 6)
        assert receiver.messages() == [
            SET_FOO,
            "Release v2 created by alice@example.com",
            SET_FOO,
            "Release v3 created by alice@example.com",
            SET_FOO,
            "Release v4 created by alice@example.com",
        ]
    assert (await cursor(api, token)).dropped == 0


async def test_a_drain_far_behind_is_told_exactly_what_it_missed(
    alice: User, api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEEP", 50)
    app = await alice.create_app()
    app_id = uuid.UUID(str(app["id"]))
    async with syslog() as receiver:
        token = await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
        await set_foo(alice, app)
        forwarder = DrainForwarder(settings, api.database)
        try:
            await forwarder.run_once()
            await until(receiver.arrived, lambda: len(receiver.frames) >= 2)
            # 120 lines while the drain is away: the stream keeps the last 50.
            await write_lines(api, app_id, [f"line {i}" for i in range(120)])
            await forwarder.run_once()
        finally:
            await forwarder.stop()
        await until(receiver.arrived, lambda: len(receiver.frames) >= 2 + 1 + 50)
        frames = receiver.frames[2:]
    m = SYSLOG.match(frames[0])
    assert m is not None
    assert m.group(1) == "172"
    assert (m.group(3), m.group(4)) == ("heroku", "logplex")
    assert re.fullmatch(
        rf"Error L10 \(output buffer overflow\): 70 messages dropped since {SECONDS}\.",
        m.group(5),
    )
    assert [SYSLOG.match(f).group(5) for f in frames[1:]] == [  # type: ignore[union-attr]
        f"line {i}" for i in range(70, 120)
    ]
    found = await cursor(api, token)
    assert (found.skips, found.dropped, found.lost) == (1, 70, 0)


async def test_a_syslog_drain_keeps_its_connection_between_deliveries(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    """A new connection beside one still sending would let lines overtake each other."""
    app = await alice.create_app()
    async with syslog() as receiver:
        await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
        forwarder = DrainForwarder(settings, api.database)
        try:
            await set_foo(alice, app, "1")
            await forwarder.run_once()
            await set_foo(alice, app, "2")
            await forwarder.run_once()
            await until(receiver.arrived, lambda: len(receiver.frames) >= 4)
            assert len(receiver.data) == 1
        finally:
            await forwarder.stop()
