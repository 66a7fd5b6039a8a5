"""Invitations delivered by SMTP (TENKU_SMTP_URL) to a real server on loopback."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tenku.config import Settings
from tests.conftest import ApiClient, User
from tests.resources.invitation.test_invitation import finalize, login
from tests.smtp import SmtpServer, outbox, smtp_server, tenku, token_in

DANA = "dana@example.com"
# Nothing listens on a privileged port of loopback here: the connection is refused.
CLOSED = "smtp://127.0.0.1:1"


@pytest.fixture
def settings(settings: Settings, smtp_url: str) -> Settings:
    """The API sends mail through `smtp_url` (tests/smtp.py: the `smtp` server)."""
    return replace(settings, smtp_url=smtp_url)


async def test_the_invitation_is_sent_and_kept(
    api: ApiClient, alice: User, smtp: SmtpServer, settings: Settings
) -> None:
    r = await alice.post("/invitations", json={"email": DANA, "name": "Dana Émile"})
    assert r.status_code == 200, r.text
    # Sent before the answer: the request waited for the server.
    [got] = smtp.messages()
    assert got.recipients == [DANA]
    assert got.sender == "tenku@tenku.localhost"
    assert got.message["To"] == DANA
    assert got.message["Subject"] == "You're invited to Tenku"
    assert got.message["X-Tenku-Delivery"] is None
    token = token_in(got.body)
    assert f"PATCH /invitations/{token}" in got.body

    [(message_id, _, to, _, delivery)] = outbox(settings.data_dir)
    assert (to, delivery) == (DANA, "sent")
    assert token in tenku(settings.data_dir, "mail", "show", message_id)

    assert (await finalize(api, token, "from the mail")).status_code == 200
    assert await login(api, DANA, "from the mail")


@pytest.mark.parametrize("smtp_tls", ["starttls", "smtps"])
@pytest.mark.parametrize("smtp_login", [("mailer", "p@ss word:/")])
async def test_credentials_in_the_url_log_in_over_tls(
    alice: User, smtp: SmtpServer, smtp_url: str, smtp_tls: str, settings: Settings
) -> None:
    assert "p%40ss%20word%3A%2F" in smtp_url
    assert smtp_url.startswith("smtps://" if smtp_tls == "smtps" else "smtp://")
    assert (await alice.post("/invitations", json={"email": DANA})).status_code == 200
    assert smtp.logins == [("mailer", "p@ss word:/")]
    [got] = smtp.messages()
    assert got.recipients == [DANA]
    assert outbox(settings.data_dir)[0][4] == "sent"


@pytest.mark.parametrize("smtp_url", [CLOSED])
async def test_a_failed_send_fails_nothing_and_the_operator_resends(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    r = await alice.post("/invitations", json={"email": DANA})
    assert r.status_code == 200, r.text
    [(message_id, _, to, _, delivery)] = outbox(settings.data_dir)
    assert to == DANA
    assert delivery.startswith("failed: not sent to smtp://127.0.0.1:1")
    with smtp_server() as server:
        env = {"TENKU_SMTP_URL": server.url()}
        # `tenku mail resend` runs its own event loop: off this test's.
        await asyncio.to_thread(tenku, settings.data_dir, "mail", "resend", message_id, env=env)
        [got] = server.messages()
    assert got.recipients == [DANA]
    assert outbox(settings.data_dir)[0][4] == "sent"
    token = token_in(got.body)
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 200
