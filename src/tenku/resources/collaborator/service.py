from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle

from tenku.db.models import Account, App, Collaborator
from tenku.resources.account.service import find_account, normalize_email
from tenku.resources.app.access import Access, access_to
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import by_ident


def collaborators_of(app_id: uuid.UUID) -> Select[Any, Collaborator, Account]:
    """Every account with access to the app, the owner included.

    `heroku access` prints this list as it is, and `apps:info` filters the
    owner out of it, so the owner belongs here (with role "owner") and is
    never listed twice. The leading bundle carries the sort keys (`id`,
    `email`) that paging reads from the first column of each row.
    """
    return (
        select(Bundle("keys", Collaborator.id, Account.email), Collaborator, Account)
        .join(Account, Account.id == Collaborator.account_id)
        .where(Collaborator.app_id == app_id)
    )


async def find_collaborator(
    db: AsyncSession, app_id: uuid.UUID, ident: str
) -> tuple[Collaborator, Account] | None:
    """`{collaborator_email_or_id}`: the collaborator's id, its user's id, or the email."""
    stmt = (
        select(Collaborator, Account)
        .join(Account, Account.id == Collaborator.account_id)
        .where(Collaborator.app_id == app_id)
    )
    ids = (Collaborator.id, Collaborator.account_id)
    narrowed = by_ident(stmt, ident, ids, (Account.email, normalize_email))
    row = (await db.execute(narrowed)).first() if narrowed is not None else None
    return None if row is None else (row[0], row[1])


async def get_collaborator(
    db: AsyncSession, app_id: uuid.UUID, ident: str
) -> tuple[Collaborator, Account]:
    found = await find_collaborator(db, app_id, ident)
    if found is None:
        raise NotFound("collaborator")
    return found


async def add_collaborator(
    db: AsyncSession, app: App, caller: Account, user_ident: str
) -> tuple[Collaborator, Account]:
    user = caller if user_ident == "~" else await find_account(db, user_ident)
    if user is None:
        raise NotFound("user")
    existing = await access_to(db, app.id, user.id)
    if existing is not None and existing.role == "owner":
        raise InvalidParams(f"{user.email} is the owner of {app.name}.")
    if existing is not None:
        raise InvalidParams(f"{user.email} is already a collaborator on {app.name}.")
    collaborator = Collaborator(
        app_id=app.id, account_id=user.id, role="collaborator", permissions=[]
    )
    db.add(collaborator)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(f"{user.email} is already a collaborator on {app.name}.") from exc
    return collaborator, user


async def remove_collaborator(
    db: AsyncSession, app: App, caller: Account, access: Access, ident: str
) -> tuple[Collaborator, Account]:
    """Owners remove anyone but themselves; a collaborator may only leave."""
    collaborator, user = await get_collaborator(db, app.id, ident)
    if user.id != caller.id:
        access.require(app, "access:edit")
    if collaborator.role == "owner":
        raise InvalidParams(f"{user.email} owns {app.name} and cannot be removed from it.")
    await db.delete(collaborator)
    await db.flush()
    return collaborator, user
