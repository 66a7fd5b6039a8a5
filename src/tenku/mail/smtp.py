"""Delivery over SMTP (`TENKU_SMTP_URL`), with the standard library's client in a thread."""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class SmtpTarget:
    """`smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...` (TLS from the start)."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"TENKU_SMTP_URL must start with smtp:// or smtps://, not {url!r}")
        if not parts.hostname:
            raise ValueError("TENKU_SMTP_URL names no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise ValueError(f"TENKU_SMTP_URL has a bad port: {exc}") from exc
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise ValueError(f"TENKU_SMTP_URL: unknown option {key!r} (only starttls)")
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError("TENKU_SMTP_URL: starttls must be 1 or 0")
            starttls = value.lower() in _TRUE
        if starttls and scheme == "smtps":
            raise ValueError("TENKU_SMTP_URL: smtps:// is TLS already; starttls is for smtp://")
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=scheme == "smtps",
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        """Where mail goes, for logs and messages: never the password."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{user}{self.host}:{self.port}{tls}"


def send(target: SmtpTarget, message: EmailMessage, timeout: float) -> None:
    """Hand `message` to the server (blocking: run it in a thread). Raises what went wrong:
    OSError for the connection, smtplib.SMTPException for the server's refusals."""
    context = ssl.create_default_context()
    # The machine's name without a DNS lookup (smtplib's default asks DNS for its FQDN).
    helo = socket.gethostname() or "localhost"
    client: smtplib.SMTP
    if target.implicit_tls:
        client = smtplib.SMTP_SSL(
            target.host, target.port, local_hostname=helo, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(target.host, target.port, local_hostname=helo, timeout=timeout)
    with client:
        if target.starttls:
            client.starttls(context=context)
        if target.username is not None:
            client.login(target.username, target.password or "")
        client.send_message(message)
