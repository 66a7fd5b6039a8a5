"""Text messages to users' phones (SMS number confirmations, recovery codes).

Pluggable: by default each message is one file, readable by Tenku alone, in
`<data_dir>/sms/` (the operator reads them with `tenku sms list` and passes them on); with
TENKU_SMS_WEBHOOK_URL set, each is POSTed there as `{"to", "body"}` for a gateway to send.
The webhook is the operator's own, so it is reached wherever it is (no egress policy).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from tenku.config import Settings
from tenku.privacy import write_private

WEBHOOK_TIMEOUT = 10.0


class SmsError(Exception):
    """The message could not be handed on."""


class SmsSender(Protocol):
    async def send(self, to: str, body: str) -> None: ...


@dataclass(frozen=True)
class Outbox:
    directory: Path

    async def send(self, to: str, body: str) -> None:
        now = datetime.now(UTC)
        message = {"to": to, "body": body, "created_at": now.isoformat()}
        name = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
        write_private(self.directory / name, json.dumps(message).encode())

    def messages(self) -> list[dict[str, Any]]:
        """What was sent, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return found


@dataclass(frozen=True)
class Webhook:
    url: str

    async def send(self, to: str, body: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, trust_env=False) as client:
                answer = await client.post(self.url, json={"to": to, "body": body})
        except httpx.HTTPError as exc:
            raise SmsError(f"the SMS webhook could not be reached: {type(exc).__name__}") from exc
        if not answer.is_success:
            raise SmsError(f"the SMS webhook answered {answer.status_code}")


def outbox(settings: Settings) -> Outbox:
    return Outbox(settings.data_dir / "sms")


def sender(settings: Settings) -> SmsSender:
    if settings.sms_webhook_url:
        return Webhook(settings.sms_webhook_url)
    return outbox(settings)
