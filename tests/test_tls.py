"""Tenku's CA and server certificate, checked by real TLS clients against a real listener."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from starlette.requests import Request

import tenku.tls
from tenku.cli import client_env, git_ca_key
from tenku.config import Settings
from tenku.serving import Listener, bind, listeners, make_servers
from tenku.storage.urls import base_url
from tenku.tls import TlsError, cert_hostnames, ensure_tls, server_ssl_context, tls_files
from tests.ports import free_port


def make_settings(data_dir: Path, **kw: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'never-opened.db'}",
        port=kw.pop("port", free_port()),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def san(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*names.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in names.get_values_for_type(x509.IPAddress)
    }


class Running:
    """Tenku's own listeners (HTTPS and plain HTTP) on 127.0.0.1, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.servers = make_servers(settings, bind(settings))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            await asyncio.gather(*(s.serve(sockets=[sock]) for s, sock in self.servers))

        asyncio.run(main())

    def __enter__(self) -> Running:
        self.thread.start()
        for _ in range(200):
            if all(s.started for s, _ in self.servers):
                return self
            threading.Event().wait(0.05)
        raise AssertionError("listeners did not start")

    def __exit__(self, *_: object) -> None:
        for server, _ in self.servers:
            server.should_exit = True
        self.thread.join(10)
        for _, sock in self.servers:
            sock.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    settings = make_settings(tmp_path, http_port=free_port())
    with Running(settings) as live:
        yield live


def get(port: int, hostname: str, ctx: ssl.SSLContext | None) -> bytes:
    """A raw HTTP/1.1 request to 127.0.0.1:port, over TLS as `hostname` when ctx is given."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        if ctx is None:
            return _exchange(raw, hostname)
        with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            return _exchange(tls, hostname)


def _exchange(sock: socket.socket, hostname: str) -> bytes:
    request = f"GET /account HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n"
    sock.sendall(request.encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_first_start_makes_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    files = ensure_tls(make_settings(tmp_path))
    for path in (files.ca_cert, files.ca_key, files.cert, files.key):
        assert path.is_file()
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert {"127.0.0.1", "::1", "localhost", "tenku.localhost", "*.tenku.localhost"} <= san(
        files.cert
    )
    # The context every listener uses loads the pair.
    assert isinstance(server_ssl_context(make_settings(tmp_path)), ssl.SSLContext)


def test_certificate_verifies_for_loopback_names_over_https(running: Running) -> None:
    ca = tls_files(running.settings.data_dir).ca_cert
    for hostname in ("127.0.0.1", "localhost"):
        answer = get(running.settings.port, hostname, trusting(ca))
        # The API answered (no Accept header: the versioning error, in JSON).
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"missing_version" in answer


def test_certificate_is_refused_without_the_ca_or_for_other_names(
    running: Running, tmp_path: Path
) -> None:
    ca = tls_files(running.settings.data_dir).ca_cert
    with pytest.raises(ssl.SSLCertVerificationError):
        get(running.settings.port, "example.com", trusting(ca))
    other = make_settings(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        get(running.settings.port, "127.0.0.1", trusting(ensure_tls(other).ca_cert))


def test_plain_http_listener_serves_the_same_api(running: Running) -> None:
    assert running.settings.http_port is not None
    answer = get(running.settings.http_port, "127.0.0.1", None)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"missing_version" in answer


def test_ca_is_stable_across_restarts_and_hostname_changes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tls_hostnames=("tenku.example.test", "10.1.2.3"))
    files = ensure_tls(settings)
    ca, ca_key, cert = (
        files.ca_cert.read_bytes(),
        files.ca_key.read_bytes(),
        files.cert.read_bytes(),
    )
    assert {"tenku.example.test", "10.1.2.3", "127.0.0.1"} <= san(files.cert)

    ensure_tls(settings)
    assert files.ca_cert.read_bytes() == ca
    assert files.cert.read_bytes() == cert, "unchanged names keep the certificate"

    # Names within what the CA was made for: a new certificate from the same CA.
    fewer = make_settings(tmp_path, tls_hostnames=("api.tenku.example.test",))
    ensure_tls(fewer)
    assert files.ca_cert.read_bytes() == ca
    assert files.ca_key.read_bytes() == ca_key
    assert files.cert.read_bytes() != cert
    assert "api.tenku.example.test" in san(files.cert)
    assert "10.1.2.3" not in san(files.cert)
    new = x509.load_pem_x509_certificate(files.cert.read_bytes())
    new.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))

    # A name the CA may not certify: refused with the way out, nothing replaced.
    before = files.cert.read_bytes()
    with pytest.raises(TlsError, match=r"other\.example.*remove"):
        ensure_tls(make_settings(tmp_path, tls_hostnames=("other.example",)))
    assert files.ca_cert.read_bytes() == ca
    assert files.cert.read_bytes() == before


def test_the_ca_cannot_vouch_for_other_sites(tmp_path: Path) -> None:
    """Even with the CA's key, a certificate for a name outside its constraints is refused
    by a client that trusts the CA (OpenSSL, as Python, Node and git use it)."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    files = ensure_tls(make_settings(tmp_path))
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)

    def certificate_for(name: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def handshake(name: str) -> None:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(*certificate_for(name))
        client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(10):
            for end, outgoing, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
                with contextlib.suppress(ssl.SSLWantReadError):
                    end.do_handshake()
                if outgoing.pending:
                    peer_in.write(outgoing.read())
            if client.version() and server.version():
                return
        raise AssertionError("no handshake")

    handshake("shop.tenku.localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree"):
        handshake("www.google.com")


def test_certificate_nearing_expiry_is_reissued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    files = ensure_tls(settings)
    cert = files.cert.read_bytes()
    monkeypatch.setattr(tenku.tls, "RENEW_BEFORE", timedelta(days=10000))
    ensure_tls(settings)
    assert files.cert.read_bytes() != cert


def test_a_lost_ca_key_is_never_replaced(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    files = ensure_tls(settings)
    ca = files.ca_cert.read_bytes()
    files.ca_key.unlink()
    files.cert.unlink()
    with pytest.raises(TlsError, match="never replaces"):
        ensure_tls(settings)
    assert files.ca_cert.read_bytes() == ca


def test_certificate_names(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        host="0.0.0.0",
        base_domain="apps.example.test",
        api_url="https://tenku.example.test:8443",
        tls_hostnames=("Build.Example.Test", "[fd00::1]", "192.168.1.5:5000"),
    )
    names = cert_hostnames(settings)
    assert names == sorted(
        {
            "127.0.0.1",
            "::1",
            "localhost",
            "apps.example.test",
            "*.apps.example.test",
            "tenku.example.test",
            "build.example.test",
            "fd00::1",
            "192.168.1.5",
        }
    )


def test_public_urls_and_listeners(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, port=5000, http_port=5080)
    assert settings.public_api_url == "https://127.0.0.1:5000"
    assert settings.http_api_url == "http://127.0.0.1:5080"
    assert settings.git_host == "127.0.0.1:5000"
    assert listeners(settings) == [Listener(5000, tls=True), Listener(5080, tls=False)]
    assert listeners(make_settings(tmp_path, port=5000)) == [Listener(5000, tls=True)]
    ipv6 = make_settings(tmp_path, host="::1", port=5000)
    assert ipv6.public_api_url == "https://[::1]:5000"
    behind_proxy = make_settings(tmp_path, api_url="https://tenku.example.test/")
    assert behind_proxy.public_api_url == "https://tenku.example.test"
    assert behind_proxy.git_host == "tenku.example.test"


def _request(scheme: str, port: int) -> Request:
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "server": ("127.0.0.1", port),
            "path": "/",
            "headers": [(b"host", f"127.0.0.1:{port}".encode())],
            "query_string": b"",
        }
    )


