"""The router's HTTPS listener picks each app's own certificate by SNI, with real TLS clients
checking what is presented for each name; everything else gets Tenku's certificate."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenku.config import Settings
from tenku.router import Router
from tenku.tls import client_ssl_context, pem_ssl_context, server_ssl_context, tls_files
from tests.certificates import Issued, make_ca, make_leaf
from tests.router.standins import WAIT, Dyno, Log, Routes


class Certificates:
    """A certificate table over a dict, as the runtime's is over the database's rows."""

    def __init__(self) -> None:
        self.hosts: dict[str, ssl.SSLContext] = {}
        self.pem: dict[str, tuple[bytes, bytes]] = {}
        self.asked: list[str] = []
        self.broken = False
        self.watchers: list[Callable[[], None]] = []

    def pems(self) -> dict[str, tuple[bytes, bytes]]:
        return self.pem

    def watch(self, changed: Callable[[], None]) -> None:
        self.watchers.append(changed)

    def certificate(self, host: str) -> ssl.SSLContext | None:
        self.asked.append(host)
        if self.broken:
            raise RuntimeError("the table is broken")
        return self.hosts.get(host)

    def serve(self, issued: Issued, *chain: Issued, hosts: tuple[str, ...]) -> None:
        pem = (issued.chain(*chain).encode(), issued.key_pem.encode())
        context = pem_ssl_context(*pem)
        for host in hosts:
            self.hosts[host] = context
            self.pem[host] = pem
        for changed in self.watchers:
            changed()


@pytest.fixture
def tls_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture
def certificates() -> Certificates:
    return Certificates()


@pytest.fixture
async def router(
    tls_settings: Settings, certificates: Certificates
) -> AsyncIterator[tuple[Router, Routes]]:
    routes = Routes()
    router = Router(routes, Log(), certificates=certificates)
    await router.start("127.0.0.1", None, 0, server_ssl_context(tls_settings))
    yield router, routes
    await router.stop()


@pytest.fixture
async def dyno() -> AsyncIterator[Dyno]:
    dyno = Dyno("web.1", None)
    await dyno.start()
    yield dyno
    await dyno.stop()


def trusting(ca: Issued) -> ssl.SSLContext:
    """A client that trusts only `ca` and checks the name it asked for."""
    return ssl.create_default_context(cadata=ca.pem)


def anything() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def presented(port: int, name: str | None, context: ssl.SSLContext) -> bytes:
    """The certificate the router presents to a client asking for `name` (no SNI: None).

    The handshake fails (ssl.SSLCertVerificationError) when `context` does not accept it
    for `name`."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=name if name is not None else ""
        ),
        WAIT,
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert isinstance(der, bytes)
        return der
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def tenku_der(settings: Settings) -> bytes:
    return ssl.PEM_cert_to_DER_cert(tls_files(settings.data_dir).cert.read_text())


async def test_each_name_gets_its_own_certificate(
    router: tuple[Router, Routes], certificates: Certificates, ca: Issued
) -> None:
    server, _ = router
    www = make_leaf(ca, "www.example.com")
    shop = make_leaf(ca, "shop.example.org", "*.shop.example.org")
    certificates.serve(www, ca, hosts=("www.example.com",))
    certificates.serve(shop, ca, hosts=("shop.example.org", "eu.shop.example.org"))
    port = server.https_port
    assert port is not None

    assert await presented(port, "www.example.com", trusting(ca)) == www.der
    assert await presented(port, "shop.example.org", trusting(ca)) == shop.der
    assert await presented(port, "EU.Shop.Example.ORG", trusting(ca)) == shop.der
    # The client's own check agrees: www's certificate is not valid for the other names.
    with pytest.raises(ssl.SSLCertVerificationError):
        await presented(port, "www.example.com", trusting(make_ca("Another CA")))
    assert certificates.asked[:3] == ["www.example.com", "shop.example.org", "eu.shop.example.org"]


async def test_default_hosts_and_unknown_names_get_tenkus_certificate(
    router: tuple[Router, Routes],
    certificates: Certificates,
    ca: Issued,
    tls_settings: Settings,
) -> None:
    server, _ = router
    certificates.serve(make_leaf(ca, "www.example.com"), ca, hosts=("www.example.com",))
    port = server.https_port
    assert port is not None
    tenku = tenku_der(tls_settings)
    # An app's default host: Tenku's certificate, which Tenku's CA vouches for.
    assert await presented(port, "app.tenku.localhost", client_ssl_context(tls_settings)) == tenku
    assert await presented(port, "unknown.example.net", anything()) == tenku
    assert await presented(port, None, anything()) == tenku
    # A client asking for a name Tenku's certificate does not cover refuses it.
    with pytest.raises(ssl.SSLCertVerificationError):
        await presented(port, "unknown.example.net", client_ssl_context(tls_settings))


async def test_a_failing_table_falls_back_to_tenkus_certificate(
    router: tuple[Router, Routes],
    certificates: Certificates,
    ca: Issued,
    tls_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, _ = router
    certificates.serve(make_leaf(ca, "www.example.com"), ca, hosts=("www.example.com",))
    certificates.broken = True
    assert server.https_port is not None
    assert await presented(server.https_port, "www.example.com", anything()) == tenku_der(
        tls_settings
    )
    assert "certificate lookup for 'www.example.com' failed" in caplog.text


async def test_requests_over_an_apps_certificate_reach_its_dynos(
    router: tuple[Router, Routes], certificates: Certificates, ca: Issued, dyno: Dyno
) -> None:
    server, routes = router
    target = routes.add("app", [dyno])
    routes.targets["www.example.com"] = target
    certificates.serve(make_leaf(ca, "www.example.com"), ca, hosts=("www.example.com",))
    async with httpx.AsyncClient(verify=trusting(ca), trust_env=False, timeout=WAIT) as http:
        r = await http.get(
            f"https://127.0.0.1:{server.https_port}/hello",
            headers={"Host": "www.example.com"},
            extensions={"sni_hostname": "www.example.com"},
        )
    assert r.status_code == 200
    seen: dict[str, Any] = r.json()
    assert seen["path"] == "/hello"
    assert seen["headers"]["x-forwarded-proto"] == "https"


async def test_without_a_table_every_name_gets_tenkus_certificate(tls_settings: Settings) -> None:
    context = server_ssl_context(tls_settings)
    server = Router(Routes(), Log())
    await server.start("127.0.0.1", None, 0, context)
    try:
        assert context.sni_callback is None
        assert server.https_port is not None
        der = await presented(server.https_port, "www.example.com", anything())
    finally:
        await server.stop()
    assert der == tenku_der(tls_settings)
