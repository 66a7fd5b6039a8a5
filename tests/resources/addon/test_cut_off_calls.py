"""Provider calls a request committed to but whose answer was never recorded.

A killed worker is simulated here by committing what the request commits and then not
making the call (the end-to-end test kills a real worker); the runtime's sweeper then
settles it: a provisioning is undone, a deprovisioning finished, a refusal retried.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.models import Addon
from tenku.resources.addon import service
from tenku.runtime.addons import AddonSweeper
from tests.addons.fake_partner import FakePartner
from tests.addons.support import create_addon, in_process_platform, install_manifest, manifest
from tests.conftest import ApiClient, User


@pytest.fixture
async def shop(api: ApiClient, alice: User, settings: Settings, partner: FakePartner) -> str:
    install_manifest(settings.data_dir, manifest(partner))
    partner.platform = in_process_platform(api)
    await alice.create_app("shop")
    return "shop"


def sweeper(api: ApiClient, settings: Settings, grace: float = 60.0) -> AddonSweeper:
    return AddonSweeper(dataclasses.replace(settings, addon_call_grace=grace), api.database)


async def mark(api: ApiClient, addon_id: str, call: str, age: float, **values: Any) -> None:
    """What a request commits before it calls the provider, `age` seconds ago."""
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Addon)
            .where(Addon.id == uuid.UUID(addon_id))
            .values(
                provider_call=call, provider_call_at=utcnow() - timedelta(seconds=age), **values
            )
        )
        await db.commit()


def deletes(partner: FakePartner) -> list[str]:
    return [s.path for s in partner.seen if s.method == "DELETE"]


async def test_cut_off_provisioning_is_undone(
    api: ApiClient, alice: User, shop: str, partner: FakePartner, settings: Settings
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:sync")
    # As if the worker died before the partner's answer was stored.
    await mark(api, addon["id"], service.PROVISION, 120, state="provisioning", announced=False)
    assert (await sweeper(api, settings, grace=300).sweep()).undone == 0, "not stale yet"
    swept = await sweeper(api, settings).sweep()
    assert (swept.undone, swept.finished, swept.failed) == (1, 0, 0)
    assert deletes(partner) == [f"/heroku/resources/{addon['provider_id']}"]
    assert (await alice.get(f"/addons/{addon['id']}")).status_code == 404
    assert (await alice.get(f"/apps/{shop}/addon-attachments")).json() == []


async def test_cut_off_deprovisioning_is_finished(
    api: ApiClient, alice: User, shop: str, partner: FakePartner, settings: Settings
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:sync")
    await mark(api, addon["id"], service.DEPROVISION, 120)
    swept = await sweeper(api, settings).sweep()
    assert (swept.undone, swept.finished, swept.failed) == (0, 1, 0)
    assert deletes(partner) == [f"/heroku/resources/{addon['provider_id']}"]
    assert (await alice.get(f"/addons/{addon['id']}")).status_code == 404
    config = (await alice.get(f"/apps/{shop}/config-vars")).json()
    assert "FAKE_PARTNER_URL" not in config
    releases = [r["description"] for r in (await alice.get(f"/apps/{shop}/releases")).json()]
    assert releases[-1].startswith("Detach FAKE_PARTNER")


async def test_a_refusing_provider_is_asked_again(
    api: ApiClient, alice: User, shop: str, partner: FakePartner, settings: Settings
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:sync")
    await mark(api, addon["id"], service.PROVISION, 120, state="provisioning", announced=False)
    partner.refuse_deletes = True
    swept = await sweeper(api, settings).sweep()
    assert (swept.undone, swept.failed) == (0, 1)
    # No longer wanted, whatever the partner says later; still there to be retried.
    assert (await alice.get(f"/addons/{addon['id']}")).json()["state"] == "deprovisioned"
    partner.refuse_deletes = False
    swept = await sweeper(api, settings).sweep()
    assert (swept.finished, swept.failed) == (1, 0)
    assert (await alice.get(f"/addons/{addon['id']}")).status_code == 404
    assert len(deletes(partner)) == 2


async def test_a_refused_delete_request_leaves_nothing_in_flight(
    api: ApiClient, alice: User, shop: str, partner: FakePartner, settings: Settings
) -> None:
    addon = await create_addon(alice, shop, "fake-partner:sync")
    partner.refuse_deletes = True
    r = await alice.delete(f"/apps/{shop}/addons/{addon['id']}")
    assert r.status_code == 422, r.text
    swept = await sweeper(api, settings, grace=0).sweep()
    assert (swept.undone, swept.finished, swept.failed) == (0, 0, 0)
    assert (await alice.get(f"/addons/{addon['id']}")).json()["state"] == "provisioned"
