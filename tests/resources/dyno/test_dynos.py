from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tenku.config import Settings
from tenku.db.models import App, Dyno
from tenku.resources.dyno import service
from tenku.resources.dyno.schemas import DynoOut
from tests.conftest import ApiClient, User
from tests.logs.test_store import messages
from tests.resources.formation.test_formation import deploy

PROCFILE = {"web": "python app.py", "worker": "python worker.py"}
ONE_OFF_NAME = re.compile(r"^run\.(\d{4})$")
LONG_AGO = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
async def shop(alice: User) -> dict[str, Any]:
    app = await alice.create_app("shop")
    app["release"] = await deploy(alice, app, PROCFILE)
    return app


async def add_dyno(
    api: ApiClient,
    app: dict[str, Any],
    name: str,
    *,
    oneoff: bool = False,
    state: str = "up",
    runner: str | None = None,
) -> uuid.UUID:
    """A dyno row as the runtime (formation) or an earlier run (one-off) leaves it."""
    async with api.database.session(write=True) as db:
        dyno = Dyno(
            app_id=uuid.UUID(app["id"]),
            name=name,
            type=name.partition(".")[0],
            size="Standard-1X",
            command="python app.py",
            release_id=uuid.UUID(app["release"]["id"]),
            release_version=app["release"]["version"],
            state=state,
            oneoff=oneoff,
            runner=runner,
            created_at=LONG_AGO,
            updated_at=LONG_AGO,
        )
        db.add(dyno)
        await db.commit()
        return dyno.id


async def rows(api: ApiClient, app: dict[str, Any]) -> dict[str, Dyno]:
    async with api.database.session(write=False) as db:
        found = await db.execute(select(Dyno).where(Dyno.app_id == uuid.UUID(app["id"])))
        return {d.name: d for d in found.scalars()}


async def flags(api: ApiClient, app: dict[str, Any]) -> dict[str, tuple[bool, bool]]:
    """name -> (restart_requested, stop_requested)."""
    return {
        name: (d.restart_requested, d.stop_requested) for name, d in (await rows(api, app)).items()
    }


@pytest.fixture
async def running(api: ApiClient, shop: dict[str, Any]) -> dict[str, Any]:
    """Two web dynos, a worker and a detached one-off."""
    for name in ("web.1", "web.2", "worker.1"):
        await add_dyno(api, shop, name)
    await add_dyno(api, shop, "run.4242", oneoff=True)
    return shop


# Create


async def test_run_attached(
    api: ApiClient, alice: User, shop: dict[str, Any], settings: Settings
) -> None:
    r = await alice.post(
        "/apps/shop/dynos",
        json={
            "attach": True,
            "command": "bash",
            "env": {"TERM": "xterm", "COLUMNS": 80, "LINES": 24},
            "time_to_live": 1800,
        },
    )
    assert r.status_code == 201, r.text
    dyno = r.json()
    m = re.match(
        rf"^rendezvous://127\.0\.0\.1:{settings.rendezvous_port}/([\w-]+)$", dyno["attach_url"]
    )
    assert m, dyno["attach_url"]
    secret = m.group(1)
    assert len(secret) >= 40
    assert ONE_OFF_NAME.match(dyno["name"])
    assert 1000 <= int(dyno["name"].split(".")[1]) <= 9999
    assert dyno["type"] == "run"
    assert dyno["command"] == "bash"
    assert dyno["state"] == "starting"
    assert dyno["size"] == "Standard-1X"
    assert dyno["app"] == {"id": shop["id"], "name": "shop"}
    assert dyno["release"] == {"id": shop["release"]["id"], "version": shop["release"]["version"]}

    row = (await rows(api, shop))[dyno["name"]]
    assert str(row.id) == dyno["id"]
    assert row.oneoff
    assert row.attach
    assert row.tty
    assert row.attach_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert row.env == {"TERM": "xterm", "COLUMNS": "80", "LINES": "24"}
    assert row.time_to_live == 1800
    assert not row.restart_requested
    assert not row.stop_requested
    # Nothing stored holds the secret itself.
    assert all(secret not in str(getattr(row, c.key)) for c in Dyno.__table__.columns)


