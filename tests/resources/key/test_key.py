from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, User

# Generated with ssh-keygen; fingerprints from `ssh-keygen -E md5 -lf`.
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPuhSBhMkq2syybe4gRWQ1EE22H9B/mgEUUsBbbjSyNw alice@laptop"
)
ED25519_MD5 = "c6:34:34:f5:54:bd:6d:5d:f2:d1:0f:5c:c4:ff:ff:11"
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCwSlDVPX2GzfblA9gZ6hdJQBSTGDYcdHa2Gkz5po6vBAU7wQBlPJTDjq"
    "cMgaldwQK6wHBNTFGZeo7QNBCAHHoWNpXpiI3evZzSZWzqODm1kmlc3yf2kdvF0FlOdOeW1AXhs2CnAgPvuAH2cbZXPC2S"
    "xIG+vKr17cF06zx7bHrHBQ== bob@desk"
)
RSA_MD5 = "a0:1a:bf:6e:66:06:d4:ad:6f:0b:fd:ad:37:23:02:93"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJ+0JTNvnXxtP3d4whj95D"
    "tUEIcwClvCgPduxXoumqTWk9W7DbAOgp0pguu50+n0yg5C+yW9tFb5w07wM2gwCwA="
)
ECDSA_MD5 = "fe:ea:b5:59:f1:7c:58:73:3d:5e:a8:92:ed:0f:f0:a7"
OTHER_ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDGB/3Oww9wk9+ltHGFBzsamGWkiYQPIYilk4sj2tZIg carol@host"
)
OTHER_ED25519_MD5 = "f1:d4:7a:86:71:53:72:32:63:a4:b5:9a:db:cd:64:a1"


async def _fingerprints(user: User) -> list[str]:
    r = await user.get("/account/keys")
    assert r.status_code == 200, r.text
    return sorted(k["fingerprint"] for k in r.json())


async def test_add_key_as_the_cli_sends_it(alice: User) -> None:
    r = await alice.post("/account/keys", json={"public_key": ED25519 + "\n"})
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["fingerprint"] == ED25519_MD5
    assert key["comment"] == "alice@laptop"
    assert key["email"] == alice.email
    assert key["public_key"] == ED25519
    r = await alice.get("/account/keys")
    assert r.headers["Accept-Ranges"] == "fingerprint, id"
    assert r.json() == [key]


@pytest.mark.parametrize(
    ("public_key", "fingerprint", "comment"),
    [
        (RSA, RSA_MD5, "bob@desk"),
        (ECDSA, ECDSA_MD5, ""),
        (
            "  " + OTHER_ED25519.replace(" carol@host", "   my laptop key ") + "\r\n",
            OTHER_ED25519_MD5,
            "my laptop key",
        ),
    ],
)
async def test_key_types_and_comments(
    alice: User, public_key: str, fingerprint: str, comment: str
) -> None:
    r = await alice.post("/account/keys", json={"public_key": public_key})
    assert r.status_code == 201, r.text
    assert r.json()["fingerprint"] == fingerprint
    assert r.json()["comment"] == comment
    assert r.json()["public_key"].startswith(public_key.split(maxsplit=1)[0] + " AAAA")


async def test_info_by_id_and_fingerprint(alice: User) -> None:
    created = (await alice.post("/account/keys", json={"public_key": ED25519})).json()
    for ident in (created["id"], ED25519_MD5, ED25519_MD5.upper()):
        r = await alice.get(f"/account/keys/{ident}")
        assert r.status_code == 200, ident
        assert r.json() == created


