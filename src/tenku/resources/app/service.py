from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Collaborator, Domain
from tenku.ids import as_uuid
from tenku.names import generate_name
from tenku.resources.app.schemas import AppCreate, AppUpdate
from tenku.resources.region.catalog import DEFAULT_REGION, find_region
from tenku.resources.release import service as releases
from tenku.resources.stack.catalog import DEFAULT_STACK, find_stack
from tenku.web.deps import Principal
from tenku.web.errors import Forbidden, InvalidParams, NotFound
from tenku.web.ranges import field

Need = Literal["read", "write", "owner"]
SORT = {"id": field(App.id), "name": field(App.name), "updated_at": field(App.updated_at, False)}


async def find_app(db: AsyncSession, ident: str) -> App | None:
    uid = as_uuid(ident)
    if uid is not None:
        return await db.get(App, uid)
    return (await db.execute(select(App).where(App.name == ident))).scalar_one_or_none()


async def role_on(db: AsyncSession, app_id: uuid.UUID, account_id: uuid.UUID) -> str | None:
    return (
        await db.execute(
            select(Collaborator.role).where(
                Collaborator.app_id == app_id, Collaborator.account_id == account_id
            )
        )
    ).scalar_one_or_none()


async def get_app(db: AsyncSession, caller: Principal, ident: str, need: Need = "read") -> App:
    """The app named in a path, if the caller may act on it at the level needed.

    Apps have global names, so an app that exists but is not the caller's is a
    403 (as on Heroku), never a silent success.
    """
    uid = as_uuid(ident)
    row = (
        await db.execute(
            select(App, Collaborator.role)
            .outerjoin(
                Collaborator,
                and_(Collaborator.app_id == App.id, Collaborator.account_id == caller.account.id),
            )
            .where(App.id == uid if uid is not None else App.name == ident)
        )
    ).first()
    if row is None:
        raise NotFound("app")
    app, role = row
    if role is None:
        raise Forbidden(f"You do not have access to the app {app.name}.")
    if need == "owner" and role != "owner":
        raise Forbidden(f"Only the owner of {app.name} can do that.")
    return app


def visible_apps(account_id: uuid.UUID) -> Select[App, str]:
    """Apps the account owns or collaborates on, with the owner's email."""
    return (
        select(App, Account.email)
        .join(Account, Account.id == App.owner_id)
        .join(Collaborator, Collaborator.app_id == App.id)
        .where(Collaborator.account_id == account_id)
    )


async def owner_email(db: AsyncSession, app: App) -> str:
    return (await db.execute(select(Account.email).where(Account.id == app.owner_id))).scalar_one()


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
    db: AsyncSession, owner: Account, params: AppCreate, settings: Settings
) -> App:
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
        owner_id=owner.id,
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
    db.add(Collaborator(app_id=app.id, account_id=owner.id, role="owner", permissions=[]))
    db.add(Domain(app_id=app.id, hostname=default_hostname(name, settings), kind="heroku"))
    await releases.create_release(db, app, owner, "Initial release")
    return app


async def update_app(
    db: AsyncSession, caller: Principal, app: App, changes: AppUpdate, settings: Settings
) -> App:
    if changes.name is not None and changes.name != app.name:
        if await role_on(db, app.id, caller.account.id) != "owner":
            raise Forbidden(f"Only the owner of {app.name} can rename it.")
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
    if changes.maintenance is not None:
        app.maintenance = changes.maintenance
    if changes.build_stack is not None:
        app.build_stack = _stack_name(changes.build_stack)
    await db.flush()
    return app


async def delete_app(db: AsyncSession, app: App) -> None:
    await db.delete(app)
    await db.flush()
