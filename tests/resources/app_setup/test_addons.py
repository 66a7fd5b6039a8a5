"""The add-ons of app.json: provisioned before the build, waited for when a partner finishes
later, taken back when the setup fails, made again when a restart cut a call off."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tenku.addons.postgres import PostgresProvider
from tenku.addons.postgres import names_for as pg_names
from tenku.config import Settings
from tenku.db.models import Addon, AppSetup, Build
from tenku.runtime.setups import Outcome, SetupPerformer, SetupRunner
from tests.addons.fake_partner import FakePartner
from tests.addons.support import in_process_platform, install_manifest, manifest, pg_exists
from tests.conftest import ApiClient, User
from tests.resources.app_setup.support import (
    TarballServer,
    create_setup,
    drive,
    drive_until,
    performer_for,
    setup_body,
)


@pytest.fixture
async def partnered(api: ApiClient, settings: Settings, partner: FakePartner) -> FakePartner:
    install_manifest(settings.data_dir, manifest(partner))
    partner.platform = in_process_platform(api)
    return partner


async def addon_rows(api: ApiClient) -> list[Addon]:
    async with api.database.session(write=False) as db:
        return list((await db.execute(select(Addon).order_by(Addon.created_at))).scalars())


async def test_add_ons_are_provisioned_before_the_build(
    api: ApiClient, alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    manifest = {
        "env": {"LANG_SET": "yes"},
        "addons": [
            "heroku-postgresql",
            {"plan": "heroku-redis:mini", "as": "CACHE", "options": {"maxmemory": "1mb"}},
        ],
    }
    setup = await create_setup(alice, tarballs.add(manifest), app={"name": "with-addons"})
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    addons = (await alice.get("/apps/with-addons/addons")).json()
    assert [(a["plan"]["name"], a["state"]) for a in addons] == [
        ("heroku-postgresql:hobby-dev", "provisioned"),
        ("heroku-redis:mini", "provisioned"),
    ]
    config = (await alice.get("/apps/with-addons/config-vars")).json()
    assert config["DATABASE_URL"].startswith("postgres")
    assert "CACHE_URL" in config
    assert config["LANG_SET"] == "yes"
    texts = [r["description"] for r in (await alice.get("/apps/with-addons/releases")).json()]
    assert any(t.startswith("Attach DATABASE (@ref:postgresql-") for t in texts)
    assert any(t.startswith("Attach CACHE (@ref:redis-") for t in texts)
    body = await setup_body(alice, setup["id"])
    assert body["build"]["status"] == "pending"
    pg = next(a for a in addons if a["addon_service"]["name"] == "heroku-postgresql")
    assert pg_exists(uuid.UUID(pg["id"])) == (True, True)


async def test_a_refused_add_on_takes_the_others_back(
    api: ApiClient,
    alice: User,
    tarballs: TarballServer,
    performer: SetupPerformer,
    partnered: FakePartner,
) -> None:
    manifest = {"addons": ["heroku-postgresql", "fake-partner:sync", "fake-partner:refuse"]}
    setup = await create_setup(alice, tarballs.add(manifest), app={"name": "half-made"})
    made: list[uuid.UUID] = []
    original = PostgresProvider.provision

    async def record(self: PostgresProvider, spec: Any, req: Any) -> Any:
        made.append(req.uuid)
        return await original(self, spec, req)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresProvider, "provision", record)
        assert await drive(performer, setup["id"]) is Outcome.OVER
    body = await setup_body(alice, setup["id"])
    assert body["status"] == "failed"
    assert body["failure_message"] == (
        "The add-on fake-partner:refuse could not be provisioned: "
        "Fake Partner is full; try again tomorrow."
    )
    # No half-made add-on: the database was dropped, the partner's resource deleted, and
    # the app is gone as on Heroku.
    [database] = made
    assert pg_exists(database) == (False, False)
    assert partnered.resources == {}
    assert [s.method for s in partnered.seen] == ["POST", "POST", "DELETE"]
    assert await addon_rows(api) == []
    assert (await alice.get("/apps/half-made")).status_code == 404


async def test_a_failed_build_takes_the_add_ons_back(
    api: ApiClient, alice: User, tarballs: TarballServer, performer: SetupPerformer
) -> None:
    setup = await create_setup(alice, tarballs.add({"addons": ["heroku-postgresql"]}))
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    [addon] = await addon_rows(api)
    assert pg_exists(addon.id) == (True, True)
    build_id = (await setup_body(alice, setup["id"]))["build"]["id"]
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Build).where(Build.id == uuid.UUID(build_id)).values(status="failed")
        )
        await db.commit()
    assert await drive(performer, setup["id"]) is Outcome.OVER
    assert pg_exists(addon.id) == (False, False)
    assert await addon_rows(api) == []
    assert (await setup_body(alice, setup["id"]))["status"] == "failed"


async def test_a_partner_that_finishes_later_is_waited_for(
    api: ApiClient,
    alice: User,
    tarballs: TarballServer,
    performer: SetupPerformer,
    partnered: FakePartner,
) -> None:
    setup = await create_setup(alice, tarballs.add({"addons": ["fake-partner:async"]}))
    assert await drive(performer, setup["id"]) is Outcome.WAITING
    [addon] = await addon_rows(api)
    assert addon.state == "provisioning"
    assert (await setup_body(alice, setup["id"]))["build"] is None
    body = await drive_until(performer, alice, setup["id"], lambda b: b["build"] is not None)
    assert body["status"] == "pending"
    config = (await alice.get(f"/apps/{setup['app']['name']}/config-vars")).json()
    assert config["FAKE_PARTNER_URL"].startswith("https://fake.example/")


async def test_a_partner_that_gives_up_fails_the_setup(
    api: ApiClient,
    alice: User,
    tarballs: TarballServer,
    performer: SetupPerformer,
    partnered: FakePartner,
) -> None:
    setup = await create_setup(alice, tarballs.add({"addons": ["fake-partner:asyncfail"]}))
    body = await drive_until(performer, alice, setup["id"], lambda b: b["status"] != "pending")
    assert body["status"] == "failed"
    assert body["failure_message"] == (
        "The add-on fake-partner:asyncfail could not be provisioned: its provider gave up on it."
    )
    await drive(performer, setup["id"])
    assert await addon_rows(api) == []
    assert (await alice.get(f"/apps/{setup['app']['name']}")).status_code == 404


class Crash(BaseException):
    """The runtime dying mid-call: nothing after it runs."""


async def test_a_provider_call_a_restart_cut_off_is_made_again(
    api: ApiClient, alice: User, tarballs: TarballServer
) -> None:
    setup = await create_setup(alice, tarballs.add({"addons": ["heroku-postgresql"]}))
    made: list[uuid.UUID] = []
    original = PostgresProvider.provision

    async def crash_after(self: PostgresProvider, spec: Any, req: Any) -> Any:
        made.append(req.uuid)
        await original(self, spec, req)
        raise Crash

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresProvider, "provision", crash_after)
        with pytest.raises(Crash):
            await drive(performer_for(api), setup["id"])
    [cut_off] = made
    [row] = await addon_rows(api)
    assert row.id == cut_off
    assert row.provider_call == "provision"
    assert pg_exists(cut_off) == (True, True)

    # The next runtime takes the add-on back and makes it again.
    assert await drive(performer_for(api), setup["id"]) is Outcome.WAITING
    assert pg_exists(cut_off) == (False, False)
    [again] = await addon_rows(api)
    assert again.id != cut_off
    assert (again.state, again.provider_call) == ("provisioned", None)
    assert pg_exists(again.id) == (True, True)
    config = (await alice.get(f"/apps/{setup['app']['name']}/config-vars")).json()
    assert config["DATABASE_URL"].endswith("/" + pg_names(again.id)[0])
    async with api.database.session(write=False) as db:
        found = await db.get(AppSetup, uuid.UUID(setup["id"]))
        assert found is not None
        assert found.addon_ids == [str(again.id)]


async def test_a_restart_takes_over_setups_and_rebuilds_killed_builds(
    api: ApiClient, alice: User, tarballs: TarballServer
) -> None:
    url = tarballs.add({})
    first = await create_setup(alice, url)
    second = await create_setup(alice, url)
    performer = performer_for(api)
    for setup in (first, second):
        assert await drive(performer, setup["id"]) is Outcome.WAITING
    first_build = (await setup_body(alice, first["id"]))["build"]["id"]
    second_build = (await setup_body(alice, second["id"]))["build"]["id"]
    # A runtime that died: it held both setups and was running the first one's build;
    # the second's was still waiting to be claimed.
    async with api.database.session(write=True) as db:
        await db.execute(update(AppSetup).values(runner="dead:1:abc"))
        await db.execute(
            update(Build).where(Build.id == uuid.UUID(first_build)).values(runner="dead:1:abc")
        )
        await db.commit()
    runner = SetupRunner(performer, "new:2:def")
    await runner.recover()
    async with api.database.session(write=False) as db:
        rows = {s.id: s for s in (await db.execute(select(AppSetup))).scalars()}
        assert {s.runner for s in rows.values()} == {None}
        assert rows[uuid.UUID(first["id"])].build_id is None
        assert rows[uuid.UUID(second["id"])].build_id == uuid.UUID(second_build)
    # Resumed, the first setup builds again; the second keeps waiting on its build.
    assert await drive(performer, first["id"]) is Outcome.WAITING
    rebuilt = (await setup_body(alice, first["id"]))["build"]
    assert rebuilt["id"] != first_build
    assert rebuilt["status"] == "pending"
    assert (await setup_body(alice, second["id"]))["build"]["id"] == second_build
    async with api.database.session(write=False) as db:
        count = select(func.count()).select_from(Build).where(Build.status == "pending")
        assert (await db.execute(count)).scalar_one() == 3