async def test_run_detached(api: ApiClient, alice: User, shop: dict[str, Any]) -> None:
    r = await alice.post(
        "/apps/shop/dynos",
        json={"attach": False, "command": "python task.py", "force_no_tty": True, "size": None},
    )
    assert r.status_code == 201, r.text
    assert r.json()["attach_url"] is None
    row = (await rows(api, shop))[r.json()["name"]]
    assert row.attach is False
    assert row.attach_digest is None
    assert row.tty is False
    assert row.env == {}
    assert row.time_to_live is None
    # `attach` defaults to false (heroku3 sends it; the reference makes it optional).
    r = await alice.post("/apps/shop/dynos", json={"command": "ls", "force_no_tty": None})
    assert r.status_code == 201
    assert r.json()["attach_url"] is None
    assert (await rows(api, shop))[r.json()["name"]].tty is True


async def test_list_and_info_show_the_run(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.post("/apps/shop/dynos", json={"attach": True, "command": "bash"})
    created = r.json()
    listed = (await alice.get("/apps/shop/dynos")).json()
    assert [d["name"] for d in listed] == [created["name"]]
    # The secret is only in the create answer.
    assert listed[0] == {**created, "attach_url": None}
    by_name = await alice.get(f"/apps/shop/dynos/{created['name']}")
    by_id = await alice.get(f"/apps/{shop['id']}/dynos/{created['id']}")
    assert by_name.status_code == by_id.status_code == 200
    assert by_name.json() == by_id.json() == listed[0]


async def test_type_and_size(api: ApiClient, alice: User, shop: dict[str, Any]) -> None:
    r = await alice.post(
        "/apps/shop/dynos", json={"command": "rake jobs", "type": "scheduler", "size": "2x"}
    )
    assert r.status_code == 201, r.text
    assert re.match(r"^scheduler\.\d{4}$", r.json()["name"])
    assert r.json()["type"] == "scheduler"
    assert r.json()["size"] == "Standard-2X"
    r = await alice.post("/apps/shop/dynos", json={"command": "x", "size": "performance-l"})
    assert r.json()["size"] == "Performance-L"
    r = await alice.post("/apps/shop/dynos", json={"command": "x", "type": None})
    assert r.json()["type"] == "run"


async def test_unknown_size_is_422(alice: User, shop: dict[str, Any]) -> None:
    r = await alice.post("/apps/shop/dynos", json={"command": "bash", "size": "huge"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "huge" in r.json()["message"]
    assert "size" in r.json()["message"]


async def test_an_app_without_a_slug_cannot_run(alice: User) -> None:
    await alice.create_app("empty-app")
    r = await alice.post("/apps/empty-app/dynos", json={"command": "bash"})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "deploy it first" in r.json()["message"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"attach": True},
        {"command": ""},
        {"command": "   "},
        {"command": 5},
        {"command": None},
        {"command": ["bash"]},
        {"command": "a\x00b"},
        {"command": "x", "attach": "maybe"},
        {"command": "x", "force_no_tty": "perhaps"},
        {"command": "x", "env": "A=1"},
        {"command": "x", "env": ["A=1"]},
        {"command": "x", "env": {"A": {"b": 1}}},
        {"command": "x", "env": {"A": [1]}},
        {"command": "x", "env": {"": "1"}},
        {"command": "x", "env": {"A=B": "1"}},
        {"command": "x", "env": {"A": "a\x00b"}},
        {"command": "x", "size": 2},
        {"command": "x", "size": ""},
        {"command": "x", "time_to_live": 0},
        {"command": "x", "time_to_live": -5},
        {"command": "x", "time_to_live": True},
        {"command": "x", "time_to_live": 1.5},
        {"command": "x", "time_to_live": "soon"},
        {"command": "x", "time_to_live": 2**40},
        {"command": "x", "type": ""},
        {"command": "x", "type": "two words"},
        {"command": "x", "type": "run.1"},
        {"command": "x", "type": "ünïcode"},
        {"command": "x", "type": "a" * 60},
        {"command": "x", "type": 5},
    ],
)
async def test_bad_body_is_422(alice: User, shop: dict[str, Any], payload: Any) -> None:
    r = await alice.post("/apps/shop/dynos", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


@pytest.mark.parametrize("raw", [b"{broken", b"[]", b'"bash"', b"5"])
async def test_body_not_an_object_is_400(alice: User, shop: dict[str, Any], raw: bytes) -> None:
    r = await alice.post(
        "/apps/shop/dynos", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["id"] == "bad_request"


async def test_env_values_as_clients_send_them(
    api: ApiClient, alice: User, shop: dict[str, Any]
) -> None:
    r = await alice.post(
        "/apps/shop/dynos",
        json={
            "command": "env",
            "env": {
                "COLUMNS": 80,
                "RATIO": 1.5,
                "WIDE": 80.0,
                "ON": True,
                "OFF": False,
                "NO": None,
            },
            "unknown_field": "ignored",
        },
    )
    assert r.status_code == 201, r.text
    row = (await rows(api, shop))[r.json()["name"]]
    assert row.env == {"COLUMNS": "80", "RATIO": "1.5", "WIDE": "80", "ON": "true", "OFF": "false"}


async def test_names_are_unique_per_app(
    api: ApiClient, alice: User, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A random number that always lands on run.1000 forces the search for a free one.
    monkeypatch.setattr(service.secrets, "randbelow", lambda _: 0)
    names = set()
    for _ in range(3):
        r = await alice.post("/apps/shop/dynos", json={"command": "true"})
        assert r.status_code == 201, r.text
        names.add(r.json()["name"])
    assert len(names) == 3
    assert "run.1000" in names
    assert all(ONE_OFF_NAME.match(n) for n in names)
    # Other apps have their own names.
    other = await alice.create_app("other-app")
    other["release"] = await deploy(alice, other, PROCFILE)
    r = await alice.post("/apps/other-app/dynos", json={"command": "true"})
    assert r.json()["name"] == "run.1000"


async def test_a_name_taken_meanwhile_is_retried(
    api: ApiClient, alice: User, running: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if a concurrent request took run.4242 between the choice and the insert.
    offered = iter(["run.4242", "run.5555"])

    async def racing(*_: Any) -> str:
        return next(offered)

    monkeypatch.setattr(service, "_free_name", racing)
    r = await alice.post("/apps/shop/dynos", json={"command": "bash", "attach": True})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "run.5555"
    assert set(await rows(api, running)) == {"web.1", "web.2", "worker.1", "run.4242", "run.5555"}
    assert (await messages(api, running["id"]))[-1].startswith("heroku[api]: Starting process")


async def test_starting_a_run_is_logged(api: ApiClient, alice: User, shop: dict[str, Any]) -> None:
    r = await alice.post("/apps/shop/dynos", json={"command": "rake db:migrate", "attach": True})
    assert r.status_code == 201
    got = await messages(api, shop["id"])
    assert got[-1] == (
        "heroku[api]: Starting process with command `rake db:migrate` by alice@example.com"
    )
    # A refused run logs nothing.
    r = await alice.post("/apps/shop/dynos", json={"command": "bash", "size": "huge"})
    assert r.status_code == 422
    assert len(await messages(api, shop["id"])) == len(got)


# Access


async def test_collaborators_run_and_strangers_are_refused(
    api: ApiClient, alice: User, bob: User, shop: dict[str, Any]
) -> None:
    carol = await api.user("carol@example.com")
    r = await alice.post("/apps/shop/collaborators", json={"user": carol.email})
    assert r.status_code == 201, r.text
    r = await carol.post("/apps/shop/dynos", json={"command": "bash", "attach": True})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert (await carol.get("/apps/shop/dynos")).status_code == 200
    assert (await carol.delete("/apps/shop/dynos")).status_code == 202
    got = await messages(api, shop["id"])
    assert got[-1].endswith("by carol@example.com")

    for r in [
        await bob.get("/apps/shop/dynos"),
        await bob.get(f"/apps/shop/dynos/{name}"),
        await bob.post("/apps/shop/dynos", json={"command": "bash"}),
        await bob.delete("/apps/shop/dynos"),
        await bob.delete(f"/apps/shop/dynos/{name}"),
        await bob.post(f"/apps/shop/dynos/{name}/actions/stop"),
        await bob.delete("/apps/shop/formations/web"),
        await bob.post("/apps/shop/formations/web/actions/stop"),
    ]:
        assert r.status_code == 403, r.text
        assert r.json()["id"] == "forbidden"
    assert set(await flags(api, shop)) == {name}
    assert await flags(api, shop) == {name: (False, False)}
    r = await bob.get("/apps/no-such-app/dynos")
    assert r.status_code == 404
    assert r.json()["resource"] == "app"


async def test_read_token_cannot_run_restart_or_stop(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/apps/shop/dynos")).status_code == 200
    assert (await reader.get("/apps/shop/dynos/web.1")).status_code == 200
    for r in [
        await reader.post("/apps/shop/dynos", json={"command": "bash"}),
        await reader.delete("/apps/shop/dynos"),
        await reader.delete("/apps/shop/dynos/web.1"),
        await reader.post("/apps/shop/dynos/web.1/actions/stop"),
        await reader.delete("/apps/shop/formations/web"),
        await reader.post("/apps/shop/formations/web/actions/stop"),
    ]:
        assert r.status_code == 403, r.text
    assert all(f == (False, False) for f in (await flags(api, running)).values())
    assert len(await rows(api, running)) == 4
    writer = await api.token_for(alice, ["write"])
    assert (await writer.delete("/apps/shop/dynos/web.1")).status_code == 202


# List and info


async def test_list_shows_every_dyno_by_name(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    await add_dyno(api, running, "run.1111", oneoff=True, state="complete")
    await add_dyno(api, running, "worker.2", state="crashed")
    r = await alice.get("/apps/shop/dynos")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id, name"
    listed = r.json()
    # One-offs that ended are gone.
    assert [d["name"] for d in listed] == ["run.4242", "web.1", "web.2", "worker.1", "worker.2"]
    web = listed[1]
    assert web["state"] == "up"
    assert web["type"] == "web"
    assert web["attach_url"] is None
    assert web["updated_at"] == "2020-01-02T03:04:05Z"
    assert listed[-1]["state"] == "crashed"
    r = await alice.get("/apps/shop/dynos/run.1111")
    assert r.status_code == 404


async def test_range_paging(api: ApiClient, alice: User, running: dict[str, Any]) -> None:
    r = await alice.get("/apps/shop/dynos", headers={"Range": "name ..; max=2"})
    assert r.status_code == 206
    assert [d["name"] for d in r.json()] == ["run.4242", "web.1"]
    r = await alice.get("/apps/shop/dynos", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [d["name"] for d in r.json()] == ["web.2", "worker.1"]
    r = await alice.get("/apps/shop/dynos", headers={"Range": "name ..; order=desc, max=1"})
    assert [d["name"] for d in r.json()] == ["worker.1"]


async def test_an_app_without_dynos_lists_none(alice: User) -> None:
    await alice.create_app("empty-app")
    r = await alice.get("/apps/empty-app/dynos")
    assert r.status_code == 200
    assert r.json() == []


async def test_unknown_dyno_is_404(alice: User, running: dict[str, Any]) -> None:
    for r in [
        await alice.get("/apps/shop/dynos/web.9"),
        await alice.get(f"/apps/shop/dynos/{uuid.uuid4()}"),
        await alice.delete("/apps/shop/dynos/web.9"),
        await alice.delete("/apps/shop/dynos/clock"),
        await alice.post("/apps/shop/dynos/web.9/actions/stop"),
        await alice.post("/apps/shop/dynos/clock/actions/stop"),
    ]:
        assert r.status_code == 404, r.text
        assert r.json()["id"] == "not_found"
        assert r.json()["resource"] == "dyno"


async def test_another_apps_dyno_is_404(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    other = await alice.create_app("other-app")
    other["release"] = await deploy(alice, other, PROCFILE)
    web1 = (await rows(api, running))["web.1"]
    assert (await alice.get(f"/apps/other-app/dynos/{web1.id}")).status_code == 404
    assert (await alice.delete(f"/apps/other-app/dynos/{web1.id}")).status_code == 404
    assert (await alice.delete("/apps/other-app/dynos/web.1")).status_code == 404


def test_a_dyno_whose_release_is_gone_shows_null() -> None:
    app = App(id=uuid.uuid4(), name="shop")
    row = Dyno(
        id=uuid.uuid4(),
        name="web.1",
        type="web",
        size="1x",
        command="python app.py",
        release_id=None,
        release_version=None,
        state="up",
        created_at=LONG_AGO,
        updated_at=LONG_AGO,
    )
    out = DynoOut.of(row, app, frozenset())
    assert out.release is None
    assert out.size == "Standard-1X"


# Restart


async def test_restart_all_spares_one_offs(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    r = await alice.delete("/apps/shop/dynos")
    assert r.status_code == 202
    assert r.json() == {}
    assert await flags(api, running) == {
        "web.1": (True, False),
        "web.2": (True, False),
        "worker.1": (True, False),
        "run.4242": (False, False),
    }
    # A request is not a change of state.
    assert all(d.updated_at == LONG_AGO for d in (await rows(api, running)).values())


async def test_restart_one_dyno_by_name_or_id(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    r = await alice.delete("/apps/shop/dynos/web.1")
    assert r.status_code == 202
    assert r.json() == {}
    worker = (await rows(api, running))["worker.1"]
    r = await alice.delete(f"/apps/{running['id']}/dynos/{worker.id}")
    assert r.status_code == 202
    assert await flags(api, running) == {
        "web.1": (True, False),
        "web.2": (False, False),
        "worker.1": (True, False),
        "run.4242": (False, False),
    }


async def test_restarting_a_one_off_stops_it(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    r = await alice.delete("/apps/shop/dynos/run.4242")
    assert r.status_code == 202
    assert (await flags(api, running))["run.4242"] == (False, True)


async def test_restart_a_process_type(api: ApiClient, alice: User, running: dict[str, Any]) -> None:
    # `ps:restart web`: a type in the dyno slot.
    r = await alice.delete(
        "/apps/shop/dynos/web", headers={"Accept": "application/vnd.heroku+json; version=3.sdk"}
    )
    assert r.status_code == 202
    assert r.json() == {}
    assert await flags(api, running) == {
        "web.1": (True, False),
        "web.2": (True, False),
        "worker.1": (False, False),
        "run.4242": (False, False),
    }


async def test_restart_a_formation_type(
    api: ApiClient, alice: User, running: dict[str, Any]
) -> None:
    # `ps:restart --process-type worker`.
    r = await alice.delete("/apps/shop/formations/worker")
    assert r.status_code == 202
    assert r.json() == {}
    assert await flags(api, running) == {
        "web.1": (False, False),
        "web.2": (False, False),
        "worker.1": (True, False),
        "run.4242": (False, False),
    }


async def test_unknown_formation_type_is_404(alice: User, running: dict[str, Any]) -> None:
    for r in [
        await alice.delete("/apps/shop/formations/clock"),
        await alice.post("/apps/shop/formations/clock/actions/stop"),
        # A one-off's type is not part of the formation.
        await alice.delete("/apps/shop/formations/run"),
    ]:
        assert r.status_code == 404, r.text
        assert r.json()["resource"] == "formation"


async def test_restart_with_nothing_running_is_accepted(
    api: ApiClient, alice: User, shop: dict[str, Any]
) -> None:
    assert (await alice.delete("/apps/shop/dynos")).status_code == 202
    assert (await alice.delete("/apps/shop/dynos/worker")).status_code == 202
    assert (await alice.delete("/apps/shop/formations/worker")).status_code == 202
    assert (await alice.post("/apps/shop/formations/worker/actions/stop")).status_code == 202
    assert await rows(api, shop) == {}
    await alice.create_app("empty-app")
    assert (await alice.delete("/apps/empty-app/dynos")).status_code == 202


# Stop


async def test_stop_one_dyno(api: ApiClient, alice: User, running: dict[str, Any]) -> None:
    r = await alice.post(
        "/apps/shop/dynos/web.1/actions/stop",
        headers={"Accept": "application/vnd.heroku+json; version=3.sdk"},
    )
    assert r.status_code == 202
    assert r.json() == {}
    r = await alice.post("/apps/shop/dynos/run.4242/actions/stop")
    assert r.status_code == 202
    assert await flags(api, running) == {
        "web.1": (False, True),
        "web.2": (False, False),
        "worker.1": (False, False),
        "run.4242": (False, True),
    }


async def test_stop_a_type(api: ApiClient, alice: User, running: dict[str, Any]) -> None:
    r = await alice.post("/apps/shop/formations/web/actions/stop")
    assert r.status_code == 202
    assert r.json() == {}
    # Older CLIs send `ps:stop worker` to the dyno slot.
    r = await alice.post("/apps/shop/dynos/worker/actions/stop")
    assert r.status_code == 202
    assert await flags(api, running) == {
        "web.1": (False, True),
        "web.2": (False, True),
        "worker.1": (False, True),
        "run.4242": (False, False),
    }


async def test_dynos_of_a_runtime_that_stopped_beating_are_not_up(
    alice: User, api: ApiClient, shop: dict[str, Any], settings: Settings
) -> None:
    """While no runtime runs (killed, not yet started again), its dynos are reported
    crashed; a runtime that beats keeps them up; rows no runtime claimed yet keep theirs."""
    from datetime import timedelta

    from tenku.db import liveness
    from tenku.db.base import utcnow
    from tenku.db.models import RuntimeBeat

    await add_dyno(api, shop, "web.1", runner="alive")
    await add_dyno(api, shop, "web.2", runner="dead")
    await add_dyno(api, shop, "worker.1", runner="never-beat")
    await add_dyno(api, shop, "web.3", state="starting")
    stale = utcnow() - timedelta(seconds=settings.runtime_heartbeat * liveness.STALE_BEATS + 1)
    async with api.database.session(write=True) as db:
        db.add(RuntimeBeat(runner="alive"))
        db.add(RuntimeBeat(runner="dead", started_at=stale, beat_at=stale))
        await db.commit()
    listed = (await alice.get("/apps/shop/dynos")).json()
    assert {d["name"]: d["state"] for d in listed} == {
        "web.1": "up",
        "web.2": "crashed",
        "worker.1": "crashed",
        "web.3": "starting",
    }
    assert (await alice.get("/apps/shop/dynos/web.2")).json()["state"] == "crashed"
    assert (await alice.get("/apps/shop/dynos/web.1")).json()["state"] == "up"
    # What is stored stays as the runtime wrote it: the next runtime takes over from there.
    assert (await rows(api, shop))["web.2"].state == "up"
