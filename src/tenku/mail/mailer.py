"""The Mailer: every message goes to the outbox, and over SMTP when a server is configured."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

from tenku.config import Settings
from tenku.mail import smtp
from tenku.mail.outbox import Message, Outbox, new_id
from tenku.mail.smtp import SmtpTarget

log = logging.getLogger("tenku.mail")
# How long one SMTP conversation may take; a request that mails waits for it.
SMTP_TIMEOUT = 15.0


class DeliveryError(Exception):
    """A message the SMTP server did not take (the operator's `tenku mail resend`)."""


class Mailer:
    def __init__(
        self,
        outbox: Outbox,
        sender: str,
        target: SmtpTarget | None = None,
        timeout: float = SMTP_TIMEOUT,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.target = target
        self.timeout = timeout

    @classmethod
    def of(cls, settings: Settings) -> Mailer:
        """The installation's mailer; a malformed TENKU_SMTP_URL is a ValueError."""
        target = SmtpTarget.parse(settings.smtp_url) if settings.smtp_url else None
        sender = settings.mail_from or f"Tenku <tenku@{settings.base_domain}>"
        return cls(Outbox(settings.data_dir / "mail", settings.base_domain), sender, target)

    def compose(self, to: str, subject: str, body: str) -> Message:
        now = datetime.now(UTC)
        delivery = "sending" if self.target is not None else "outbox"
        date = now.replace(microsecond=0)
        return Message(new_id(now), date, self.sender, to, subject, body, delivery)

    async def send(self, to: str, subject: str, body: str) -> Message:
        """Store the message, then deliver it if a server is configured. Never raises: a
        request that mails has committed already, and what failed is logged (the message
        stays in the outbox, marked, for the operator to read or send again)."""
        message = self.compose(to, subject, body)
        try:
            await asyncio.to_thread(self.outbox.write, message)
        except Exception as exc:
            # A full disk, or a header no message may carry: the request stands regardless.
            log.error("mail %s to %s: not stored in the outbox: %s", message.id, to, exc)
        if self.target is None:
            log.info("mail %s to %s: in the outbox (no TENKU_SMTP_URL)", message.id, to)
            return message
        try:
            return await self.deliver(message)
        except DeliveryError as exc:
            log.error("mail %s to %s: %s", message.id, to, exc)
            return replace(message, delivery=f"failed: {exc}")

    async def deliver(self, message: Message) -> Message:
        """Send a stored message over SMTP and record the outcome in the outbox; raises
        DeliveryError if the server did not take it."""
        if self.target is None:
            raise DeliveryError("no SMTP server is configured (TENKU_SMTP_URL)")
        try:
            email = message.email(self.outbox.domain, for_smtp=True)
            await asyncio.to_thread(smtp.send, self.target, email, self.timeout)
        except Exception as exc:
            # Whatever the server or the network did: the caller logs it or shows it.
            reason = f"not sent to {self.target}: {exc or type(exc).__name__}"
            await self._mark(message, f"failed: {reason}")
            raise DeliveryError(reason) from exc
        log.info("mail %s to %s: sent to %s", message.id, message.to, self.target)
        return await self._mark(message, "sent")

    async def _mark(self, message: Message, delivery: str) -> Message:
        marked = replace(message, delivery=" ".join(delivery.split()))
        try:
            await asyncio.to_thread(self.outbox.write, marked)
        except Exception as exc:
            log.error("mail %s: outcome not recorded in the outbox: %s", message.id, exc)
        return marked
