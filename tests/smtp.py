"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), and the outbox as a person reads it."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from tenku.cli import main
from tenku.config import Settings
from tenku.tls import server_ssl_context, tls_files
from tests.ports import free_port

TOKEN = re.compile(r"^Your invitation token: (\S+)", re.MULTILINE)


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        content: str = part.get_content()
        return content


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, credentials: str = "", scheme: str = "smtp", query: str = "") -> str:
        return f"{scheme}://{credentials}{self.host}:{self.port}{query}"

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.server.lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)
            )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, server: SmtpServer, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password

    def __call__(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.server.lock:
            self.server.logins.append((login, password))
        return AuthResult(success=login == self.user and password == self.password)


@contextmanager
def smtp_server(
    login: tuple[str, str] | None = None,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 that keeps what it is sent. With `login` it takes logins
    (recorded) only over TLS: after STARTTLS with the `starttls` context (then required),
    and mail only once logged in; or over TLS from the start (`implicit_tls`), where
    aiosmtpd cannot tell the session is TLS, so it offers AUTH without requiring it."""
    server = SmtpServer("127.0.0.1", free_port())
    options: dict[str, Any] = {}
    if login is not None:
        options.update(authenticator=_Authenticator(server, *login))
        if implicit_tls is None:
            options.update(auth_required=True)
        else:
            options.update(auth_require_tls=False)
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    controller = Controller(
        _Handler(server),
        hostname=server.host,
        port=server.port,
        ssl_context=implicit_tls,
        # Time to come up on a busy machine (aiosmtpd's default is 5 s).
        ready_timeout=30.0,
        **options,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def tenku(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """A `tenku` command as the operator runs it; its stdout."""
    result = CliRunner().invoke(
        main, [*args, "--data-dir", str(data_dir)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def outbox(data_dir: Path) -> list[list[str]]:
    """`tenku mail list`: id, date, to, subject, delivery of each message."""
    return [line.split("\t") for line in tenku(data_dir, "mail", "list").splitlines()]


def token_in(text: str) -> str:
    found = TOKEN.search(text)
    assert found is not None, text
    return found.group(1)


def mailed_token(data_dir: Path, to: str) -> str:
    """The token of the last invitation mailed to `to`, read with `tenku mail show`."""
    ids = [row[0] for row in outbox(data_dir) if row[2] == to]
    assert ids, f"no mail to {to}"
    return token_in(tenku(data_dir, "mail", "show", ids[-1]))


# Fixtures, for the conftest.py of the tests that mail (a module that wants the API to use
# the server overrides `settings` with `smtp_url`).


@pytest.fixture
def smtp_login() -> tuple[str, str] | None:
    return None


@pytest.fixture
def smtp_tls() -> str | None:
    """None, "starttls" or "smtps"."""
    return None


@pytest.fixture
def smtp(
    smtp_login: tuple[str, str] | None,
    smtp_tls: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SmtpServer]:
    tls = None
    if smtp_tls is not None:
        # A certificate for 127.0.0.1 from a CA of its own, which the mailer's client
        # (the system's trust, as for any SMTP server) is made to trust.
        made = Settings(data_dir=tmp_path_factory.mktemp("smtp-tls"), database_url="sqlite://")
        tls = server_ssl_context(made)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_files(made.data_dir).ca_cert))
    with smtp_server(
        login=smtp_login,
        starttls=tls if smtp_tls == "starttls" else None,
        implicit_tls=tls if smtp_tls == "smtps" else None,
    ) as server:
        yield server


@pytest.fixture
def smtp_url(smtp: SmtpServer, smtp_login: tuple[str, str] | None, smtp_tls: str | None) -> str:
    credentials = ""
    if smtp_login is not None:
        user, password = (quote(part, safe="") for part in smtp_login)
        credentials = f"{user}:{password}@"
    if smtp_tls == "smtps":
        return smtp.url(credentials, scheme="smtps")
    return smtp.url(credentials, query="?starttls=1" if smtp_tls == "starttls" else "")
