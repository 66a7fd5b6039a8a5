"""The outbox: every message Tenku sends, one RFC 5322 file each in `<data_dir>/mail/`.

A message is written before any attempt to deliver it, so the operator can read it (`tenku
mail show`) and send it again (`tenku mail resend`) whatever SMTP did. The files hold
invitation tokens, which are credentials: the directory is 0700 and each file 0600.
`X-Tenku-Delivery` records what became of the message: `outbox` (no SMTP server is
configured), `sending`, `sent` or `failed: <why>`; it is never sent over SMTP.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from tenku.privacy import private_dir

DELIVERY = "X-Tenku-Delivery"
SUFFIX = ".eml"
# What one file may be called: the ids this module makes, nothing else (`tenku mail show ID`
# takes an id from the operator, which must never name a path outside the outbox).
_ID_CHARS = frozenset("0123456789abcdefTZ-")


@dataclass(frozen=True)
class Message:
    id: str
    date: datetime
    sender: str
    to: str
    subject: str
    body: str
    delivery: str = "outbox"

    def email(self, domain: str, *, for_smtp: bool = False) -> EmailMessage:
        """The message as it is stored, or as it is sent: without `X-Tenku-Delivery`, and in
        7-bit text, which every server takes (a stored file keeps UTF-8 readable as it is)."""
        msg = EmailMessage(policy=policy.default)
        msg["Message-ID"] = f"<{self.id}@{domain}>"
        msg["Date"] = format_datetime(self.date)
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        if for_smtp:
            msg.set_content(self.body, cte=None if self.body.isascii() else "quoted-printable")
        else:
            msg[DELIVERY] = self.delivery
            msg.set_content(self.body)
        return msg

    def text(self) -> str:
        """The whole message for a person to read (`tenku mail show`)."""
        return (
            f"Id: {self.id}\n"
            f"Date: {format_datetime(self.date)}\n"
            f"From: {self.sender}\n"
            f"To: {self.to}\n"
            f"Subject: {self.subject}\n"
            f"Delivery: {self.delivery}\n\n"
            f"{self.body}"
        )


def new_id(now: datetime) -> str:
    """Sortable by time (to the microsecond): the outbox lists in order of its file names."""
    return f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def valid_id(message_id: str) -> bool:
    return bool(message_id) and set(message_id) <= _ID_CHARS and len(message_id) <= 64


class Outbox:
    def __init__(self, directory: Path, domain: str) -> None:
        self.directory = directory
        self.domain = domain

    def path(self, message_id: str) -> Path:
        return self.directory / f"{message_id}{SUFFIX}"

    def write(self, message: Message) -> Path:
        """Store the message whole (written aside, then renamed into place)."""
        private_dir(self.directory)
        data = message.email(self.domain).as_bytes(policy=policy.default.clone(linesep="\n"))
        final = self.path(message.id)
        temp = self.directory / f".{message.id}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return final

    def read(self, message_id: str) -> Message | None:
        if not valid_id(message_id):
            return None
        try:
            raw = self.path(message_id).read_bytes()
        except FileNotFoundError:
            return None
        return parse(message_id, raw)

    def messages(self) -> Iterator[Message]:
        """Every stored message, oldest first."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            message_id = path.name[: -len(SUFFIX)]
            if not valid_id(message_id):
                continue
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            yield parse(message_id, raw)


def parse(message_id: str, raw: bytes) -> Message:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    date_header = msg["Date"]
    date = parsedate_to_datetime(str(date_header)) if date_header else datetime.now(UTC)
    return Message(
        id=message_id,
        date=date,
        sender=_header(msg, "From"),
        to=_header(msg, "To"),
        subject=_header(msg, "Subject"),
        body=body,
        delivery=_header(msg, DELIVERY),
    )


def _header(msg: EmailMessage, name: str) -> str:
    # A long value comes back from its folded lines with the fold's leading space.
    return " ".join(str(msg[name] or "").split())
