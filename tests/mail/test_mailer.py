"""The Mailer never fails the request that mails: what goes wrong is logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenku.mail import Mailer, Outbox, SmtpTarget


async def test_an_outbox_that_cannot_be_written_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "mail").write_text("a file where the outbox should be")
    mailer = Mailer(Outbox(tmp_path / "mail", "example.com"), "tenku@example.com")
    sent = await mailer.send("dana@example.com", "Hello", "body")
    assert sent.delivery == "outbox"
    assert "not stored in the outbox" in caplog.text


async def test_a_message_no_server_would_take_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(
        Outbox(tmp_path / "mail", "example.com"),
        "tenku@example.com",
        SmtpTarget("127.0.0.1", 1),
    )
    sent = await mailer.send("dana@example.com", "Injected\nBcc: eve@example.com", "body")
    assert sent.delivery.startswith("failed: ")
    assert "not stored in the outbox" in caplog.text
    assert list((tmp_path / "mail").glob("*.eml")) == []
