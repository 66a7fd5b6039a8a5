"""Mail Tenku sends to its users (password resets), through one `send(to, subject, body)`.

A stand-in for the Mailer: by default each message is one file, readable by Tenku alone,
in `<data_dir>/mail/`. The application context holds the `send` in use (`AppContext.mail`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tenku.privacy import write_private

Send = Callable[[str, str, str], Awaitable[None]]


def outbox(directory: Path, sender: str) -> Send:
    """A `send` that writes each message (RFC 5322) to `directory`."""

    async def send(to: str, subject: str, body: str) -> None:
        now = datetime.now(UTC)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(now)
        message.set_content(body)
        name = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        write_private(directory / name, bytes(message))

    return send
