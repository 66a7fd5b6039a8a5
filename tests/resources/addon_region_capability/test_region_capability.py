"""Which services run in which region."""

from __future__ import annotations

from typing import Any

from tests.addons.fake_partner import FakePartner
from tests.addons.support import install_manifest, manifest
from tests.conftest import User


async def test_capabilities(alice: User, settings: Any, partner: FakePartner) -> None:
    data = manifest(partner)
    data["api"]["regions"] = ["eu"]
    install_manifest(settings.data_dir, data)
    everything = (await alice.get("/addon-region-capabilities")).json()
    pairs = {(c["addon_service"]["name"], c["region"]["name"]) for c in everything}
    assert {
        ("heroku-postgresql", "us"),
        ("heroku-postgresql", "eu"),
        ("fake-partner", "eu"),
    } <= pairs
    assert ("fake-partner", "us") not in pairs
    first = everything[0]
    assert first["supports_private_networking"] is False
    assert first["region"]["provider"] == {"name": "tenku", "region": "local"}

    by_service = (await alice.get("/addon-services/fake-partner/region-capabilities")).json()
    assert [c["region"]["name"] for c in by_service] == ["eu"]
    by_region = (await alice.get("/regions/us/addon-region-capabilities")).json()
    assert {c["addon_service"]["name"] for c in by_region} == {
        "heroku-postgresql",
        "heroku-redis",
    }
    assert (await alice.get("/regions/mars/addon-region-capabilities")).status_code == 404
    assert (await alice.get("/addon-services/x/region-capabilities")).status_code == 404

    # Services outside beta and GA have no capabilities, and nobody can install
    # a service where it does not run.
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/addons", json={"plan": "fake-partner"})
    assert r.status_code == 422
    assert "not available in the us region" in r.json()["message"]
