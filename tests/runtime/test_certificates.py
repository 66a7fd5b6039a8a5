"""The runtime's certificate table follows the SNI endpoints and domains in the database, and
the router presents what it holds to real TLS clients."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import SniEndpoint
from tenku.router import Router
from tenku.runtime.dynos import DynoManager
from tenku.storage.blobs import DirectoryBlobStore
from tenku.tls import server_ssl_context
from tests.certificates import Issued, make_ca, make_leaf
from tests.conftest import ApiClient, User
from tests.router.test_sni import anything, presented, tenku_der, trusting
from tests.runtime.test_reconcile import Recorder


@pytest.fixture
def manager(settings: Settings, database: Database) -> DynoManager:
    return DynoManager(
        settings, database, DirectoryBlobStore(settings.data_dir / "blobs"), Recorder, "test"
    )


@pytest.fixture
async def router(manager: DynoManager, settings: Settings) -> AsyncIterator[Router]:
    router = Router(manager, manager.router_log, certificates=manager.certificates)
    await router.start("127.0.0.1", None, 0, server_ssl_context(settings))
    yield router
    await router.stop()


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


async def uploaded(user: User, app: str, leaf: Issued, ca: Issued) -> dict[str, Any]:
    body = {"certificate_chain": leaf.chain(ca), "private_key": leaf.key_pem}
    r = await user.post(f"/apps/{app}/sni-endpoints", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def domain(user: User, app: str, hostname: str, endpoint: str | None = None) -> None:
    r = await user.post(
        f"/apps/{app}/domains", json={"hostname": hostname, "sni_endpoint": endpoint}
    )
    assert r.status_code == 201, r.text


async def test_custom_domains_are_served_with_their_apps_certificates(
    alice: User, manager: DynoManager, router: Router, ca: Issued, settings: Settings
) -> None:
    port = router.https_port
    assert port is not None
    await alice.create_app("shop")
    await alice.create_app("blog")
    older = make_leaf(ca, "www.example.com", "example.com")
    newer = make_leaf(ca, "www.example.com")
    first = await uploaded(alice, "shop", older, ca)
    await uploaded(alice, "shop", newer, ca)
    await domain(alice, "shop", "www.example.com")
    await domain(alice, "shop", "example.com", first["name"])
    await domain(alice, "shop", "other.example.com")
    await domain(alice, "blog", "blog.example.net")
    await manager.reconcile()

    # www names no endpoint: the newest that covers it; the apex names the older one.
    assert await presented(port, "www.example.com", trusting(ca)) == newer.der
    assert await presented(port, "example.com", trusting(ca)) == older.der
    assert manager.certificates.hosts == {"www.example.com", "example.com"}
    tenku = tenku_der(settings)
    for name in ("other.example.com", "blog.example.net", "shop.tenku.localhost", "nope.test"):
        assert await presented(port, name, anything()) == tenku, name

    # Naming the newer one for the apex is not possible (it does not cover it); naming the
    # older for www is.
    r = await alice.patch("/apps/shop/domains/www.example.com", json={"sni_endpoint": first["id"]})
    assert r.status_code == 200
    await manager.reconcile()
    assert await presented(port, "www.example.com", trusting(ca)) == older.der


async def test_the_table_follows_updates_and_deletes(
    alice: User, manager: DynoManager, router: Router, ca: Issued, settings: Settings
) -> None:
    port = router.https_port
    assert port is not None
    await alice.create_app("shop")
    first = make_leaf(ca, "www.example.com")
    endpoint = await uploaded(alice, "shop", first, ca)
    await domain(alice, "shop", "www.example.com")
    await manager.reconcile()
    assert await presented(port, "www.example.com", trusting(ca)) == first.der

    renewed = make_leaf(ca, "www.example.com")
    body = {"certificate_chain": renewed.chain(ca), "private_key": renewed.key_pem}
    r = await alice.patch(f"/apps/shop/sni-endpoints/{endpoint['name']}", json=body)
    assert r.status_code == 200
    await manager.reconcile()
    assert await presented(port, "www.example.com", trusting(ca)) == renewed.der

    r = await alice.patch(f"/apps/shop/ssl-endpoints/{endpoint['name']}", json={"rollback": True})
    assert r.status_code == 200
    await manager.reconcile()
    assert await presented(port, "www.example.com", trusting(ca)) == first.der

    assert (await alice.delete(f"/apps/shop/sni-endpoints/{endpoint['id']}")).status_code == 200
    await manager.reconcile()
    assert await presented(port, "www.example.com", anything()) == tenku_der(settings)
    assert manager.certificates.hosts == frozenset()

    # A domain removed, or moved to another app, stops being served with the certificate.
    again = await uploaded(alice, "shop", first, ca)
    await manager.reconcile()
    assert manager.certificates.hosts == {"www.example.com"}
    assert (await alice.delete("/apps/shop/domains/www.example.com")).status_code == 200
    await manager.reconcile()
    assert manager.certificates.hosts == frozenset()
    assert again["name"]


async def test_a_key_that_does_not_open_leaves_tenkus_certificate(
    alice: User,
    api: ApiClient,
    manager: DynoManager,
    router: Router,
    ca: Issued,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = router.https_port
    assert port is not None
    await alice.create_app("shop")
    broken = await uploaded(alice, "shop", make_leaf(ca, "www.example.com"), ca)
    fine = make_leaf(ca, "api.example.com")
    await uploaded(alice, "shop", fine, ca)
    await domain(alice, "shop", "www.example.com")
    await domain(alice, "shop", "api.example.com")
    # As if the installation's key had changed since the upload.
    async with api.database.session(write=True) as db:
        await db.execute(
            update(SniEndpoint)
            .where(SniEndpoint.id == uuid.UUID(broken["id"]))
            .values(private_key="v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        )
        await db.commit()
    with caplog.at_level(logging.WARNING, logger="tenku.runtime.certificates"):
        await manager.reconcile()
        await manager.reconcile()
    assert await presented(port, "www.example.com", anything()) == tenku_der(settings)
    assert await presented(port, "api.example.com", trusting(ca)) == fine.der
    # Said once, not on every pass.
    assert caplog.text.count("cannot be served") == 1