async def test_missing_key_is_404(alice: User) -> None:
    for ident in (ED25519_MD5, "01234567-89ab-cdef-0123-456789abcdef"):
        r = await alice.get(f"/account/keys/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "key"


async def test_delete_key(alice: User) -> None:
    created = (await alice.post("/account/keys", json={"public_key": ED25519})).json()
    other = (await alice.post("/account/keys", json={"public_key": RSA})).json()
    r = await alice.delete(f"/account/keys/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    r = await alice.delete(f"/account/keys/{RSA_MD5}")
    assert r.status_code == 200
    assert r.json() == other
    assert await _fingerprints(alice) == []
    assert (await alice.delete(f"/account/keys/{created['id']}")).status_code == 404
    # A removed key may be registered again.
    assert (await alice.post("/account/keys", json={"public_key": ED25519})).status_code == 201


@pytest.mark.parametrize(
    "public_key",
    [
        "",
        "ssh-ed25519",
        "not a key",
        "ssh-ed25519 AAAA!!!notbase64",
        "ssh-rsa " + ED25519.split()[1],
        "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIPuhSBhMkq2syybe4gRWQ1EE22H9B/mgEUUsBbbjSyNw",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPuhSBhMkq2syybe4gRWQ1EE22H9B/mgEUUs",
        ED25519 + "\n" + RSA,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
        "ssh-ëd25519 AAAA",
    ],
)
async def test_invalid_key_is_422(alice: User, public_key: str) -> None:
    r = await alice.post("/account/keys", json={"public_key": public_key})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert await _fingerprints(alice) == []


@pytest.mark.parametrize("body", [{}, {"public_key": None}, {"public_key": 1}])
async def test_missing_public_key_is_422(alice: User, body: dict[str, Any]) -> None:
    r = await alice.post("/account/keys", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"


async def test_key_in_use_by_anyone_is_422(alice: User, bob: User) -> None:
    assert (await alice.post("/account/keys", json={"public_key": ED25519})).status_code == 201
    for user in (alice, bob):
        # Same key material, different comment: still the same fingerprint.
        r = await user.post("/account/keys", json={"public_key": ED25519.replace("alice", "x")})
        assert r.status_code == 422
        assert r.json() == {"id": "invalid_params", "message": "Key already in use"}
    assert await _fingerprints(bob) == []
    assert await _fingerprints(alice) == [ED25519_MD5]


async def test_users_see_only_their_own_keys(alice: User, bob: User) -> None:
    alices = (await alice.post("/account/keys", json={"public_key": ED25519})).json()
    (await bob.post("/account/keys", json={"public_key": RSA})).json()
    assert await _fingerprints(alice) == [ED25519_MD5]
    assert await _fingerprints(bob) == [RSA_MD5]
    for ident in (alices["id"], ED25519_MD5):
        r = await bob.get(f"/account/keys/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "key"
        assert (await bob.delete(f"/account/keys/{ident}")).status_code == 404
    assert await _fingerprints(alice) == [ED25519_MD5]


async def test_scopes(api: ApiClient, alice: User) -> None:
    await alice.post("/account/keys", json={"public_key": ED25519})
    reader = await api.token_for(alice, ["identity"])
    r = await reader.get("/account/keys")
    assert r.status_code == 200
    assert [k["fingerprint"] for k in r.json()] == [ED25519_MD5]
    assert (await reader.get(f"/account/keys/{ED25519_MD5}")).status_code == 200
    r = await reader.post("/account/keys", json={"public_key": RSA})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    assert (await reader.delete(f"/account/keys/{ED25519_MD5}")).status_code == 403
    app_reader = await api.token_for(alice, ["read", "write"])
    assert (await app_reader.get("/account/keys")).status_code == 403
    assert await _fingerprints(alice) == [ED25519_MD5]


async def test_range_paging_by_fingerprint(alice: User) -> None:
    for key in (ED25519, RSA, ECDSA):
        await alice.post("/account/keys", json={"public_key": key})
    expected = sorted([ED25519_MD5, RSA_MD5, ECDSA_MD5])
    r = await alice.get("/account/keys", headers={"Range": "fingerprint ..; max=2"})
    assert r.status_code == 206
    assert [k["fingerprint"] for k in r.json()] == expected[:2]
    r = await alice.get("/account/keys", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [k["fingerprint"] for k in r.json()] == expected[2:]
    assert "Next-Range" not in r.headers
