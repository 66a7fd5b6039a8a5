"""The dyno manager's passes: each app's state reaches the scheduler when, and only when,
something it is made of changed, and the route table always follows the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, insert, select, update

from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import App, Dyno, RuntimeChange
from tenku.router import Backend
from tenku.runtime import dynos
from tenku.runtime.dynos import FULL_EVERY, DynoManager
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.scheduler import AppState
from tenku.storage.blobs import DirectoryBlobStore
from tests.conftest import ApiClient, User
from tests.resources.slug.test_slugs import uploaded


class Recorder:
    """A scheduler that runs nothing and remembers every state it is given."""

    def __init__(self, manager: DynoManager) -> None:
        self.states: list[AppState] = []
        self.known: set[uuid.UUID] = set()
        self.removed: list[uuid.UUID] = []

    async def recover(self) -> None:
        pass

    async def apply(self, state: AppState) -> None:
        self.states.append(state)
        self.known.add(state.app_id)

    async def remove(self, app_id: uuid.UUID) -> None:
        self.known.discard(app_id)
        self.removed.append(app_id)

    def apps(self) -> set[uuid.UUID]:
        return set(self.known)

    def backends(self, app_id: uuid.UUID) -> tuple[Backend, ...]:
        return ()

    def web_state(self, app_id: uuid.UUID) -> str:
        return "none"

    async def attachment(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> Attachment | None:
        return None

    async def close(self) -> None:
        pass


@pytest.fixture
def manager(settings: Settings, database: Database) -> DynoManager:
    return DynoManager(
        settings,
        database,
        DirectoryBlobStore(settings.data_dir / "blobs"),
        Recorder,
        "test-runner",
    )


async def applied(manager: DynoManager) -> list[str]:
    """One pass; the names of the apps whose state it handed to the scheduler."""
    recorder = manager.scheduler
    assert isinstance(recorder, Recorder)
    before = len(recorder.states)
    await manager.reconcile()
    return sorted(state.app_name for state in recorder.states[before:])


async def deployed(user: User, api: ApiClient, name: str) -> dict[str, Any]:
    app = await user.create_app(name)
    slug = await uploaded(user, api, name)
    r = await user.post(f"/apps/{name}/releases", json={"slug": slug})
    assert r.status_code == 201, r.text
    return app


async def test_only_changed_apps_are_applied(
    alice: User, api: ApiClient, manager: DynoManager, settings: Settings
) -> None:
    await deployed(alice, api, "rc-one")
    await deployed(alice, api, "rc-two")
    await alice.create_app("rc-bare")

    assert await applied(manager) == ["rc-bare", "rc-one", "rc-two"]
    # That pass created web.1 rows for both deployed apps; they are read back once.
    assert await applied(manager) == ["rc-one", "rc-two"]
    assert await applied(manager) == []
    state = manager.scheduler.states[-1]  # type: ignore[attr-defined]
    assert set(state.dyno_ids) == {"web.1"}

    # A new release (config change): only that app.
    r = await alice.patch("/apps/rc-one/config-vars", json={"COLOR": "blue"})
    assert r.status_code == 200
    assert await applied(manager) == ["rc-one"]
    # Its dyno row now points at the new release; reading that back applies it once more.
    assert await applied(manager) == ["rc-one"]
    assert await applied(manager) == []
    latest = manager.scheduler.states[-1]  # type: ignore[attr-defined]
    assert latest.release is not None
    assert latest.release.config["COLOR"] == "blue"

    # Formation, features and restart requests each count as a change.
    r = await alice.patch("/apps/rc-two/formation/web", json={"quantity": 2})
    assert r.status_code == 200, r.text
    assert await applied(manager) == ["rc-two"]
    assert await applied(manager) == ["rc-two"]  # the web.2 row it created
    assert await applied(manager) == []
    r = await alice.patch("/apps/rc-one/features/preboot", json={"enabled": True})
    assert r.status_code == 200, r.text
    assert await applied(manager) == ["rc-one"]
    assert manager.scheduler.states[-1].preboot  # type: ignore[attr-defined]
    r = await alice.patch("/apps/rc-one/features/log-runtime-metrics", json={"enabled": True})
    assert r.status_code == 200, r.text
    assert await applied(manager) == ["rc-one"]
    assert manager.scheduler.states[-1].runtime_metrics  # type: ignore[attr-defined]
    assert (await alice.delete("/apps/rc-two/dynos/web.1")).status_code == 202
    assert await applied(manager) == ["rc-two"]
    assert manager.scheduler.states[-1].restarts == {"web.1"}  # type: ignore[attr-defined]
    assert await applied(manager) == ["rc-two"]  # the request, cleared
    assert manager.scheduler.states[-1].restarts == set()  # type: ignore[attr-defined]
    assert await applied(manager) == []


class Clock:
    """Stands in for `time` in the dyno manager's module: monotonic seconds set by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_every_app_is_applied_now_and_then(
    alice: User, api: ApiClient, manager: DynoManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(dynos, "time", clock)
    await alice.create_app("rc-quiet")
    assert await applied(manager) == ["rc-quiet"]
    # However many passes run meanwhile (writes wake one every PASS_GAP), none reads every
    # app again until FULL_EVERY seconds have gone by.
    for _ in range(100):
        clock.now += (FULL_EVERY - 1) / 100
        assert await applied(manager) == []
    clock.now += 1.5
    assert await applied(manager) == ["rc-quiet"]
    clock.now += 1
    assert await applied(manager) == []


