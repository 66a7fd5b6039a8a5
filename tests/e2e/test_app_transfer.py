"""apps:transfer to a person through the real CLI: the recipient is mailed, accepts over the
API (the CLI has no command for it), and apps:info then shows the new owner."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import V3, Account, Heroku, LiveServer, json_of, styled_object

pytestmark = pytest.mark.e2e


@pytest.fixture
def api_other(server: LiveServer, other: Account) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url,
        headers={"Accept": V3, "Authorization": f"Bearer {other.key}"},
        timeout=30,
        trust_env=False,
    ) as client:
        yield client


def mailed_to(server: LiveServer, email: str) -> list[str]:
    """Subjects of the outbox's messages to `email` (`tenku mail list`)."""
    done = server.tenku("mail", "list", "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    return [row[3] for row in rows if row[2] == email]


def test_transfer_to_a_person_then_accept(
    heroku: Heroku,
    heroku_other: Heroku,
    api: httpx.Client,
    api_other: httpx.Client,
    server: LiveServer,
    owner: Account,
    other: Account,
    app: str,
) -> None:
    _, _, err = heroku("apps:transfer", other.email, "-a", app)
    assert f"Initiating transfer of {app} to {other.email}... email sent" in err
    # Offered, not moved: the owner still owns it and the recipient was mailed.
    assert styled_object(heroku("apps:info", "-a", app).stdout)["Owner"] == owner.email
    assert f"{owner.email} wants to transfer {app} to you" in mailed_to(server, other.email)

    [transfer] = [
        t for t in json_of(api_other.get("/account/app-transfers")) if t["app"]["name"] == app
    ]
    assert transfer["state"] == "pending"
    r = api_other.patch(f"/account/app-transfers/{transfer['id']}", json={"state": "accepted"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "accepted"

    # The new owner, seen by both; the old owner stays on as a collaborator.
    assert styled_object(heroku_other("apps:info", "-a", app).stdout)["Owner"] == other.email
    info = heroku("apps:info", "-a", app).stdout
    assert styled_object(info)["Owner"] == other.email
    roles = {c["user"]["email"]: c["role"] for c in json_of(api.get(f"/apps/{app}/collaborators"))}
    assert roles == {other.email: "owner", owner.email: "collaborator"}
    assert f"{other.email} accepted the transfer of {app}" in mailed_to(server, owner.email)
    # The app is the other account's to remove now (the fixture's clean-up cannot).
    heroku_other("apps:destroy", "-a", app, "--confirm", app)


def test_transfer_to_nobody_is_refused(heroku: Heroku, api: httpx.Client, app: str) -> None:
    code, _, err = heroku("apps:transfer", "nobody@example.com", "-a", app, check=False)
    assert code != 0
    assert "Couldn't find that user." in err
    assert json_of(api.get(f"/apps/{app}"))["owner"]["email"] == "owner@example.com"
    assert [t for t in json_of(api.get("/account/app-transfers")) if t["app"]["name"] == app] == []
