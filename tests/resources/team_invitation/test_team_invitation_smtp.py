"""Team invitations delivered by SMTP to a real server on loopback."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from tenku.config import Settings
from tests.conftest import ApiClient, User
from tests.resources.invitation.test_invitation import finalize
from tests.resources.team_invitation.test_team_invitation import invite, make_team, roles
from tests.smtp import SmtpServer, outbox, token_in

DANA = "dana@example.com"


@pytest.fixture
def settings(settings: Settings, smtp_url: str) -> Settings:
    """The API sends mail through `smtp_url` (tests/smtp.py: the `smtp` server)."""
    return replace(settings, smtp_url=smtp_url)


async def test_both_kinds_of_team_invitation_are_sent(
    api: ApiClient, alice: User, bob: User, smtp: SmtpServer, settings: Settings
) -> None:
    acme = await make_team(api, "acme", (alice, "admin"))
    assert (await invite(alice, DANA, "member")).status_code == 200
    assert (await invite(alice, bob.email, "viewer")).status_code == 200
    to_dana, to_bob = smtp.messages()
    assert (to_dana.recipients, to_bob.recipients) == ([DANA], [bob.email])
    assert to_dana.message["Subject"] == to_bob.message["Subject"] == "Join acme on Tenku"
    assert [row[4] for row in outbox(settings.data_dir)] == ["sent", "sent"]

    done = await finalize(api, token_in(to_dana.body), "from the mail")
    assert done.status_code == 200, done.text
    accepted = await bob.post(f"/teams/invitations/{token_in(to_bob.body)}/accept")
    assert accepted.status_code == 200, accepted.text
    dana = uuid.UUID(done.json()["user"]["id"])
    assert await roles(api, acme) == {alice.id: "admin", dana: "member", bob.id: "viewer"}
