"""App transfers: the owner offers a personal app, the recipient accepts or declines, the
sender may cancel; the recipient is mailed (the outbox: no SMTP server configured)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import Addon, AddonAttachment, AppTransfer
from tests.conftest import ApiClient, User
from tests.resources.organization_app.teams import make_team
from tests.smtp import outbox, tenku

TRANSFERS = "/account/app-transfers"


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def offer(owner: User, app: str, recipient: str, **extra: Any) -> dict[str, Any]:
    r = await owner.post(TRANSFERS, json={"app": app, "recipient": recipient, **extra})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def answer(user: User, ident: str, state: str) -> Any:
    return await user.patch(f"{TRANSFERS}/{ident}", json={"state": state})


async def roles(user: User, app: str) -> dict[str, str]:
    r = await user.get(f"/apps/{app}/collaborators")
    assert r.status_code == 200, r.text
    return {c["user"]["email"]: c["role"] for c in r.json()}


async def owner_of(user: User, app: str) -> str:
    r = await user.get(f"/apps/{app}")
    assert r.status_code == 200, r.text
    email: str = r.json()["owner"]["email"]
    return email


def mails(settings: Settings) -> list[tuple[str, str]]:
    """(to, subject) of every message in the outbox, oldest first."""
    return [(to, subject) for _, _, to, subject, _ in outbox(settings.data_dir)]


def letter(settings: Settings, to: str) -> str:
    """`tenku mail show` of the last message to `to`."""
    ids = [row[0] for row in outbox(settings.data_dir) if row[2] == to]
    assert ids, f"no mail to {to}"
    return tenku(settings.data_dir, "mail", "show", ids[-1])


async def test_create_offers_the_app_and_mails_the_recipient(
    alice: User, bob: User, settings: Settings
) -> None:
    app = await alice.create_app("shop")
    r = await alice.post(TRANSFERS, json={"app": "shop", "recipient": "Bob@Example.com"})
    assert r.status_code == 201, r.text
    transfer = r.json()
    assert transfer["app"] == {"id": app["id"], "name": "shop"}
    assert transfer["owner"] == {"email": alice.email, "id": str(alice.id)}
    assert transfer["recipient"] == {"email": bob.email, "id": str(bob.id)}
    assert transfer["state"] == "pending"
    assert transfer["created_at"] == transfer["updated_at"]
    # Nothing moves until the recipient accepts.
    assert await owner_of(alice, "shop") == alice.email
    assert (await bob.get("/apps/shop")).status_code == 403

    assert mails(settings) == [(bob.email, f"{alice.email} wants to transfer shop to you")]
    text = letter(settings, bob.email)
    assert f"PATCH /account/app-transfers/{transfer['id']}" in text
    assert f"{settings.public_api_url}/account/app-transfers/{transfer['id']}" in text
    assert '"state": "accepted"' in text
    assert '"state": "declined"' in text


async def test_create_by_app_id_and_recipient_id(alice: User, bob: User) -> None:
    app = await alice.create_app("shop")
    transfer = await offer(alice, app["id"], str(bob.id))
    assert transfer["app"]["name"] == "shop"
    assert transfer["recipient"]["email"] == bob.email


async def test_silent_sends_no_mail(alice: User, bob: User, settings: Settings) -> None:
    await alice.create_app("shop")
    await offer(alice, "shop", bob.email, silent=True)
    assert mails(settings) == []


async def test_list_as_sender_and_as_recipient(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    await carol.create_app("cafe")
    sent = await offer(alice, "shop", bob.email)
    received = await offer(carol, "cafe", alice.email)

    r = await alice.get(TRANSFERS)
    assert r.status_code == 200, r.text
    assert r.headers["Accept-Ranges"] == "id"
    assert sorted(t["id"] for t in r.json()) == sorted([sent["id"], received["id"]])
    assert [t["id"] for t in (await bob.get(TRANSFERS)).json()] == [sent["id"]]
    assert [t["id"] for t in (await carol.get(TRANSFERS)).json()] == [received["id"]]
    stranger = await alice.client.user()
    assert (await stranger.get(TRANSFERS)).json() == []


async def test_info_by_id_and_by_app_name(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    for user in (alice, bob):
        for ident in (transfer["id"], "shop"):
            r = await user.get(f"{TRANSFERS}/{ident}")
            assert r.status_code == 200, r.text
            assert r.json() == transfer
    # Others' transfers are not found, nor are ones that never were.
    for user, ident in (
        (carol, transfer["id"]),
        (carol, "shop"),
        (alice, str(uuid.uuid4())),
        (alice, "nope"),
    ):
        r = await user.get(f"{TRANSFERS}/{ident}")
        assert r.status_code == 404, ident
        assert r.json()["resource"] == "app_transfer"


async def test_accept_makes_the_recipient_owner_and_the_owner_a_collaborator(
    alice: User, bob: User, carol: User, settings: Settings
) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/collaborators", json={"user": carol.email})
    assert r.status_code == 201, r.text
    transfer = await offer(alice, "shop", bob.email)

    r = await answer(bob, transfer["id"], "accepted")
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["state"] == "accepted"
    assert accepted["owner"] == transfer["owner"]
    assert accepted["recipient"] == transfer["recipient"]

    assert await owner_of(bob, "shop") == bob.email
    assert await roles(bob, "shop") == {
        bob.email: "owner",
        alice.email: "collaborator",
        carol.email: "collaborator",
    }
    # The app is among bob's own apps, and alice may use it but no longer give it away.
    listed = {a["name"]: a["owner"]["email"] for a in (await bob.get("/apps")).json()}
    assert listed == {"shop": bob.email}
    assert (await alice.get("/apps/shop")).status_code == 200
    r = await alice.post(TRANSFERS, json={"app": "shop", "recipient": carol.email})
    assert r.status_code == 403
    assert (await alice.delete("/apps/shop")).status_code == 403
    # The new owner may.
    await offer(bob, "shop", carol.email)

    assert mails(settings)[-2:] == [
        (alice.email, f"{bob.email} accepted the transfer of shop"),
        (carol.email, f"{bob.email} wants to transfer shop to you"),
    ]
    assert "the app is theirs now" in letter(settings, alice.email)


async def test_accept_when_the_recipient_already_collaborates(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    await offer(alice, "shop", bob.email)
    r = await answer(bob, "shop", "accepted")
    assert r.status_code == 200, r.text
    # One row each still: the recipient's became the owner's.
    r = await bob.get("/apps/shop/collaborators")
    assert sorted((c["user"]["email"], c["role"]) for c in r.json()) == [
        (alice.email, "collaborator"),
        (bob.email, "owner"),
    ]


async def test_add_ons_and_their_billing_go_with_the_app(
    api: ApiClient, alice: User, bob: User
) -> None:
    app = await alice.create_app("shop")
    # A paid add-on row as a provider would have left it (no provider is involved here).
    async with api.database.session(write=True) as db:
        addon = Addon(
            name="postgresql-transferred-12345",
            app_id=uuid.UUID(app["id"]),
            service="heroku-postgresql",
            plan="heroku-postgresql:standard-0",
            state="provisioned",
            config={"HEROKU_POSTGRESQL_URL": "postgres://example"},
            config_prefix="HEROKU_POSTGRESQL",
            billed_cents=5000,
            region="us",
            created_by_id=alice.id,
            announced=True,
        )
        db.add(addon)
        await db.flush()
        db.add(AddonAttachment(addon_id=addon.id, app_id=addon.app_id, name="DATABASE"))
        await db.commit()

    await offer(alice, "shop", bob.email)
    assert (await answer(bob, "shop", "accepted")).status_code == 200
    r = await bob.get("/apps/shop/addons")
    assert r.status_code == 200, r.text
    [shown] = r.json()
    assert shown["name"] == "postgresql-transferred-12345"
    assert shown["app"] == {"id": app["id"], "name": "shop"}
    assert shown["billed_price"]["cents"] == 5000
    # Bob's account now lists it among the add-ons of the apps he holds.
    r = await bob.get("/addons")
    assert [a["name"] for a in r.json()] == ["postgresql-transferred-12345"]


async def test_decline_leaves_the_app_and_tells_the_sender(
    alice: User, bob: User, settings: Settings
) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    r = await answer(bob, transfer["id"], "declined")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "declined"
    assert await owner_of(alice, "shop") == alice.email
    assert await roles(alice, "shop") == {alice.email: "owner"}
    assert mails(settings)[-1] == (alice.email, f"{bob.email} declined the transfer of shop")
    # Decided: it cannot be accepted after all; the owner may offer the app again.
    r = await answer(bob, transfer["id"], "accepted")
    assert r.status_code == 422
    assert r.json()["message"] == "This transfer has already been declined."
    again = await offer(alice, "shop", bob.email)
    r = await bob.get(f"{TRANSFERS}/shop")
    assert r.json()["id"] == again["id"]


async def test_cancel_withdraws_the_offer(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    r = await alice.delete(f"{TRANSFERS}/{transfer['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == transfer
    assert (await alice.get(f"{TRANSFERS}/{transfer['id']}")).status_code == 404
    assert (await bob.get(TRANSFERS)).json() == []
    # Accepting after the cancel finds nothing.
    r = await answer(bob, transfer["id"], "accepted")
    assert r.status_code == 404
    assert await owner_of(alice, "shop") == alice.email
    assert (await alice.delete(f"{TRANSFERS}/{transfer['id']}")).status_code == 404


async def test_the_sender_removes_a_declined_transfer(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    await answer(bob, "shop", "declined")
    r = await alice.delete(f"{TRANSFERS}/shop")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "declined"
    assert (await bob.get(f"{TRANSFERS}/{transfer['id']}")).status_code == 404


async def test_refused_to_the_owner(alice: User) -> None:
    await alice.create_app("shop")
    for recipient in ("~", alice.email, "ALICE@example.com", str(alice.id)):
        r = await alice.post(TRANSFERS, json={"app": "shop", "recipient": recipient})
        assert r.status_code == 422, recipient
        assert r.json() == {
            "id": "invalid_params",
            "message": f"{alice.email} already owns shop.",
        }
    assert (await alice.get(TRANSFERS)).json() == []


async def test_refused_to_someone_without_an_account(alice: User, settings: Settings) -> None:
    await alice.create_app("shop")
    for recipient in ("ghost@example.com", str(uuid.uuid4())):
        r = await alice.post(TRANSFERS, json={"app": "shop", "recipient": recipient})
        assert r.status_code == 404, recipient
        assert r.json()["id"] == "not_found"
        assert r.json()["resource"] == "user"
    assert (await alice.get(TRANSFERS)).json() == []
    assert mails(settings) == []


async def test_refused_to_all_but_the_owner(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    r = await bob.post(TRANSFERS, json={"app": "shop", "recipient": carol.email})
    assert r.status_code == 403
    assert "Only its owner can do that" in r.json()["message"]
    r = await carol.post(TRANSFERS, json={"app": "shop", "recipient": bob.email})
    assert r.status_code == 403
    r = await carol.post(TRANSFERS, json={"app": "nope", "recipient": bob.email})
    assert r.status_code == 404
    assert r.json()["resource"] == "app"
    assert (await alice.get(TRANSFERS)).json() == []


async def test_a_team_app_is_refused_with_its_own_path(
    api: ApiClient, alice: User, bob: User
) -> None:
    await make_team(api, "acme", [(alice, "admin"), (bob, "member")])
    r = await alice.post("/teams/apps", json={"name": "tools", "team": "acme"})
    assert r.status_code == 201, r.text
    r = await alice.post(TRANSFERS, json={"app": "tools", "recipient": bob.email})
    assert r.status_code == 422
    assert "PATCH /teams/apps/tools" in r.json()["message"]


async def test_one_pending_transfer_per_app(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    first = await offer(alice, "shop", bob.email)
    r = await alice.post(TRANSFERS, json={"app": "shop", "recipient": carol.email})
    assert r.status_code == 422
    assert r.json()["message"] == (
        f"shop is already being transferred to {bob.email}: cancel that transfer first "
        f"(DELETE /account/app-transfers/{first['id']})."
    )
    assert (await alice.delete(f"{TRANSFERS}/shop")).status_code == 200
    await offer(alice, "shop", carol.email)


async def test_only_the_recipient_decides_and_only_the_sender_cancels(
    alice: User, bob: User, carol: User
) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    for state in ("accepted", "declined"):
        r = await answer(alice, transfer["id"], state)
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
        assert (await answer(carol, transfer["id"], state)).status_code == 404
    r = await bob.delete(f"{TRANSFERS}/{transfer['id']}")
    assert r.status_code == 403
    assert (await carol.delete(f"{TRANSFERS}/{transfer['id']}")).status_code == 404
    assert (await alice.get(f"{TRANSFERS}/shop")).json() == transfer


async def test_double_accept_and_cancel_after_accept_are_refused(
    alice: User, bob: User, settings: Settings
) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    assert (await answer(bob, transfer["id"], "accepted")).status_code == 200
    sent = len(mails(settings))
    for state in ("accepted", "declined"):
        r = await answer(bob, transfer["id"], state)
        assert r.status_code == 422
        assert r.json()["message"] == "This transfer has already been accepted."
    r = await alice.delete(f"{TRANSFERS}/{transfer['id']}")
    assert r.status_code == 422
    assert r.json()["message"] == "This transfer has already been accepted."
    assert await owner_of(bob, "shop") == bob.email
    # Refusals mail nobody.
    assert len(mails(settings)) == sent


@pytest.mark.parametrize("body", [{}, {"state": "pending"}, {"state": "done"}, {"state": None}])
async def test_an_answer_is_accepted_or_declined(
    alice: User, bob: User, body: dict[str, Any]
) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    r = await bob.patch(f"{TRANSFERS}/{transfer['id']}", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert (await bob.get(f"{TRANSFERS}/shop")).json()["state"] == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"app": "shop"},
        {"recipient": "bob@example.com"},
        {"app": "shop", "recipient": ""},
        {"app": "shop", "recipient": 7},
        {"app": "shop", "recipient": "bob@example.com", "silent": "yes"},
    ],
)
async def test_bad_create_body_is_422(alice: User, bob: User, body: dict[str, Any]) -> None:
    await alice.create_app("shop")
    r = await alice.post(TRANSFERS, json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"


async def test_a_read_token_may_list_but_not_transfer(
    api: ApiClient, alice: User, bob: User
) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    reader = await api.token_for(bob, ["read"])
    assert [t["id"] for t in (await reader.get(TRANSFERS)).json()] == [transfer["id"]]
    assert (await answer(reader, transfer["id"], "accepted")).status_code == 403
    assert await owner_of(alice, "shop") == alice.email


async def test_deleting_the_app_ends_its_transfers(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    assert (await alice.delete("/apps/shop")).status_code == 200
    assert (await bob.get(TRANSFERS)).json() == []
    assert (await answer(bob, transfer["id"], "accepted")).status_code == 404


async def test_concurrent_accept_and_cancel_do_not_both_win(alice: User, bob: User) -> None:
    for n in range(5):
        name = f"shop-{n}"
        await alice.create_app(name)
        transfer = await offer(alice, name, bob.email)
        path = f"{TRANSFERS}/{transfer['id']}"
        accepted, cancelled = await asyncio.gather(
            bob.patch(path, json={"state": "accepted"}), alice.delete(path)
        )
        codes = (accepted.status_code, cancelled.status_code)
        if accepted.status_code == 200:
            assert cancelled.status_code == 422, codes
            assert await owner_of(bob, name) == bob.email
            assert (await bob.get(path)).json()["state"] == "accepted"
        else:
            assert codes == (404, 200), codes
            assert await owner_of(alice, name) == alice.email
            assert (await alice.get(path)).status_code == 404


async def test_concurrent_accepts_accept_once(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    answers = await asyncio.gather(*(answer(bob, transfer["id"], "accepted") for _ in "ab"))
    assert sorted(r.status_code for r in answers) == [200, 422]
    assert await roles(bob, "shop") == {bob.email: "owner", alice.email: "collaborator"}


async def test_mail_goes_out_after_the_commit(
    api: ApiClient, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the mailer is called, the transfer it tells of is already committed: another
    session sees it."""
    mailer = api.app.state.ctx.mailer
    send = mailer.send
    seen: list[list[str]] = []

    async def observed(to: str, subject: str, body: str) -> Any:
        async with api.database.session(write=False) as db:
            rows = await db.execute(select(AppTransfer.state))
            seen.append(list(rows.scalars()))
        return await send(to, subject, body)

    monkeypatch.setattr(mailer, "send", observed)
    await alice.create_app("shop")
    await offer(alice, "shop", bob.email)
    assert (await answer(bob, "shop", "accepted")).status_code == 200
    assert seen == [["pending"], ["accepted"]]


async def test_an_app_moved_since_the_offer_cannot_be_accepted(
    api: ApiClient, alice: User, bob: User
) -> None:
    await make_team(api, "acme", [(alice, "admin")])
    await alice.create_app("shop")
    transfer = await offer(alice, "shop", bob.email)
    r = await alice.patch("/teams/apps/shop", json={"owner": "acme"})
    assert r.status_code == 200, r.text
    r = await answer(bob, transfer["id"], "accepted")
    assert r.status_code == 422
    assert "no longer belongs" in r.json()["message"]
    # Nothing moved, and the offer is still there to decline.
    held = (await alice.get("/apps/shop")).json()
    assert held["owner"]["email"] == "acme@herokumanager.com"
    assert (await bob.get(f"{TRANSFERS}/shop")).json()["state"] == "pending"
    assert (await answer(bob, transfer["id"], "declined")).status_code == 200