def test_blob_urls_follow_the_listener_a_request_came_in_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, port=5000, http_port=5080)
    assert base_url(settings) == "https://127.0.0.1:5000"
    assert base_url(settings, _request("https", 5000)) == "https://127.0.0.1:5000"
    assert base_url(settings, _request("http", 5080)) == "http://127.0.0.1:5080"


def test_printed_environment_names_the_ca_for_the_cli_and_git(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, port=5000, http_port=5080)
    ca = tls_files(tmp_path).ca_cert
    lines = client_env(settings).splitlines()
    assert "export HEROKU_HOST=https://127.0.0.1:5000" in lines
    assert f"export NODE_EXTRA_CA_CERTS={ca}" in lines
    assert git_ca_key(settings) == "http.https://127.0.0.1:5000/.sslCAInfo"
    assert "export HEROKU_BUILDPACK_REGISTRY_URL=https://127.0.0.1:5000" in lines


@pytest.mark.parametrize("memfd", [True, False], ids=["memory-file", "private-directory"])
def test_pem_contexts_serve_a_chain_and_key_given_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memfd: bool
) -> None:
    files = ensure_tls(make_settings(tmp_path))
    if not memfd:
        monkeypatch.delattr(tenku.tls.os, "memfd_create", raising=False)
        (tmp_path / "tmp").mkdir()
        monkeypatch.setattr(tenku.tls.tempfile, "tempdir", str(tmp_path / "tmp"))
    chain, key = files.cert.read_bytes(), files.key.read_bytes()
    server = tenku.tls.pem_ssl_context(chain, key)
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    ours, theirs = socket.socketpair()
    with ours, theirs:
        served = server.wrap_socket(ours, server_side=True, do_handshake_on_connect=False)
        asking = client.wrap_socket(
            theirs, server_hostname="localhost", do_handshake_on_connect=False
        )
        with served, asking:
            done = threading.Thread(target=served.do_handshake)
            done.start()
            asking.do_handshake()
            done.join()
            der = asking.getpeercert(binary_form=True)
        assert der == ssl.PEM_cert_to_DER_cert(chain.decode())
    with pytest.raises(ssl.SSLError):
        tenku.tls.pem_ssl_context(files.ca_cert.read_bytes(), key)
    if not memfd:
        # Nothing of the key is left behind.
        assert list((tmp_path / "tmp").iterdir()) == []
