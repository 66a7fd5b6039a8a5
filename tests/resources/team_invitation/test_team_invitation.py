"""Team invitations, as the heroku CLI's members:add, members and members:remove use them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import Team, TeamMember
from tests.conftest import ApiClient, User
from tests.resources.invitation.test_invitation import finalize, login
from tests.smtp import mailed_token, outbox, tenku

DANA = "dana@example.com"
# What the CLI sends with every team-invitation request.
INVITATIONS = {"Accept": "application/vnd.heroku+json; version=3.team-invitations"}


async def make_team(api: ApiClient, name: str, *members: tuple[User, str]) -> uuid.UUID:
    """A team and its members, as rows (the /teams endpoints are not these tests')."""
    async with api.database.session(write=True) as db:
        team = Team(name=name)
        db.add(team)
        await db.flush()
        for user, role in members:
            db.add(TeamMember(team_id=team.id, account_id=user.id, role=role))
        await db.commit()
        return team.id


async def roles(api: ApiClient, team_id: uuid.UUID) -> dict[uuid.UUID, str]:
    async with api.database.session(write=False) as db:
        rows = await db.execute(
            select(TeamMember.account_id, TeamMember.role).where(TeamMember.team_id == team_id)
        )
        return {row.account_id: row.role for row in rows}


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


@pytest.fixture
async def acme(api: ApiClient, alice: User, bob: User) -> uuid.UUID:
    """alice administers acme; bob is a member."""
    return await make_team(api, "acme", (alice, "admin"), (bob, "member"))


async def invite(user: User, email: str, role: str | None = "member", team: str = "acme") -> Any:
    body = {"email": email} if role is None else {"email": email, "role": role}
    return await user.put(f"/teams/{team}/invitations", json=body, headers=INVITATIONS)


async def pending(user: User, team: str = "acme") -> list[dict[str, Any]]:
    r = await user.get(f"/teams/{team}/invitations", headers=INVITATIONS)
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = r.json()
    return listed


async def test_team_features_turn_members_add_into_an_invitation(
    api: ApiClient, acme: uuid.UUID, bob: User, carol: User
) -> None:
    r = await bob.get("/teams/acme/features")
    assert r.status_code == 200, r.text
    features = {f["name"]: f for f in r.json()}
    # access:add --permissions needs org-access-controls; members:add invites with the other.
    assert sorted(features) == ["org-access-controls", "team-invite-acceptance"]
    assert all(f["enabled"] for f in features.values())
    feature = features["team-invite-acceptance"]
    by_id = await bob.get(f"/teams/{acme}/features/{feature['id']}")
    assert by_id.json() == feature
    assert (await bob.get("/teams/acme/features/team-invite-acceptance")).json() == feature
    assert (await bob.get("/teams/acme/features/nope")).status_code == 404
    # Someone outside the team is not told it exists.
    assert (await carol.get("/teams/acme/features")).status_code == 404
    missing = await carol.get("/teams/nope/features")
    assert missing.status_code == 404
    assert missing.json()["resource"] == "team"


async def test_someone_without_an_account_is_invited_and_joins(
    api: ApiClient, acme: uuid.UUID, alice: User, bob: User, settings: Settings
) -> None:
    r = await invite(alice, "Dana@Example.com", "member")
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["team"] == {"id": str(acme), "name": "acme"}
    assert made["role"] == "member"
    assert made["user"]["email"] == DANA
    assert made["user"]["name"] is None
    assert made["invited_by"] == {"email": alice.email, "id": str(alice.id), "name": None}
    # `heroku members`, as a member: the invitation is pending.
    assert await pending(bob) == [made]

    [(message_id, _, to, subject, _)] = outbox(settings.data_dir)
    assert (to, subject) == (DANA, "Join acme on Tenku")
    letter = tenku(settings.data_dir, "mail", "show", message_id)
    token = mailed_token(settings.data_dir, DANA)
    assert f"PATCH /invitations/{token}" in letter
    assert "member of acme" in letter

    shown = await api.request("GET", f"/teams/invitations/{token}")
    assert shown.status_code == 200, shown.text
    assert shown.json() == made
    done = await finalize(api, token, "dana's password")
    assert done.status_code == 200, done.text
    dana = uuid.UUID(done.json()["user"]["id"])
    assert dana == uuid.UUID(made["user"]["id"])
    assert (await roles(api, acme))[dana] == "member"
    assert await pending(bob) == []
    assert (await api.request("GET", f"/teams/invitations/{token}")).status_code == 404
    assert await login(api, DANA, "dana's password")


async def test_someone_with_an_account_accepts_while_logged_in(
    api: ApiClient, acme: uuid.UUID, alice: User, bob: User, carol: User, settings: Settings
) -> None:
    r = await invite(alice, carol.email, "admin")
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {"email": carol.email, "id": str(carol.id), "name": None}
    token = mailed_token(settings.data_dir, carol.email)
    letter = tenku(settings.data_dir, "mail", "show", outbox(settings.data_dir)[0][0])
    assert f"POST /teams/invitations/{token}/accept" in letter
    assert "PATCH" not in letter
    # An invitation is never a way to set the password of an account that has one.
    assert (await api.request("GET", f"/invitations/{token}")).status_code == 404
    assert (await finalize(api, token, "taken over")).status_code == 404
    assert carol.id not in await roles(api, acme)

    other = await bob.post(f"/teams/invitations/{token}/accept")
    assert other.status_code == 403
    assert carol.email in other.json()["message"]
    anonymous = await api.request("POST", f"/teams/invitations/{token}/accept")
    assert anonymous.status_code == 401
    accepted = await carol.post(f"/teams/invitations/{token}/accept")
    assert accepted.status_code == 200, accepted.text
    member = accepted.json()
    assert member["role"] == "admin"
    assert member["email"] == carol.email
    assert member["user"] == {"email": carol.email, "id": str(carol.id), "name": None}
    assert (await roles(api, acme))[carol.id] == "admin"
    assert (await carol.post(f"/teams/invitations/{token}/accept")).status_code == 404
    # Now an admin, carol invites too.
    assert (await invite(carol, DANA)).status_code == 200


async def test_only_admins_invite_and_revoke(
    api: ApiClient, acme: uuid.UUID, alice: User, bob: User, carol: User
) -> None:
    refused = await invite(bob, DANA)
    assert refused.status_code == 403
    assert refused.json()["id"] == "forbidden"
    assert (await invite(carol, DANA)).status_code == 404
    assert (await carol.get("/teams/acme/invitations", headers=INVITATIONS)).status_code == 404
    assert (await invite(alice, DANA)).status_code == 200
    assert (await bob.delete(f"/teams/acme/invitations/{DANA}")).status_code == 403
    assert (await carol.delete(f"/teams/acme/invitations/{DANA}")).status_code == 404
    assert len(await pending(bob)) == 1
    reader = await api.token_for(alice, ["read"])
    assert (await invite(reader, "eve@example.com")).status_code == 403
    assert len(await pending(reader)) == 1


async def test_inviting_again_changes_the_role_and_the_token(
    api: ApiClient, acme: uuid.UUID, alice: User, settings: Settings
) -> None:
    assert (await invite(alice, DANA, "member")).status_code == 200
    first = mailed_token(settings.data_dir, DANA)
    again = await invite(alice, DANA, "viewer")
    assert again.status_code == 200
    second = mailed_token(settings.data_dir, DANA)
    assert first != second
    [listed] = await pending(alice)
    assert listed == again.json()
    assert listed["role"] == "viewer"
    assert len(outbox(settings.data_dir)) == 2
    assert (await api.request("GET", f"/teams/invitations/{first}")).status_code == 404
    assert (await finalize(api, first, "old")).status_code == 404
    assert (await finalize(api, second, "new")).status_code == 200
    dana = await login(api, DANA, "new")
    me = (await api.request("GET", "/account", token=dana)).json()
    assert (await roles(api, acme))[uuid.UUID(me["id"])] == "viewer"


async def test_revoking_voids_the_token(
    api: ApiClient, acme: uuid.UUID, alice: User, settings: Settings
) -> None:
    assert (await invite(alice, DANA)).status_code == 200
    token = mailed_token(settings.data_dir, DANA)
    # `heroku members:remove` sends the email as it is, unencoded.
    r = await alice.delete(f"/teams/acme/invitations/{DANA}", headers=INVITATIONS)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == DANA
    assert await pending(alice) == []
    assert (await api.request("GET", f"/teams/invitations/{token}")).status_code == 404
    assert (await finalize(api, token, "too late")).status_code == 404
    gone = await alice.delete(f"/teams/acme/invitations/{DANA}")
    assert gone.status_code == 404


async def test_bad_invitations_are_refused(
    api: ApiClient, acme: uuid.UUID, alice: User, bob: User, settings: Settings
) -> None:
    member = await invite(alice, "BOB@example.com")
    assert member.status_code == 422
    assert "already a member" in member.json()["message"]
    for role in ("owner", "root", ""):
        r = await invite(alice, DANA, role)
        assert r.status_code == 422, role
    assert (await invite(alice, "not-an-email")).status_code == 422
    assert (await invite(alice, DANA, team="nope")).status_code == 404
    assert outbox(settings.data_dir) == []
    # No role: the team's default permission.
    made = await invite(alice, DANA, None)
    assert made.status_code == 200
    assert made.json()["role"] == "member"


async def test_teams_are_named_by_id_too(api: ApiClient, acme: uuid.UUID, alice: User) -> None:
    assert (await invite(alice, DANA, team=str(acme))).status_code == 200
    [listed] = await pending(alice, str(acme))
    assert listed["team"]["name"] == "acme"
