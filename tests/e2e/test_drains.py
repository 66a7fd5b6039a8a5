"""`heroku drains:add` through the real CLI, delivering to a syslog receiver and an HTTPS
endpoint started here (the HTTPS one serves a certificate of Tenku's own authority, which
Tenku's drains trust).
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tenku.config import Settings
from tenku.tls import server_ssl_context
from tests.e2e.conftest import Heroku, LiveServer, json_of

pytestmark = pytest.mark.e2e

WAIT = 90.0


class Received:
    def __init__(self) -> None:
        self.data = b""
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def text(self) -> str:
        with self.lock:
            return self.data.decode(errors="replace")


@pytest.fixture
def syslog_receiver() -> Iterator[tuple[int, Received]]:
    received = Received()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while chunk := self.request.recv(65536):
                received.add(chunk)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def https_receiver(server: LiveServer) -> Iterator[tuple[int, Received, list[dict[str, str]]]]:
    received = Received()
    headers: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.add(self.rfile.read(length))
            headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    settings = Settings(data_dir=Path(server.data_dir), database_url="sqlite://", port=0)
    context: ssl.SSLContext = server_ssl_context(settings)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], received, headers
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_drains_add_delivers_to_syslog_and_https(
    heroku: Heroku,
    app: str,
    api: httpx.Client,
    syslog_receiver: tuple[int, Received],
    https_receiver: tuple[int, Received, list[dict[str, str]]],
) -> None:
    syslog_port, syslog = syslog_receiver
    https_port, posted, headers = https_receiver
    _, out, err = heroku("drains:add", f"syslog://127.0.0.1:{syslog_port}", "-a", app)
    assert f"Successfully added drain syslog://127.0.0.1:{syslog_port}" in out + err
    https_url = f"https://127.0.0.1:{https_port}/drain"
    _, out, err = heroku("drains:add", https_url, "-a", app)
    assert f"Successfully added drain {https_url}" in out + err
    _, out, _ = heroku("drains", "-a", app)
    assert f"syslog://127.0.0.1:{syslog_port}" in out
    assert https_url in out

    r = api.patch(f"/apps/{app}/config-vars", json={"DRAINED": "yes"})
    assert r.status_code == 200, r.text
    needle = "Set DRAINED config vars by owner@example.com"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not (needle in syslog.text() and needle in posted.text()):
        time.sleep(0.5)
    assert needle in syslog.text(), syslog.text()
    assert needle in posted.text(), posted.text()
    tokens = {d["url"]: d["token"] for d in json_of(api.get(f"/apps/{app}/log-drains"))}
    # RFC 5424 with octet counting, the drain's token as the host name, as logplex sends.
    assert f" {tokens[f'syslog://127.0.0.1:{syslog_port}']} heroku api - " in syslog.text()
    assert headers[0]["content-type"] == "application/logplex-1"
    assert headers[0]["logplex-drain-token"] == tokens[https_url]

    heroku("drains:remove", https_url, "-a", app)
    assert https_url not in heroku("drains", "-a", app)[1]
