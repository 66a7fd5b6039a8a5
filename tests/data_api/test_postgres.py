"""The Postgres Data API through HTTP, against the machine's PostgreSQL (the add-on server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import psycopg
import pytest

from tenku.addons.postgres import names_for
from tests.addons.support import PG_ADMIN, config_of, release_texts
from tests.conftest import ApiClient, User
from tests.data_api.support import Setup, team_viewer, with_addon

PLAN = "heroku-postgresql:hobby-dev"


@pytest.fixture
async def setup(alice: User) -> Setup:
    return await with_addon(alice, PLAN)


def _as_admin(
    addon_id: str, query: str, params: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    database, _ = names_for(uuid.UUID(addon_id))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _password_is(addon_id: str, role: str, password: str) -> bool:
    """Whether the server holds `password` for `role` (the machine's server trusts local
    connections, so logging in proves nothing): its SCRAM verifier checked."""
    [(verifier,)] = _as_admin(
        addon_id, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
    )
    method, _, rest = str(verifier).partition("$")
    params, _, keys = rest.partition("$")
    iterations, _, salt = params.partition(":")
    stored_key, _, _ = keys.partition(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(
        stored_key
    )


def _as(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


async def _url(setup: Setup) -> str:
    return (await config_of(setup.owner, setup.app))["DATABASE_URL"]


def _info(body: dict[str, object]) -> dict[str, str]:
    items = body["info"]
    assert isinstance(items, list)
    return {item["name"]: item["values"][0] for item in items}


async def test_info_reads_the_database(setup: Setup) -> None:
    url = await _url(setup)
    _as(url, "CREATE TABLE one (x int); CREATE TABLE two (y int)")
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)):
        r = await setup.owner.get(f"/client/v11/databases/{setup.id}")
    assert r.status_code == 200, r.text
    body = r.json()
    info = _info(body)
    assert info["Plan"] == "Hobby Dev"
    assert info["Status"] == "Available"
    assert info["Tables"] == "2"
    # The connection held open above, and no other.
    assert info["Connections"] == "1/20"
    assert info["Fork/Follow"] == "Unsupported"
    version = _as(url, "SHOW server_version")[0][0]
    assert info["PG Version"] == str(version).split()[0] == body["postgres_version"]
    size = _as(url, "SELECT pg_database_size(current_database())")[0][0]
    assert abs(body["num_bytes"] - int(str(size))) < 1024 * 1024
    assert body["num_tables"] == 2
    assert body["waiting?"] is False
    assert (body["database_name"], body["database_user"]) == names_for(uuid.UUID(setup.id))
    # Where the database is, without the password: pg:info matches it to the config vars.
    assert body["resource_url"] == url.replace(url.split("//")[1].split("@")[0] + "@", "")
    # By name too.
    by_name = await setup.owner.get(f"/client/v11/databases/{setup.name}")
    assert by_name.json()["addon_id"] == setup.id


async def test_wait_status(setup: Setup) -> None:
    r = await setup.owner.get(f"/client/v11/databases/{setup.id}/wait_status")
    assert r.status_code == 200, r.text
    assert r.json() == {"waiting?": False, "error?": False, "message": "Available"}


async def test_unknown_and_other_services_are_not_found(setup: Setup, alice: User) -> None:
    r = await alice.get(f"/client/v11/databases/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["id"] == "not_found"
    redis = await with_addon(alice, "heroku-redis:hobby-dev")
    r = await alice.get(f"/client/v11/databases/{redis.id}")
    assert r.status_code == 404


async def test_default_credential_is_the_addons_url(setup: Setup) -> None:
    url = await _url(setup)
    r = await setup.owner.get(f"/postgres/v0/databases/{setup.name}/credentials")
    assert r.status_code == 200, r.text
    [default] = r.json()
    assert default["name"] == "default"
    assert default["state"] == "active"
    [user] = default["credentials"]
    assert f"postgres://{user['user']}:{user['password']}@" in url
    assert url.endswith(f":{default['port']}/{default['database']}")
    r = await setup.owner.get(f"/postgres/v0/databases/{setup.name}/credentials/default")
    assert r.json() == default


async def test_named_credential_connects_and_has_no_privileges(setup: Setup) -> None:
    _as(await _url(setup), "CREATE TABLE secrets (x int); INSERT INTO secrets VALUES (1)")
    r = await setup.owner.post(
        f"/postgres/v0/databases/{setup.name}/credentials", json={"name": "reader"}
    )
    assert r.status_code == 201, r.text
    [user] = r.json()["credentials"]
    database, role = names_for(uuid.UUID(setup.id))
    assert user["user"] == f"{role}_reader"
    url = f"postgresql://{user['user']}:{user['password']}@127.0.0.1:5432/{database}"
    assert _as(url, "SELECT current_user") == [(f"{role}_reader",)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(url, "SELECT * FROM public.secrets")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(url, "CREATE TABLE public.mine (x int)")
    # The owner grants it more, as on Heroku.
    _as(
        await _url(setup),
        f"GRANT USAGE ON SCHEMA public TO {role}_reader; GRANT SELECT ON secrets TO {role}_reader",
    )
    assert _as(url, "SELECT * FROM public.secrets") == [(1,)]
    names = [
        c["name"]
        for c in (await setup.owner.get(f"/postgres/v0/databases/{setup.name}/credentials")).json()
    ]
    assert names == ["default", "reader"]
    again = await setup.owner.post(
        f"/postgres/v0/databases/{setup.name}/credentials", json={"name": "reader"}
    )
    assert again.status_code == 422


@pytest.mark.parametrize("name", ["default", "Upper", "1st", "a-b", "x" * 49, ""])
async def test_bad_credential_names(setup: Setup, name: str) -> None:
    r = await setup.owner.post(
        f"/postgres/v0/databases/{setup.name}/credentials", json={"name": name}
    )
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_rotating_a_named_credential(setup: Setup) -> None:
    path = f"/postgres/v0/databases/{setup.name}/credentials"
    made = (await setup.owner.post(path, json={"name": "x"})).json()
    old = made["credentials"][0]
    r = await setup.owner.post(f"{path}/x/credentials_rotation", json={"forced": True})
    assert r.status_code == 200, r.text
    new = (await setup.owner.get(f"{path}/x")).json()["credentials"][0]
    assert new["password"] != old["password"]
    assert _password_is(setup.id, new["user"], new["password"])
    assert not _password_is(setup.id, old["user"], old["password"])


async def test_rotating_the_default_credential_releases_the_new_url(setup: Setup) -> None:
    old = await _url(setup)
    path = f"/postgres/v0/databases/{setup.name}/credentials/default/credentials_rotation"
    r = await setup.owner.post(path, json={})
    assert r.status_code == 200, r.text
    new = await _url(setup)
    assert new != old
    _, role = names_for(uuid.UUID(setup.id))
    new_password = new.split("//")[1].split("@")[0].split(":")[1]
    assert _password_is(setup.id, role, new_password)
    assert _as(new, "SELECT 1") == [(1,)]
    texts = await release_texts(setup.owner, setup.app)
    assert texts[-1] == "Update DATABASE by heroku-postgresql"


async def test_destroying_a_credential_hands_its_objects_to_the_default(setup: Setup) -> None:
    path = f"/postgres/v0/databases/{setup.name}/credentials"
    made = (await setup.owner.post(path, json={"name": "maker"})).json()
    user = made["credentials"][0]
    _as(await _url(setup), f"GRANT CREATE, USAGE ON SCHEMA public TO {user['user']}")
    url = f"postgresql://{user['user']}:{user['password']}@127.0.0.1:5432/{made['database']}"
    _as(url, "CREATE TABLE made (x int)")
    r = await setup.owner.delete(f"{path}/maker")
    assert r.status_code == 200, r.text
    _, role = names_for(uuid.UUID(setup.id))
    assert _as_admin(setup.id, "SELECT tableowner FROM pg_tables WHERE tablename = 'made'") == [
        (role,)
    ]
    assert not _as_admin(setup.id, "SELECT 1 FROM pg_roles WHERE rolname = %s", (user["user"],))
    assert (await setup.owner.get(f"{path}/maker")).status_code == 404
    assert (await setup.owner.delete(f"{path}/default")).status_code == 422


async def test_reset_empties_the_database(setup: Setup) -> None:
    url = await _url(setup)
    _as(url, "CREATE TABLE t (x int); CREATE SCHEMA extra; CREATE TABLE extra.u (y int)")
    r = await setup.owner.put(f"/client/v11/databases/{setup.id}/reset", json={})
    assert r.status_code == 200, r.text
    tables = _as(
        url,
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    assert tables == []
    _, role = names_for(uuid.UUID(setup.id))
    assert _as(
        url, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    ) == [(role,)]
    _as(url, "CREATE TABLE again (x int)")


async def test_reset_with_extensions(setup: Setup) -> None:
    url = await _url(setup)
    r = await setup.owner.put(
        f"/client/v11/databases/{setup.id}/reset", json={"extensions": ["pgcrypto"]}
    )
    assert r.status_code == 200, r.text
    assert _as(url, "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'") == [
        ("pgcrypto",)
    ]
    # An untrusted extension is refused before anything is dropped.
    _as(url, "CREATE TABLE kept (x int)")
    r = await setup.owner.put(
        f"/client/v11/databases/{setup.id}/reset", json={"extensions": ["file_fdw"]}
    )
    assert r.status_code == 422, r.text
    assert _as(url, "SELECT count(*) FROM kept") == [(0,)]


async def test_connection_reset_ends_connections(setup: Setup) -> None:
    url = (await _url(setup)).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as held:
        r = await setup.owner.post(f"/client/v11/databases/{setup.id}/connection_reset")
        assert r.status_code == 200, r.text
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")


async def test_rights(api: ApiClient, setup: Setup) -> None:
    outsider = await api.user()
    for path in (
        f"/client/v11/databases/{setup.id}",
        f"/postgres/v0/databases/{setup.name}/credentials",
    ):
        assert (await outsider.get(path)).status_code == 404
    r = await outsider.post(f"/client/v11/databases/{setup.id}/connection_reset")
    assert r.status_code == 404
    viewer = await team_viewer(api, setup)
    assert (await viewer.get(f"/client/v11/databases/{setup.id}")).status_code == 200
    r = await viewer.get(f"/postgres/v0/databases/{setup.name}/credentials")
    assert r.status_code == 403, r.text
    r = await viewer.get(f"/postgres/v0/databases/{setup.name}/credentials/default")
    assert r.status_code == 403
    r = await viewer.put(f"/client/v11/databases/{setup.id}/reset", json={})
    assert r.status_code == 403
    r = await viewer.post(f"/postgres/v0/databases/{setup.name}/credentials", json={"name": "mine"})
    assert r.status_code == 403
    # A token that may read apps but not their secrets sees the database, not its keys.
    reader = await api.token_for(setup.owner, ["read"])
    assert (await reader.get(f"/client/v11/databases/{setup.id}")).status_code == 200
    r = await reader.get(f"/postgres/v0/databases/{setup.name}/credentials")
    assert r.status_code == 403


async def test_maintenance_is_none(setup: Setup) -> None:
    r = await setup.owner.get(f"/data/maintenances/v1/{setup.id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "none"
    assert body["addon"]["name"] == setup.name
    assert body["app"]["name"] == setup.app


async def test_a_failed_rotation_puts_the_password_back(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenku.data_api.postgres import service
    from tenku.web.errors import Conflict

    async def fail(*_: object, **__: object) -> None:
        raise Conflict("the release could not be made")

    monkeypatch.setattr(service, "update_config", fail)
    url = await _url(setup)
    path = f"/postgres/v0/databases/{setup.name}/credentials/default/credentials_rotation"
    r = await setup.owner.post(path, json={})
    assert r.status_code == 409, r.text
    assert await _url(setup) == url
    _, role = names_for(uuid.UUID(setup.id))
    assert _password_is(setup.id, role, url.split("//")[1].split("@")[0].split(":")[1])


async def test_settings(setup: Setup) -> None:
    r = await setup.owner.get(f"/postgres/v0/databases/{setup.id}/config")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["log_lock_waits"]["value"] is False
    assert body["log_min_duration_statement"]["value"] == -1
    assert body["track_functions"]["value"] == "none"
    path = f"/postgres/v0/databases/{setup.id}/config"
    r = await setup.owner.patch(path, json={"track_functions": "pl"})
    assert r.status_code == 200, r.text
    assert r.json()["track_functions"]["value"] == "pl"
    assert _as(await _url(setup), "SHOW track_functions") == [("pl",)]
    r = await setup.owner.patch(path, json={"log_statement": "all"})
    assert r.status_code == 422
    assert (await setup.owner.patch(path, json={"track_functions": "x"})).status_code == 422


async def test_destroying_the_addon_drops_its_credentials(setup: Setup) -> None:
    path = f"/postgres/v0/databases/{setup.name}/credentials"
    user = (await setup.owner.post(path, json={"name": "gone"})).json()["credentials"][0]["user"]
    r = await setup.owner.delete(f"/apps/{setup.app}/addons/{setup.id}")
    assert r.status_code == 200, r.text
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchall()
