"""App bodies for a whole page at once: one query for the owners of every app on it,
one for the teams."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from orjson import Fragment
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Team
from tenku.db.reads import Reads, reads_of
from tenku.resources.app.schemas import CEDAR, AppLike, AppOut, region_ref, stack_ref
from tenku.resources.common import AccountRef, Ref
from tenku.web.render import as_columns
from tenku.web.wire import WireList, converters, fragment, processor, unprocessed

# Heroku's address for a team as an app's owner. The CLI tells team apps from personal
# ones by it: `apps:transfer` sends a team app's transfer to a person to
# PATCH /teams/apps/{app} only when the owner's email ends so, and `access` hides it.
TEAM_OWNER_DOMAIN = "herokumanager.com"


def team_owner(team: Ref, settings: Settings) -> AccountRef:
    """Who a team app's `owner` is: the team, as `<team>@herokumanager.com`."""
    return AccountRef.trusted(email=f"{team.name}@{TEAM_OWNER_DOMAIN}", id=team.id)


async def owners(
    db: AsyncSession | Reads,
    apps: Sequence[AppLike],
    settings: Settings,
    known: Account | None = None,
) -> dict[uuid.UUID, tuple[AccountRef, Ref | None]]:
    """Each app's owner and team; `known` (the caller, usually the owner) needs no query."""
    found = await holders(
        db,
        {app.owner_id for app in apps if app.owner_id is not None},
        {app.organization_id for app in apps if app.organization_id is not None},
        settings,
        known,
    )
    by_app: dict[uuid.UUID, tuple[AccountRef, Ref | None]] = {}
    for app in apps:
        holder = app.organization_id if app.organization_id is not None else app.owner_id
        assert holder is not None
        by_app[app.id] = found[holder]
    return by_app


async def holders(
    source: AsyncSession | Reads,
    owner_ids: set[uuid.UUID],
    team_ids: set[uuid.UUID],
    settings: Settings,
    known: Account | None = None,
) -> dict[uuid.UUID, tuple[AccountRef, Ref | None]]:
    """The (owner, team) of apps held by each of these accounts and teams: one body per
    owner and team, which their apps share (a page is mostly one owner's)."""
    reads = reads_of(source)
    emails = {known.id: known.email} if known is not None else {}
    ids = owner_ids - emails.keys()
    if ids:
        rows = await reads.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
        emails.update((row[0], row[1]) for row in rows)
    refs: dict[uuid.UUID, tuple[AccountRef, Ref | None]] = {}
    if team_ids:
        rows = await reads.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
        for team_id, name in rows:
            team = Ref.trusted(id=team_id, name=name)
            refs[team_id] = (team_owner(team, settings), team)
    for owner_id, email in emails.items():
        refs[owner_id] = (AccountRef.trusted(email=email, id=owner_id), None)
    return refs


async def render_apps(
    db: AsyncSession | Reads,
    apps: Sequence[AppLike],
    settings: Settings,
    model: type[AppOut] = AppOut,
    known: Account | None = None,
) -> list[AppOut]:
    if apps and isinstance(apps[0], Row):
        apps = as_columns(cast(Sequence[Row[Any]], apps))
    found = await owners(db, apps, settings, known)
    return [model.of(app, owner, settings, team) for app in apps for owner, team in [found[app.id]]]


async def render_app(
    db: AsyncSession | Reads, app: AppLike, settings: Settings, known: Account | None = None
) -> AppOut:
    return (await render_apps(db, [app], settings, known=known))[0]


# The columns an app body shows, as the driver returns them, for `app_list`.
APP_WIRE_ROWS = select(
    *(
        unprocessed(column)
        for column in App.__table__.columns
        if column.key not in ("space_id", "release_seq")
    )
)
_AT = {key: i for i, key in enumerate(APP_WIRE_ROWS.selected_columns.keys())}


async def app_list(
    source: AsyncSession | Reads,
    rows: Sequence[Sequence[Any]],
    settings: Settings,
    known: Account | None = None,
) -> WireList:
    """The bodies `AppOut.of` makes, from a page of `APP_WIRE_ROWS` (see tenku.web.wire):
    its rows, or tuples of the same columns."""
    if not rows:
        return WireList([])
    db = reads_of(source)
    dialect = db.dialect
    to_uuid = processor(App.id, dialect)
    wire = converters(dialect)
    uid, ts, flag = wire.uuid, wire.timestamp, wire.boolean
    at = _AT
    owner, team = at["owner_id"], at["organization_id"]
    # Holders by their unprocessed ids, each turned into a UUID once.
    raw_teams = {row[team] for row in rows if row[team] is not None}
    raw_owners = {row[owner] for row in rows if row[team] is None}
    teams = {raw: to_uuid(raw) for raw in raw_teams}
    people = {raw: to_uuid(raw) for raw in raw_owners}
    found = await holders(db, set(people.values()), set(teams.values()), settings, known)
    # What many apps of the page share is written once (`wire.fragment`).
    bodies = {
        raw: (fragment(found[held][0].model_dump()), _dumped(found[held][1]))
        for ids in (teams, people)
        for raw, held in ids.items()
    }
    id_, name_, region = at["id"], at["name"], at["region"]
    stack, build_stack, released = at["stack"], at["build_stack"], at["released_at"]
    created, updated, archived = at["created_at"], at["updated_at"], at["archived_at"]
    acm, locked, maintenance = at["acm"], at["locked"], at["maintenance"]
    routing, described = at["internal_routing"], at["buildpack_provided_description"]
    repo_size, slug_size = at["repo_size"], at["slug_size"]
    git_url = f"https://{settings.git_host}/{{}}.git".format
    web_url = settings.app_web_url_format.format
    regions, stacks = _Refs(region_ref), _Refs(stack_ref)
    # The keys in AppOut's order, which its JSON keeps. `bool` for the columns that are
    # never null, `flag` for the others.
    return WireList(
        [
            {
                "acm": bool(row[acm]),
                "archived_at": ts(row[archived]),
                "buildpack_provided_description": row[described],
                "build_stack": stacks[row[build_stack]],
                "created_at": ts(row[created]),
                "create_status": "complete",
                "generation": _CEDAR,
                "git_url": git_url(row[name_]),
                "id": uid(row[id_]),
                "internal_routing": flag(row[routing]),
                "locked": bool(row[locked]),
                "maintenance": bool(row[maintenance]),
                "name": row[name_],
                "organization": held[1],
                "owner": held[0],
                "process_tier": "production",
                "region": regions[row[region]],
                "released_at": ts(row[released]),
                "repo_size": row[repo_size],
                "slug_size": row[slug_size],
                "space": None,
                "stack": stacks[row[stack]],
                "team": held[1],
                "updated_at": ts(row[updated]),
                "web_url": web_url(row[name_]),
            }
            for row in rows
            for held in (bodies[row[team] if row[team] is not None else row[owner]],)
        ]
    )


_CEDAR = fragment(CEDAR.model_dump())


def _dumped(ref: Ref | None) -> Fragment | None:
    return None if ref is None else fragment(ref.model_dump())


class _Refs(dict[str, Fragment]):
    """The `{id, name}` body of each region or stack a page names, made once per page."""

    def __init__(self, make: Callable[[str], Ref]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, name: str) -> Fragment:
        body = self[name] = fragment(self.make(name).model_dump())
        return body