async def test_routes_follow_domains_and_maintenance_and_deleted_apps_go(
    alice: User, api: ApiClient, manager: DynoManager, settings: Settings
) -> None:
    app = await deployed(alice, api, "rc-web")
    await manager.reconcile()
    host = f"rc-web.{settings.base_domain}"
    target = await manager.lookup(host)
    assert target is not None
    assert target.app_id == uuid.UUID(app["id"])
    assert not target.maintenance
    assert await manager.lookup("www.example.com") is None

    assert not target.affinity
    r = await alice.patch("/apps/rc-web/features/http-session-affinity", json={"enabled": True})
    assert r.status_code == 200, r.text
    r = await alice.post("/apps/rc-web/domains", json={"hostname": "www.example.com"})
    assert r.status_code == 201, r.text
    assert (await alice.patch("/apps/rc-web", json={"maintenance": True})).status_code == 200
    await manager.reconcile()
    custom = await manager.lookup("WWW.example.com.")
    assert custom is not None
    assert custom.app_name == "rc-web"
    assert custom.maintenance
    assert custom.affinity

    assert (await alice.delete("/apps/rc-web")).status_code == 200
    assert await applied(manager) == []
    assert await manager.lookup(host) is None
    assert await manager.lookup("www.example.com") is None
    assert manager.scheduler.removed == [uuid.UUID(app["id"])]  # type: ignore[attr-defined]


async def journal(database: Database) -> list[uuid.UUID | None]:
    async with database.session(write=False) as db:
        rows = await db.execute(select(RuntimeChange.app_id).order_by(RuntimeChange.seq))
        return list(rows.scalars())


async def test_a_pass_reads_only_the_journaled_apps_and_empties_the_journal(
    alice: User, api: ApiClient, manager: DynoManager, database: Database
) -> None:
    one = await deployed(alice, api, "rc-j-one")
    await deployed(alice, api, "rc-j-two")
    await manager.reconcile()
    await manager.reconcile()
    assert await journal(database) == []

    r = await alice.patch("/apps/rc-j-one/config-vars", json={"COLOR": "red"})
    assert r.status_code == 200
    assert set(await journal(database)) == {uuid.UUID(one["id"])}
    scopes: list[set[uuid.UUID] | None] = []
    snapshot = manager._snapshot

    async def spy(scope: set[uuid.UUID] | None) -> Any:
        scopes.append(None if scope is None else set(scope))
        return await snapshot(scope)

    manager._snapshot = spy  # type: ignore[method-assign]
    assert await applied(manager) == ["rc-j-one"]
    assert scopes == [{uuid.UUID(one["id"])}]
    # With nothing journaled, a pass reads no app at all.
    await manager.reconcile()  # the dyno row pointed at the new release
    scopes.clear()
    assert await applied(manager) == []
    assert scopes == []
    assert await journal(database) == []


async def test_an_entry_committed_late_with_a_smaller_number_is_not_lost(
    alice: User, api: ApiClient, manager: DynoManager, database: Database
) -> None:
    """PostgreSQL hands out sequence numbers at insert, so a transaction that commits
    after a pass may carry a number below the ones that pass already applied."""
    late = await alice.create_app("rc-late")
    await alice.create_app("rc-early")
    assert await applied(manager) == ["rc-early", "rc-late"]
    r = await alice.patch("/apps/rc-early", json={"maintenance": True})
    assert r.status_code == 200
    async with database.session(write=True) as db:
        await db.execute(delete(RuntimeChange))
        await db.execute(insert(RuntimeChange).values(seq=1_000_000, app_id=None))
        await db.commit()
    # (every app: a full pass)
    assert await applied(manager) == ["rc-early"]
    async with database.session(write=True) as db:
        await db.execute(insert(RuntimeChange).values(seq=5, app_id=uuid.UUID(late["id"])))
        await db.execute(
            update(App)
            .where(App.id == uuid.UUID(late["id"]))
            .values(maintenance=True)
            .execution_options(runtime_apps=())
        )
        await db.commit()
    assert await applied(manager) == ["rc-late"]
    assert await journal(database) == []


async def test_writes_name_their_apps_and_unplaceable_ones_name_every_app(
    alice: User, api: ApiClient, database: Database
) -> None:
    app = await alice.create_app("rc-names")
    app_id = uuid.UUID(app["id"])
    async with database.session(write=True) as db:
        await db.execute(delete(RuntimeChange))
        await db.commit()
    async with database.session(write=True) as db:
        # By the app in the WHERE clause (as releases lock their app)...
        await db.execute(update(App).where(App.id == app_id).values(release_seq=App.release_seq))
        await db.execute(
            update(Dyno)
            .where(Dyno.app_id.in_([app_id]), Dyno.oneoff.is_(False))
            .values(restart_requested=True)
        )
        await db.commit()
    assert await journal(database) == [app_id]
    async with database.session(write=True) as db:
        await db.execute(delete(RuntimeChange))
        # ...by the app a statement built once with a bound parameter is given...
        once = update(App).where(App.id == bindparam("key", type_=App.id.type))
        await db.execute(once.values(release_seq=App.release_seq), {"key": app_id})
        await db.commit()
    assert await journal(database) == [app_id]
    async with database.session(write=True) as db:
        # ...and where the statement does not say, every app.
        await db.execute(update(Dyno).where(Dyno.size == "basic").values(size="basic"))
        await db.execute(update(App).where(App.id == app_id).values(maintenance=False))
        await db.commit()
    assert await journal(database) == [app_id, None]
    async with database.session(write=True) as db:
        await db.execute(delete(RuntimeChange))
        await db.commit()
    # A transaction that rolls back leaves nothing behind.
    async with database.session(write=True) as db:
        await db.execute(update(App).where(App.id == app_id).values(maintenance=True))
        await db.rollback()
    assert await journal(database) == []
    # Tables the runtime does not read are not journaled.
    r = await alice.patch("/account", json={"name": "Alice Again"})
    assert r.status_code == 200, r.text
    assert await journal(database) == []
