"""SNI (SSL) endpoints through HTTP: both paths, the checks on what is uploaded, the sealed
keys, rollback, and domains that name an endpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import verification
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import SniEndpoint
from tenku.resources.sni_endpoint import certs
from tenku.resources.sni_endpoint.service import seal_context
from tenku.storage.sealing import Sealer
from tenku.storage.signing import load_secret
from tests.certificates import DAY, Issued, make_ca, make_leaf
from tests.conftest import ApiClient, User

PATHS = ("ssl-endpoints", "sni-endpoints")
BROKEN_PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture(scope="module")
def www(ca: Issued) -> Issued:
    return make_leaf(ca, "www.example.com", "example.com")


def upload(leaf: Issued, *issuers: Issued) -> dict[str, str]:
    return {"certificate_chain": leaf.chain(*issuers), "private_key": leaf.key_pem}


async def added(user: User, app: str, body: dict[str, Any], path: str = "sni-endpoints") -> Any:
    r = await user.post(f"/apps/{app}/{path}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def stored(api: ApiClient, endpoint_id: str) -> SniEndpoint:
    async with api.database.session(write=False) as db:
        row = (
            await db.execute(select(SniEndpoint).where(SniEndpoint.id == uuid.UUID(endpoint_id)))
        ).scalar_one()
    return row


@pytest.mark.parametrize("path", PATHS)
async def test_create_describes_the_certificate(
    alice: User, ca: Issued, www: Issued, path: str
) -> None:
    app = await alice.create_app("shop")
    created = await added(alice, "shop", upload(www, ca), path)
    assert created["name"]
    assert created["app"] == {"id": app["id"], "name": "shop"}
    assert created["cname"] == "shop.tenku.localhost"
    assert created["certificate_chain"] == www.pem + ca.pem
    assert created["domains"] == []
    assert created["display_name"] is None
    cert = created["ssl_cert"]
    assert cert["cert_domains"] == ["www.example.com", "example.com"]
    assert cert["subject"] == "/C=US/O=Tenku Tests/CN=www.example.com"
    assert cert["issuer"] == "/C=US/O=Tenku Tests/CN=Tenku Test CA"
    assert cert["expires_at"] == stamp(www.cert.not_valid_after_utc)
    assert cert["starts_at"] == stamp(www.cert.not_valid_before_utc)
    # Issued by a CA no machine trusts, and not by itself.
    assert cert["ca_signed?"] is False
    assert cert["self_signed?"] is False
    uuid.UUID(cert["id"])
    # The key is never given back, in any form.
    assert "private_key" not in created
    assert "PRIVATE KEY" not in str(created)


async def test_both_paths_serve_the_same_endpoints(alice: User, ca: Issued, www: Issued) -> None:
    await alice.create_app("shop")
    one = await added(alice, "shop", upload(www, ca), "ssl-endpoints")
    two = await added(alice, "shop", upload(make_leaf(ca, "api.example.com"), ca))
    for path in PATHS:
        r = await alice.get(f"/apps/shop/{path}")
        assert r.status_code == 200
        assert sorted(e["id"] for e in r.json()) == sorted([one["id"], two["id"]])
        assert r.headers["Accept-Ranges"] == "id, name"
        for ident in (one["id"], one["name"]):
            r = await alice.get(f"/apps/shop/{path}/{ident}")
            assert r.status_code == 200
            assert r.json() == one
    assert one["name"] != two["name"]


async def test_private_keys_are_sealed_with_the_installation_key(
    alice: User, api: ApiClient, ca: Issued, www: Issued, settings: Settings
) -> None:
    await alice.create_app("shop")
    created = await added(alice, "shop", upload(www, ca))
    row = await stored(api, created["id"])
    assert "PRIVATE KEY" not in row.private_key
    sealer = Sealer(load_secret(settings.data_dir, settings.secret_key))
    key = serialization.load_pem_private_key(
        sealer.open(row.private_key, seal_context(row.id)), password=None
    )
    assert key.public_key() == www.key.public_key()
    # Bound to its row: the same value does not open as another endpoint's key.
    with pytest.raises(Exception, match="does not open"):
        sealer.open(row.private_key, seal_context(uuid.uuid4()))
    with pytest.raises(Exception, match="does not open"):
        Sealer(b"another installation").open(row.private_key, seal_context(row.id))


def _garbage_bodies(ca: Issued, www: Issued) -> dict[str, tuple[dict[str, Any], str]]:
    other = make_leaf(ca, "www.example.com")
    expired = make_leaf(ca, "old.example.com", starts=-30 * DAY, expires_in=-DAY)
    stranger = make_ca("Some Other CA")
    impostor = make_ca("Tenku Test CA")  # the right name, not the right key
    encrypted = www.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    return {
        "garbage chain": (
            {"certificate_chain": "hello", "private_key": www.key_pem},
            "no -----BEGIN CERTIFICATE----- block",
        ),
        "broken pem": (
            {
                "certificate_chain": BROKEN_PEM,
                "private_key": www.key_pem,
            },
            "cannot be read",
        ),
        "garbage key": (
            {"certificate_chain": www.pem, "private_key": "-----BEGIN PRIVATE KEY-----\nx"},
            "not a valid PEM private key",
        ),
        "encrypted key": (
            {"certificate_chain": www.pem, "private_key": encrypted},
            "passphrase",
        ),
        "key of another certificate": (
            {"certificate_chain": www.pem, "private_key": other.key_pem},
            "does not match the certificate",
        ),
        "expired": (upload(expired, ca), "expired on"),
        "unrelated certificate in the chain": (
            {"certificate_chain": www.chain(ca, stranger), "private_key": www.key_pem},
            "does not verify",
        ),
        "issuer with the right name and the wrong key": (
            {"certificate_chain": www.chain(impostor), "private_key": www.key_pem},
            "does not verify",
        ),
        "missing key": ({"certificate_chain": www.pem}, "private_key"),
        "not a string": ({"certificate_chain": 42, "private_key": www.key_pem}, "certificate"),
    }


async def test_what_cannot_be_served_is_refused_with_a_reason(
    alice: User, ca: Issued, www: Issued
) -> None:
    await alice.create_app("shop")
    for case, (body, says) in _garbage_bodies(ca, www).items():
        for path in PATHS:
            r = await alice.post(f"/apps/shop/{path}", json=body)
            assert r.status_code == 422, (case, r.text)
            assert r.json()["id"] == "invalid_params", case
            assert says in r.json()["message"], (case, r.json()["message"])
    assert (await alice.get("/apps/shop/sni-endpoints")).json() == []


async def test_keys_openssl_will_not_serve_are_refused(alice: User, ca: Issued) -> None:
    await alice.create_app("shop")
    weak = make_leaf(ca, "weak.example.com", kind="rsa1024")
    r = await alice.post("/apps/shop/sni-endpoints", json=upload(weak, ca))
    assert r.status_code == 422, r.text
    assert "cannot be served over TLS" in r.json()["message"]


async def test_an_rsa_certificate_in_pkcs8_is_accepted(alice: User, ca: Issued) -> None:
    await alice.create_app("shop")
    leaf = make_leaf(ca, "rsa.example.com", kind="rsa")
    pkcs8 = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    created = await added(
        alice, "shop", {"certificate_chain": leaf.chain(ca), "private_key": pkcs8}
    )
    assert created["ssl_cert"]["cert_domains"] == ["rsa.example.com"]


async def test_self_signed_certificates(alice: User) -> None:
    await alice.create_app("shop")
    alone = make_leaf(None, "self.example.com")
    created = await added(alice, "shop", upload(alone))
    assert created["ssl_cert"]["self_signed?"] is True
    assert created["ssl_cert"]["ca_signed?"] is False
    assert created["ssl_cert"]["issuer"] == created["ssl_cert"]["subject"]


async def test_ca_signed_means_trusted_by_this_machine(
    alice: User, ca: Issued, www: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    await alice.create_app("shop")
    # As if the test CA were among the machine's trusted authorities.
    monkeypatch.setattr(certs, "_trusted", lambda: verification.Store([ca.cert]))
    trusted = await added(alice, "shop", upload(www, ca))
    assert trusted["ssl_cert"]["ca_signed?"] is True
    stranger = make_leaf(make_ca("Some Other CA"), "api.example.com")
    assert (await added(alice, "shop", upload(stranger)))["ssl_cert"]["ca_signed?"] is False


async def test_preprocess_puts_the_chain_in_order(alice: User, ca: Issued) -> None:
    await alice.create_app("shop")
    intermediate = make_ca("Tenku Test Intermediate", issuer=ca)
    leaf = make_leaf(intermediate, "deep.example.com")
    shuffled = {"certificate_chain": leaf.chain(ca, intermediate), "private_key": leaf.key_pem}
    created = await added(alice, "shop", shuffled)
    assert created["certificate_chain"] == leaf.chain(intermediate, ca)

    r = await alice.post("/apps/shop/ssl-endpoints", json={**shuffled, "preprocess": False})
    assert r.status_code == 422
    assert "was not signed by the one after it" in r.json()["message"]
    as_given = {"certificate_chain": leaf.chain(intermediate, ca), "private_key": leaf.key_pem}
    kept = await added(alice, "shop", {**as_given, "preprocess": False}, "ssl-endpoints")
    assert kept["certificate_chain"] == leaf.chain(intermediate, ca)


@pytest.mark.parametrize("path", PATHS)
async def test_update_and_rollback(
    alice: User, api: ApiClient, ca: Issued, www: Issued, path: str
) -> None:
    await alice.create_app("shop")
    first = await added(alice, "shop", upload(www, ca), path)
    url = f"/apps/shop/{path}/{first['name']}"

    r = await alice.patch(url, json={"rollback": True})
    assert r.status_code == 422
    assert "no previous certificate" in r.json()["message"]

    renewed = make_leaf(ca, "www.example.com", "example.com", expires_in=200 * DAY)
    r = await alice.patch(url, json=upload(renewed, ca))
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["id"] == first["id"]
    assert second["name"] == first["name"]
    assert second["certificate_chain"] == renewed.pem + ca.pem
    assert second["ssl_cert"]["id"] != first["ssl_cert"]["id"]
    assert second["ssl_cert"]["expires_at"] == stamp(renewed.cert.not_valid_after_utc)
    assert (await alice.get(url)).json() == second

    r = await alice.patch(url, json={"rollback": True})
    assert r.status_code == 200, r.text
    back = r.json()
    assert back["certificate_chain"] == first["certificate_chain"]
    assert back["ssl_cert"]["expires_at"] == first["ssl_cert"]["expires_at"]
    row = await stored(api, first["id"])
    assert row.previous_chain == second["certificate_chain"]

    # A key alone must match the certificate being served.
    r = await alice.patch(url, json={"private_key": renewed.key_pem})
    assert r.status_code == 422
    assert "does not match" in r.json()["message"]
    # A chain alone must match the key being served.
    same_key = make_leaf(ca, "www.example.com")
    r = await alice.patch(url, json={"certificate_chain": same_key.pem})
    assert r.status_code == 422
    r = await alice.patch(url, json={})
    assert r.status_code == 422
    r = await alice.patch(url, json={"rollback": True, "private_key": www.key_pem})
    assert r.status_code == 422
    assert (await alice.get(url)).json() == back


async def test_a_chain_alone_may_replace_one_for_the_same_key(
    alice: User, ca: Issued, www: Issued
) -> None:
    await alice.create_app("shop")
    created = await added(alice, "shop", upload(www, ca))
    # Re-issued for the same key (a renewal keeping the key).
    now = datetime.now(UTC)
    reissued = (
        x509.CertificateBuilder()
        .subject_name(www.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(www.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 300 * DAY)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    chain = reissued.public_bytes(serialization.Encoding.PEM).decode() + ca.pem
    r = await alice.patch(
        f"/apps/shop/sni-endpoints/{created['id']}", json={"certificate_chain": chain}
    )
    assert r.status_code == 200, r.text
    assert r.json()["ssl_cert"]["cert_domains"] == ["www.example.com"]


@pytest.mark.parametrize("path", PATHS)
async def test_delete(alice: User, ca: Issued, www: Issued, path: str) -> None:
    await alice.create_app("shop")
    created = await added(alice, "shop", upload(www, ca), path)
    r = await alice.post(
        "/apps/shop/domains", json={"hostname": "www.example.com", "sni_endpoint": created["name"]}
    )
    assert r.status_code == 201, r.text
    domain = r.json()

    r = await alice.delete(f"/apps/shop/{path}/{created['name']}")
    assert r.status_code == 200
    assert r.json()["id"] == created["id"]
    assert r.json()["domains"] == [domain["id"]]
    r = await alice.get(f"/apps/shop/{path}/{created['name']}")
    assert r.status_code == 404
    assert r.json()["resource"] == "sni_endpoint"
    # The domain stays, served by no certificate of its own.
    r = await alice.get("/apps/shop/domains/www.example.com")
    assert r.json()["sni_endpoint"] is None
    assert (await alice.delete(f"/apps/shop/{path}/{created['name']}")).status_code == 404


async def test_domains_name_their_endpoint(alice: User, ca: Issued, www: Issued) -> None:
    await alice.create_app("shop")
    endpoint = await added(alice, "shop", upload(www, ca))
    other = await added(alice, "shop", upload(make_leaf(ca, "*.example.com"), ca))
    ref = {"id": endpoint["id"], "name": endpoint["name"]}

    r = await alice.post(
        "/apps/shop/domains", json={"hostname": "www.example.com", "sni_endpoint": endpoint["id"]}
    )
    assert r.status_code == 201, r.text
    www_domain = r.json()
    assert www_domain["sni_endpoint"] == ref
    r = await alice.post("/apps/shop/domains", json={"hostname": "example.com"})
    apex = r.json()
    assert apex["sni_endpoint"] is None

    # domains:update --cert NAME, and certs:add's association, send the name.
    r = await alice.patch("/apps/shop/domains/example.com", json={"sni_endpoint": endpoint["name"]})
    assert r.status_code == 200, r.text
    assert r.json()["sni_endpoint"] == ref
    listed = {d["hostname"]: d for d in (await alice.get("/apps/shop/domains")).json()}
    assert listed["example.com"]["sni_endpoint"] == ref
    assert listed["shop.tenku.localhost"]["sni_endpoint"] is None
    shown = (await alice.get(f"/apps/shop/sni-endpoints/{endpoint['name']}")).json()
    assert shown["domains"] == [www_domain["id"], apex["id"]]

    # The wildcard covers www but not the apex.
    r = await alice.patch("/apps/shop/domains/example.com", json={"sni_endpoint": other["name"]})
    assert r.status_code == 422
    assert "does not cover example.com" in r.json()["message"]
    r = await alice.patch(
        f"/apps/shop/domains/{www_domain['id']}", json={"sni_endpoint": other["name"]}
    )
    assert r.status_code == 200
    assert r.json()["sni_endpoint"]["name"] == other["name"]

    # A new certificate must go on covering the domains that use it.
    r = await alice.patch(
        f"/apps/shop/sni-endpoints/{endpoint['name']}",
        json=upload(make_leaf(ca, "shop.example.org"), ca),
    )
    assert r.status_code == 422
    assert "does not cover example.com" in r.json()["message"]

    r = await alice.patch("/apps/shop/domains/example.com", json={"sni_endpoint": None})
    assert r.status_code == 200
    assert r.json()["sni_endpoint"] is None
    r = await alice.patch("/apps/shop/domains/example.com", json={})
    assert r.status_code == 422
    r = await alice.patch("/apps/shop/domains/example.com", json={"sni_endpoint": "tokyo-123"})
    assert r.status_code == 404
    assert r.json()["resource"] == "sni_endpoint"
    r = await alice.patch(
        "/apps/shop/domains/shop.tenku.localhost", json={"sni_endpoint": endpoint["name"]}
    )
    assert r.status_code == 422


async def test_endpoints_belong_to_their_app(
    alice: User, bob: User, api: ApiClient, ca: Issued, www: Issued
) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    endpoint = await added(alice, "shop", upload(www, ca))
    # Another app of the same owner cannot name it.
    r = await alice.get(f"/apps/blog/sni-endpoints/{endpoint['name']}")
    assert r.status_code == 404
    r = await alice.post(
        "/apps/blog/domains", json={"hostname": "www.example.com", "sni_endpoint": endpoint["id"]}
    )
    assert r.status_code == 404
    # Someone without access to the app gets nothing.
    for path in PATHS:
        assert (await bob.get(f"/apps/shop/{path}")).status_code == 403
        assert (await bob.get(f"/apps/shop/{path}/{endpoint['name']}")).status_code == 403
        assert (await bob.post(f"/apps/shop/{path}", json=upload(www, ca))).status_code == 403
        assert (
            await bob.patch(f"/apps/shop/{path}/{endpoint['name']}", json={"rollback": True})
        ).status_code == 403
        assert (await bob.delete(f"/apps/shop/{path}/{endpoint['name']}")).status_code == 403
    assert (
        await bob.patch("/apps/shop/domains/shop.tenku.localhost", json={"sni_endpoint": None})
    ).status_code == 403
    # A read-only token reads but does not change.
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/apps/shop/sni-endpoints")).status_code == 200
    r = await reader.post("/apps/shop/sni-endpoints", json=upload(www, ca))
    assert r.status_code == 403
    assert (await reader.delete(f"/apps/shop/sni-endpoints/{endpoint['name']}")).status_code == 403
    assert len((await alice.get("/apps/shop/sni-endpoints")).json()) == 1


async def test_a_collaborator_may_manage_certificates(
    alice: User, bob: User, ca: Issued, www: Issued
) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    assert r.status_code == 201
    created = await added(bob, "shop", upload(www, ca))
    assert (await bob.delete(f"/apps/shop/sni-endpoints/{created['id']}")).status_code == 200


async def test_deleting_the_app_deletes_its_endpoints(
    alice: User, api: ApiClient, ca: Issued, www: Issued
) -> None:
    await alice.create_app("shop")
    created = await added(alice, "shop", upload(www, ca))
    await alice.post(
        "/apps/shop/domains", json={"hostname": "www.example.com", "sni_endpoint": created["id"]}
    )
    assert (await alice.delete("/apps/shop")).status_code == 200
    async with api.database.session(write=False) as db:
        left = (await db.execute(select(SniEndpoint.id))).all()
    assert left == []
