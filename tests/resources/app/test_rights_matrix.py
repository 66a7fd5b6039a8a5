"""Who may do what to an app, through HTTP: every kind of caller against one request of
each app-scoped endpoint family, allowed or refused with Heroku's 403.

What each family needs is written here, from the issue and Heroku's "App Permissions
and Allowed Actions" matrix, not read from `permissions.ACTIONS`: this checks the table.
A family lists the checks its request passes in order (`needs`), each a set of
privileges any one of which passes it; `own` is what a personal app's owner alone holds
and, on a team app, comes with `manage`. A caller who may not see the app at all gets
"You do not have access to the app" (or, for an add-on named on its own, a 404).

The callers and their apps are made once per database (team rows written directly: the
team endpoints are not what is under test); each request makes whatever it consumes (an
app to delete, a domain to remove) first, as the app's owner or a team admin.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from tenku.app import create_app
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.models import App, Collaborator, Team, TeamMember
from tests.addons.support import drop_redis, real_resources_cleanup
from tests.conftest import LOOPBACK, ApiClient, User, uid_base, wipe

__all__ = ["real_resources_cleanup"]  # add-ons made here are real Redis users: remove them

EVERYTHING = frozenset({"view", "deploy", "operate", "manage", "own"})
# Collaborators on a team app: their permissions on it.
TEAM_COLLABORATORS = {
    "c-view": ["view"],
    "c-deploy": ["view", "deploy"],
    "c-operate": ["view", "operate"],
    "c-manage": ["view", "manage"],
}


@dataclass(frozen=True)
class Subject:
    id: str
    user: str
    app: str  # personal, team (unlocked) or locked
    holds: frozenset[str]


SUBJECTS = [
    Subject("personal-owner", "owner", "personal", EVERYTHING),
    Subject("personal-collaborator", "p-collab", "personal", EVERYTHING - {"own"}),
    Subject("team-admin", "admin", "team", EVERYTHING),
    # The team's member permissions are Heroku's default: view.
    Subject("team-member", "member", "team", frozenset({"view"})),
    Subject("team-member-locked-app", "member", "locked", frozenset()),
    Subject("team-viewer", "viewer", "team", frozenset({"view"})),
    Subject("team-collaborator-view", "c-view", "team", frozenset({"view"})),
    Subject("team-collaborator-deploy", "c-deploy", "team", frozenset({"view", "deploy"})),
    Subject("team-collaborator-operate", "c-operate", "team", frozenset({"view", "operate"})),
    Subject("team-collaborator-manage", "c-manage", "team", frozenset({"view", "manage", "own"})),
    # A collaborator of the team who was never added to this app.
    Subject("team-collaborator-none", "c-none", "team", frozenset()),
    Subject("outsider", "outsider", "personal", frozenset()),
]


@dataclass
class World:
    api: ApiClient
    team_id: uuid.UUID
    users: dict[str, User] = field(default_factory=dict)
    apps: dict[str, uuid.UUID] = field(default_factory=dict)
    # Each app's release of a slug, to roll back to.
    deployed: dict[str, str] = field(default_factory=dict)
    # An add-on of each app (id, name), for the requests that leave it as it is.
    addons: dict[str, tuple[uuid.UUID, str]] = field(default_factory=dict)

    def operator(self, kind: str) -> User:
        """Who holds everything on an app of this kind."""
        return self.users["owner" if kind == "personal" else "admin"]

    async def name_of(self, app_id: uuid.UUID) -> str:
        async with self.api.database.session(write=False) as db:
            app = await db.get(App, app_id)
            assert app is not None
            return app.name

    async def make_app(self, kind: str) -> uuid.UUID:
        """A fresh app of this kind, with the collaborators its subjects are."""
        made = await self.operator(kind).create_app(f"r{uuid.uuid4().hex[:10]}")
        app_id = uuid.UUID(made["id"])
        if kind == "personal":
            owner, collaborator = self.users["owner"], self.users["p-collab"]
            r = await owner.post(f"/apps/{app_id}/collaborators", json={"user": collaborator.email})
            assert r.status_code == 201, r.text
            return app_id
        async with self.api.database.session(write=True) as db:
            app = await db.get(App, app_id)
            assert app is not None
            app.organization_id = self.team_id
            app.owner_id = None
            app.locked = kind == "locked"
            await db.execute(delete(Collaborator).where(Collaborator.app_id == app_id))
            for key, permissions in TEAM_COLLABORATORS.items():
                account_id = self.users[key].id
                db.add(Collaborator(app_id=app_id, account_id=account_id, permissions=permissions))
            await db.commit()
        return app_id

    async def slug(self, kind: str, app_id: uuid.UUID) -> str:
        """A slug of the app, uploaded: ready to release."""
        path = f"/apps/{app_id}/slugs"
        made = await self.operator(kind).post(path, json={"process_types": {"web": "serve"}})
        assert made.status_code == 201, made.text
        put = httpx.URL(made.json()["blob"]["url"]).raw_path.decode()
        assert (await self.api.http.put(put, content=TARBALL)).status_code == 200
        slug_id: str = made.json()["id"]
        return slug_id


def _tarball() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = b"print('hi')\n"
        info = tarfile.TarInfo("./app/app.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


TARBALL = _tarball()


@pytest.fixture(scope="module")
async def world(
    database: Database,
    db_url: str,
    local_sources: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    await wipe(database)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("rights"),
        database_url=db_url,
        sandbox_uid_base=uid_base(),
        port=5000,
        allow_private_targets=LOOPBACK,
        local_source_dirs=(local_sources,),
        addon_unsafe_admin=True,
        rate_limit_per_hour=10**6,
    )
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as http:
        api = ApiClient(http, database)
        keys = ["owner", "p-collab", "admin", "member", "viewer", "outsider", "c-none"]
        users = {key: await api.user(f"{key}@rights.example.com") for key in keys}
        for key in TEAM_COLLABORATORS:
            users[key] = await api.user(f"{key}@rights.example.com")
        async with database.session(write=True) as db:
            team = Team(name="rights", member_permissions=["view"])
            db.add(team)
            await db.flush()
            roles = {
                "admin": "admin",
                "member": "member",
                "viewer": "viewer",
                "c-none": "collaborator",
            }
            roles.update(dict.fromkeys(TEAM_COLLABORATORS, "collaborator"))
            for key, role in roles.items():
                db.add(TeamMember(team_id=team.id, account_id=users[key].id, role=role))
            await db.commit()
            team_id = team.id
        found = World(api, team_id, users)
        for kind in ("personal", "team", "locked"):
            app_id = found.apps[kind] = await found.make_app(kind)
            # Deployed, so that there is a release to roll back to and a slug to run on.
            slug_id = await found.slug(kind, app_id)
            path = f"/apps/{app_id}/releases"
            r = await found.operator(kind).post(path, json={"slug": slug_id})
            assert r.status_code == 201, r.text
            found.deployed[kind] = str(r.json()["version"])
            r = await found.operator(kind).post(
                f"/apps/{app_id}/addons", json={"plan": "heroku-redis:hobby-dev"}
            )
            assert r.status_code == 201, r.text
            found.addons[kind] = (uuid.UUID(r.json()["id"]), r.json()["name"])
        try:
            yield found
        finally:
            for addon_id, _ in found.addons.values():
                drop_redis(addon_id)
    await app.state.ctx.ratelimiter.close()


@dataclass
class Call:
    """One request of a family: the caller, on an app it sees (or not) as its subject."""

    world: World
    user: User
    kind: str
    app_id: uuid.UUID
    # The app the request names: `app_id`, unless it made one of its own.
    target: uuid.UUID | None = None

    @property
    def path(self) -> str:
        return f"/apps/{self.app_id}"

    @property
    def operator(self) -> User:
        return self.world.operator(self.kind)

    async def shared_addon(self) -> str:
        return self.world.addons[self.kind][1]

    async def addon(self) -> str:
        r = await self.operator.post(f"{self.path}/addons", json={"plan": "heroku-redis:hobby-dev"})
        assert r.status_code == 201, r.text
        name: str = r.json()["name"]
        return name

    async def git(self, service: str) -> httpx.Response:
        name = await self.world.name_of(self.app_id)
        basic = base64.b64encode(f"heroku:{self.user.token}".encode()).decode()
        return await self.world.api.request(
            "GET",
            f"/{name}.git/info/refs?service={service}",
            headers={"Authorization": f"Basic {basic}"},
        )


async def _info(c: Call) -> httpx.Response:
    return await c.user.get(c.path)


async def _rename(c: Call) -> httpx.Response:
    return await c.user.patch(c.path, json={"name": f"n{uuid.uuid4().hex[:10]}"})


async def _maintenance(c: Call) -> httpx.Response:
    # On, then off again: each a change, so each is checked.
    first = await c.user.patch(c.path, json={"maintenance": True})
    if first.status_code != 200:
        return first
    return await c.user.patch(c.path, json={"maintenance": False})


async def _stack(c: Call) -> httpx.Response:
    async with c.world.api.database.session(write=False) as db:
        app = await db.get(App, c.app_id)
        assert app is not None
        other = "heroku-22" if app.build_stack != "heroku-22" else "heroku-24"
    return await c.user.patch(c.path, json={"build_stack": other})


async def _delete(c: Call) -> httpx.Response:
    c.target = await c.world.make_app(c.kind)
    return await c.user.delete(f"/apps/{c.target}")


async def _config_read(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/config-vars")


async def _config_edit(c: Call) -> httpx.Response:
    return await c.user.patch(f"{c.path}/config-vars", json={"RIGHTS": "checked"})


async def _releases(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/releases")


async def _rollback(c: Call) -> httpx.Response:
    version = c.world.deployed[c.kind]
    return await c.user.post(f"{c.path}/releases", json={"release": version})


async def _slug_release(c: Call) -> httpx.Response:
    slug_id = await c.world.slug(c.kind, c.app_id)
    return await c.user.post(f"{c.path}/releases", json={"slug": slug_id})


async def _slug_info(c: Call) -> httpx.Response:
    # Its blob URL downloads the app's code.
    slug_id = await c.world.slug(c.kind, c.app_id)
    return await c.user.get(f"{c.path}/slugs/{slug_id}")


async def _build(c: Call) -> httpx.Response:
    blob = {"url": "https://example.com/source.tgz", "version": "v1"}
    return await c.user.post(f"{c.path}/builds", json={"source_blob": blob})


async def _source(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/sources")


async def _buildpacks(c: Call) -> httpx.Response:
    updates = [{"buildpack": "heroku/python"}]
    return await c.user.put(f"{c.path}/buildpack-installations", json={"updates": updates})


async def _dynos(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/dynos")


async def _run(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/dynos", json={"command": "echo hi", "attach": False})


async def _restart(c: Call) -> httpx.Response:
    return await c.user.delete(f"{c.path}/dynos")


async def _stop(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/dynos/web/actions/stop")


async def _scale(c: Call) -> httpx.Response:
    updates = [{"type": "web", "quantity": 0, "size": "Standard-1X"}]
    return await c.user.patch(f"{c.path}/formation", json={"updates": updates})


async def _addons(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/addons")


async def _addon_create(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/addons", json={"plan": "heroku-redis:hobby-dev"})


async def _addon_create_paid(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/addons", json={"plan": "heroku-redis:mini"})


async def _addon_delete(c: Call) -> httpx.Response:
    name = await c.addon()
    return await c.user.delete(f"{c.path}/addons/{name}")


async def _addon_config(c: Call) -> httpx.Response:
    name = await c.shared_addon()
    return await c.user.get(f"/addons/{name}/config")


async def _addon_attach(c: Call) -> httpx.Response:
    # Named in the body, not the path: the add-on and the app it is attached to.
    name = await c.shared_addon()
    body = {"addon": name, "app": str(c.app_id), "name": f"EXTRA_{uuid.uuid4().hex[:6].upper()}"}
    return await c.user.post("/addon-attachments", json=body)


async def _domains(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/domains")


def _hostname() -> str:
    return f"d{uuid.uuid4().hex[:10]}.example.com"


async def _domain_add(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/domains", json={"hostname": _hostname()})


async def _domain_delete(c: Call) -> httpx.Response:
    hostname = _hostname()
    made = await c.operator.post(f"{c.path}/domains", json={"hostname": hostname})
    assert made.status_code == 201, made.text
    return await c.user.delete(f"{c.path}/domains/{hostname}")


async def _drains(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/log-drains")


def _drain_url() -> str:
    return f"https://drain.example.com/{uuid.uuid4().hex}"


async def _drain_add(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/log-drains", json={"url": _drain_url()})


async def _drain_delete(c: Call) -> httpx.Response:
    made = await c.operator.post(f"{c.path}/log-drains", json={"url": _drain_url()})
    assert made.status_code == 201, made.text
    return await c.user.delete(f"{c.path}/log-drains/{made.json()['id']}")


async def _log_session(c: Call) -> httpx.Response:
    return await c.user.post(f"{c.path}/log-sessions", json={"lines": 10})


async def _features(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/features")


async def _feature_update(c: Call) -> httpx.Response:
    return await c.user.patch(f"{c.path}/features/preboot", json={"enabled": True})


async def _collaborators(c: Call) -> httpx.Response:
    return await c.user.get(f"{c.path}/collaborators")


async def _collaborator_add(c: Call) -> httpx.Response:
    spare = await c.world.api.user()
    return await c.user.post(f"{c.path}/collaborators", json={"user": spare.email})


async def _collaborator_remove(c: Call) -> httpx.Response:
    spare = await c.world.api.user()
    made = await c.operator.post(f"{c.path}/collaborators", json={"user": spare.email})
    assert made.status_code == 201, made.text
    return await c.user.delete(f"{c.path}/collaborators/{spare.email}")


async def _git_fetch(c: Call) -> httpx.Response:
    return await c.git("git-upload-pack")


async def _git_push(c: Call) -> httpx.Response:
    return await c.git("git-receive-pack")


VIEW = ("view",)
DEPLOY = ("deploy",)
DEPLOY_OR_OPERATE = ("deploy", "operate")
OPERATE = ("operate",)
MANAGE = ("manage",)
OWN = ("own",)


@dataclass(frozen=True)
class Family:
    id: str
    act: Callable[[Call], Awaitable[httpx.Response]]
    needs: tuple[tuple[str, ...], ...]
    # What an allowed caller gets.
    ok: frozenset[int]
    # What a caller who cannot see the app gets (a 404 where the add-on is named alone).
    unseen: int = 403


def fam(
    id: str,
    act: Callable[[Call], Awaitable[httpx.Response]],
    *needs: tuple[str, ...],
    ok: int | tuple[int, ...] = 200,
    unseen: int = 403,
) -> Family:
    statuses = frozenset(ok if isinstance(ok, tuple) else (ok,))
    return Family(id, act, needs, statuses, unseen)


FAMILIES = [
    fam("app-info", _info, VIEW),
    # Renaming, deleting and access are `manage` on a team app, the owner's on a personal one.
    fam("rename", _rename, OWN),
    fam("maintenance", _maintenance, DEPLOY_OR_OPERATE),
    fam("stack", _stack, OPERATE),
    fam("delete", _delete, OWN),
    fam("config-read", _config_read, DEPLOY_OR_OPERATE),
    fam("config-edit", _config_edit, DEPLOY_OR_OPERATE),
    fam("releases", _releases, VIEW, ok=(200, 206)),
    fam("rollback", _rollback, DEPLOY_OR_OPERATE, ok=201),
    fam("slug-release", _slug_release, DEPLOY, ok=201),
    fam("slug-info", _slug_info, DEPLOY),
    fam("build", _build, DEPLOY, ok=201),
    fam("source", _source, DEPLOY, ok=201),
    fam("buildpacks", _buildpacks, DEPLOY),
    fam("dynos", _dynos, VIEW, ok=(200, 206)),
    fam("run", _run, DEPLOY_OR_OPERATE, ok=201),
    fam("restart", _restart, OPERATE, ok=202),
    fam("stop", _stop, OPERATE, ok=202),
    fam("scale", _scale, OPERATE),
    fam("addons", _addons, VIEW, ok=(200, 206)),
    fam("addon-create", _addon_create, DEPLOY_OR_OPERATE, ok=201),
    # Free add-ons first, then paid ones on top.
    fam("addon-create-paid", _addon_create_paid, DEPLOY_OR_OPERATE, OPERATE, ok=201),
    fam("addon-delete", _addon_delete, DEPLOY_OR_OPERATE),
    fam("addon-config", _addon_config, DEPLOY_OR_OPERATE, unseen=404),
    fam("addon-attach", _addon_attach, DEPLOY_OR_OPERATE, ok=201, unseen=404),
    fam("domains", _domains, VIEW, ok=(200, 206)),
    fam("domain-add", _domain_add, MANAGE, ok=201),
    fam("domain-delete", _domain_delete, MANAGE),
    fam("drains", _drains, VIEW, ok=(200, 206)),
    fam("drain-add", _drain_add, OPERATE, ok=201),
    fam("drain-delete", _drain_delete, OPERATE),
    fam("log-session", _log_session, VIEW, ok=201),
    fam("features", _features, VIEW, ok=(200, 206)),
    fam("feature-update", _feature_update, MANAGE),
    fam("collaborators", _collaborators, VIEW, ok=(200, 206)),
    fam("collaborator-add", _collaborator_add, OWN, ok=201),
    fam("collaborator-remove", _collaborator_remove, OWN),
    fam("git-fetch", _git_fetch, DEPLOY),
    fam("git-push", _git_push, DEPLOY),
]


def refusal(subject: Subject, family: Family, name: str) -> tuple[int, str] | None:
    """The status and message the subject should get, or None where it is allowed."""
    if not subject.holds:
        if family.unseen == 404:
            return 404, "Couldn't find that add-on."
        return 403, f"You do not have access to the app {name}."
    for need in family.needs:
        if subject.holds & set(need):
            continue
        if need == OWN and subject.app == "personal":
            return 403, "Only its owner can do that."
        wanted = " or ".join("manage" if p == "own" else p for p in need)
        return 403, f"You need to have the {wanted} permission on this app."
    return None


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.id)
@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.id)
async def test_rights(world: World, subject: Subject, family: Family) -> None:
    app_id = world.apps[subject.app]
    call = Call(world, world.users[subject.user], subject.app, app_id)
    r = await family.act(call)
    if refusal(subject, family, "") is None:
        assert r.status_code in family.ok, r.text
        return
    expected = refusal(subject, family, await world.name_of(call.target or app_id))
    assert expected is not None
    status, message = expected
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    if status == 403:
        assert body["id"] == "forbidden"
    if message.startswith("You do not") or status == 404:
        assert body["message"] == message
    else:
        assert body["message"].startswith("You do not have permission to "), body
        assert body["message"].endswith(message), body


def _need(body: dict[str, Any], wanted: str) -> None:
    assert body["id"] == "forbidden", body
    assert body["message"].endswith(f"You need to have the {wanted} permission on this app."), body


async def test_changing_to_a_paid_plan_takes_operate(world: World) -> None:
    call = Call(world, world.users["admin"], "team", world.apps["team"])
    name = await call.addon()
    path = f"{call.path}/addons/{name}"
    r = await world.users["c-deploy"].patch(path, json={"plan": "heroku-redis:mini"})
    assert r.status_code == 403
    _need(r.json(), "operate")
    r = await world.users["c-operate"].patch(path, json={"plan": "heroku-redis:mini"})
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["name"] == "heroku-redis:mini"
    # Paid now: even removing it takes operate.
    r = await world.users["c-deploy"].delete(path)
    assert r.status_code == 403
    _need(r.json(), "operate")
    assert (await world.users["c-operate"].delete(path)).status_code == 200


async def test_detaching_and_editing_an_add_ons_config_take_deploy_or_operate(
    world: World,
) -> None:
    admin = world.users["admin"]
    addon_id, name = world.addons["team"]
    made = await admin.post(
        "/addon-attachments",
        json={"addon": name, "app": str(world.apps["team"]), "name": "DETACHABLE"},
    )
    assert made.status_code == 201, made.text
    att = f"/addon-attachments/{made.json()['id']}"
    for key in ("c-view", "c-manage", "viewer"):
        r = await world.users[key].delete(att)
        assert r.status_code == 403, (key, r.text)
        _need(r.json(), "deploy or operate")
        r = await world.users[key].patch(
            f"/addons/{addon_id}/config", json={"config": [{"name": "URL", "value": "x"}]}
        )
        assert r.status_code == 403, (key, r.text)
        _need(r.json(), "deploy or operate")
    assert (await world.users["c-deploy"].delete(att)).status_code == 200
    # Who cannot see the add-on's app at all does not find it.
    r = await world.users["c-none"].delete(att)
    assert r.status_code == 404


async def test_viewers_get_nothing_beyond_view_whatever_members_get(world: World) -> None:
    async def member_permissions(permissions: list[str]) -> None:
        async with world.api.database.session(write=True) as db:
            team = await db.get(Team, world.team_id)
            assert team is not None
            team.member_permissions = permissions
            await db.commit()

    path = f"/apps/{world.apps['team']}/config-vars"
    await member_permissions(["view", "deploy"])
    try:
        assert (await world.users["member"].get(path)).status_code == 200
        r = await world.users["viewer"].get(path)
        assert r.status_code == 403
        _need(r.json(), "deploy or operate")
        # A locked app is not the members' to act on, whatever they get on the others.
        locked = f"/apps/{world.apps['locked']}/config-vars"
        assert (await world.users["member"].get(locked)).status_code == 403
    finally:
        await member_permissions(["view"])
