from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Collaborator, Domain, Team
from tenku.ids import as_uuid
from tenku.names import generate_name
from tenku.resources.app.access import Access, AccountId, visible_app_ids
from tenku.resources.app.render import APP_WIRE_ROWS
from tenku.resources.app.schemas import AppCreate, AppUpdate
from tenku.resources.region.catalog import DEFAULT_REGION, find_region
from tenku.resources.release import service as releases
from tenku.resources.stack.catalog import DEFAULT_STACK, find_stack
from tenku.web.errors import InvalidParams
from tenku.web.lists import sorting
from tenku.web.ranges import ListQuery, field

SORT = sorting(App.id, App.name, ("updated_at", field(App.updated_at, unique=False)))


async def find_app(db: AsyncSession, ident: str) -> App | None:
    uid = as_uuid(ident)
    if uid is not None:
        return await db.get(App, uid)
    return (await db.execute(select(App).where(App.name == ident))).scalar_one_or_none()


# Lists read apps as rows of their columns, by name, not as entities: their bodies read
# nothing else, and loading a page of 1,000 entities into the session cost more than the
# query did.
APP_ROWS = select(*App.__table__.columns)


def visible_apps(account_id: AccountId, rows: Select[Any] = APP_ROWS) -> Select[Any]:
    """Apps the account owns, collaborates on, or sees through a team (as `rows`)."""
    return rows.where(App.id.in_(visible_app_ids(account_id)))


def personal_apps(account_id: AccountId, rows: Select[Any] = APP_ROWS) -> Select[Any]:
    """Apps outside any team that the account owns or collaborates on."""
    return visible_apps(account_id, rows).where(App.organization_id.is_(None))


# The app lists' pages (`GET /apps`, `GET /users/{account}/apps`), for the account
# given as `ACCOUNT`.
ACCOUNT = "account_id"
_ACCOUNT = bindparam(ACCOUNT, type_=Uuid())
VISIBLE_APP_PAGES = ListQuery(visible_apps(_ACCOUNT, APP_WIRE_ROWS))
PERSONAL_APP_PAGES = ListQuery(personal_apps(_ACCOUNT, APP_WIRE_ROWS))


def default_hostname(name: str, settings: Settings) -> str:
    return f"{name}.{settings.base_domain}"


async def name_taken(db: AsyncSession, name: str) -> bool:
    return (await db.execute(select(App.id).where(App.name == name))).first() is not None


def _stack_name(ident: str | None) -> str:
    if ident is None:
        return DEFAULT_STACK
    stack = find_stack(ident)
    if stack is None:
        raise InvalidParams(f"Invalid stack provided: {ident} is not a known stack.")
    return stack.name


async def create_app(
    db: AsyncSession,
    creator: Account,
    params: AppCreate,
    settings: Settings,
    team: Team | None = None,
) -> App:
    """A personal app of `creator`'s, or with `team` an app the team holds (no owner and
    no collaborator row: who may act on it is the caller's business). The initial release
    is credited to `creator` either way."""
    region = find_region(params.region or DEFAULT_REGION)
    if region is None:
        raise InvalidParams(f"Invalid region provided: {params.region} is not a known region.")
    stack = _stack_name(params.stack)
    if params.name is not None:
        name = params.name
        if await name_taken(db, name):
            raise InvalidParams("Name is already taken")
    else:
        for _ in range(20):
            name = generate_name()
            if not await name_taken(db, name):
                break
        else:
            raise InvalidParams("Could not generate a free app name; please choose one.")
    app = App(
        name=name,
        owner_id=None if team is not None else creator.id,
        organization_id=team.id if team is not None else None,
        region=region.name,
        stack=stack,
        build_stack=stack,
        maintenance=False,
        locked=False,
        acm=False,
        release_seq=0,
    )
    db.add(app)
    await db.flush()
    if team is None:
        db.add(Collaborator(app_id=app.id, account_id=creator.id, role="owner", permissions=[]))
    db.add(Domain(app_id=app.id, hostname=default_hostname(name, settings), kind="heroku"))
    await releases.create_release(db, app, creator, "Initial release")
    return app


async def update_app(
    db: AsyncSession, access: Access, app: App, changes: AppUpdate, settings: Settings
) -> App:
    if changes.name is not None and changes.name != app.name:
        access.require(app, "app:rename")
        if await name_taken(db, changes.name):
            raise InvalidParams("Name is already taken")
        old_host = default_hostname(app.name, settings)
        domain = (
            await db.execute(
                select(Domain).where(Domain.app_id == app.id, Domain.hostname == old_host)
            )
        ).scalar_one_or_none()
        app.name = changes.name
        if domain is not None:
            domain.hostname = default_hostname(changes.name, settings)
    if changes.maintenance is not None and changes.maintenance != app.maintenance:
        access.require(app, "maintenance:edit")
    if changes.maintenance is not None:
        app.maintenance = changes.maintenance
    if changes.build_stack is not None and changes.build_stack != app.build_stack:
        access.require(app, "stack:migrate")
    if changes.build_stack is not None:
        app.build_stack = _stack_name(changes.build_stack)
    await db.flush()
    return app


async def delete_app(db: AsyncSession, app: App) -> None:
    await db.delete(app)
    await db.flush()
