"""Finding add-ons and attachments by the many names clients use, within what a caller may see.

A caller sees an add-on through its billing app or any app it is attached to,
and acts on it (destroy, plan change, attach elsewhere, config) only with the
rights the action takes (permissions.py) on the billing app; its configuration
is also readable with `addons:config` on an app it is attached to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Addon, AddonAttachment, App
from tenku.ids import as_uuid
from tenku.resources.app.access import access_to, denied, permitted, visible_app_ids
from tenku.resources.app.service import find_app
from tenku.web.errors import ApiError, Forbidden, NotFound


class MultipleMatches(ApiError):
    status = 422
    id = "multiple_matches"


def ambiguous(names: Sequence[str], kind: str = "add-ons") -> MultipleMatches:
    listed = ", ".join(sorted(names))
    return MultipleMatches(f"Ambiguous identifier; multiple matching {kind} found: {listed}.")


def addon_not_found() -> NotFound:
    return NotFound("add_on", "Couldn't find that add-on.")


def attachment_not_found() -> NotFound:
    return NotFound("add_on attachment", "Couldn't find that add-on attachment.")


def visible_addons(account_id: uuid.UUID) -> Select[Addon]:
    mine = visible_app_ids(account_id)
    attached = select(AddonAttachment.addon_id).where(AddonAttachment.app_id.in_(mine))
    return select(Addon).where(or_(Addon.app_id.in_(mine), Addon.id.in_(attached)))


def addons_of_app(app_id: uuid.UUID) -> Select[Addon]:
    attached = select(AddonAttachment.addon_id).where(AddonAttachment.app_id == app_id)
    return select(Addon).where(or_(Addon.app_id == app_id, Addon.id.in_(attached)))


def _split(ident: str) -> tuple[str | None, str]:
    app_part, sep, rest = ident.partition("::")
    return (app_part, rest) if sep else (None, ident)


def _unique(found: Sequence[Addon]) -> list[Addon]:
    seen: dict[uuid.UUID, Addon] = {}
    for addon in found:
        seen.setdefault(addon.id, addon)
    return list(seen.values())


async def match_in_app(
    db: AsyncSession, app: App, ident: str, service: str | None = None, live: bool = True
) -> list[Addon]:
    """Add-ons of `app` (billed or attached) that `ident` names, most specific form first:
    id, add-on name, attachment name on the app, then service name."""
    base = addons_of_app(app.id)
    if live:
        base = base.where(Addon.state != "deprovisioned")
    if service is not None:
        base = base.where(Addon.service == service)
    uid = as_uuid(ident)
    if uid is not None:
        return list((await db.execute(base.where(Addon.id == uid))).scalars())
    by_name = list((await db.execute(base.where(Addon.name == ident))).scalars())
    if by_name:
        return by_name
    named = select(AddonAttachment.addon_id).where(
        AddonAttachment.app_id == app.id, AddonAttachment.name == ident.upper()
    )
    by_attachment = list((await db.execute(base.where(Addon.id.in_(named)))).scalars())
    if by_attachment:
        return by_attachment
    by_service = base.where(Addon.service == ident).order_by(Addon.created_at)
    return _unique(list((await db.execute(by_service)).scalars()))


async def match_global(
    db: AsyncSession, account_id: uuid.UUID, ident: str, service: str | None = None
) -> list[Addon]:
    """Globally unique forms only: id, add-on name, or `app::ATTACHMENT`."""
    app_part, rest = _split(ident)
    if app_part is not None:
        app = await find_app(db, app_part)
        if app is None or not await permitted(db, app.id, account_id, "addons:view"):
            return []
        return await match_in_app(db, app, rest, service)
    base = visible_addons(account_id).where(Addon.state != "deprovisioned")
    if service is not None:
        base = base.where(Addon.service == service)
    uid = as_uuid(ident)
    stmt = base.where(Addon.id == uid) if uid is not None else base.where(Addon.name == ident)
    return list((await db.execute(stmt)).scalars())


def one(found: Sequence[Addon]) -> Addon:
    if not found:
        raise addon_not_found()
    if len(found) > 1:
        raise ambiguous([a.name for a in found])
    return found[0]


async def addon_in_app(db: AsyncSession, app: App, ident: str) -> Addon:
    """`/apps/{app}/addons/{x}`: also finds an add-on that failed, so pollers see it end."""
    app_part, rest = _split(ident)
    if app_part is not None and app_part != app.name and as_uuid(app_part) != app.id:
        raise addon_not_found()
    return one(await match_in_app(db, app, rest, live=False))


async def visible_addon(db: AsyncSession, account_id: uuid.UUID, ident: str) -> Addon:
    """`/addons/{x}`: by id, name or `app::ATTACHMENT`, if the caller may see it."""
    app_part, _ = _split(ident)
    if app_part is not None:
        return one(await match_global(db, account_id, ident))
    base = visible_addons(account_id)
    uid = as_uuid(ident)
    stmt = base.where(Addon.id == uid) if uid is not None else base.where(Addon.name == ident)
    return one(list((await db.execute(stmt)).scalars()))


async def require_billing_access(
    db: AsyncSession, account_id: uuid.UUID, addon: Addon, action: str
) -> App:
    """The billing app, if the caller may do `action` (an add-on action) on it."""
    app = await db.get(App, addon.app_id)
    assert app is not None
    access = await access_to(db, app.id, account_id)
    if access is None:
        raise Forbidden(f"You do not have access to the app {app.name}, which owns {addon.name}.")
    access.require(app, action)
    return app


async def require_config_access(db: AsyncSession, account_id: uuid.UUID, addon: Addon) -> None:
    """Reading an add-on's configuration takes `addons:config` on its billing app or on an
    app it is attached to (whose config vars hold it anyway)."""
    app_ids = [addon.app_id] + [
        app_id
        for app_id in (
            await db.execute(
                select(AddonAttachment.app_id).where(AddonAttachment.addon_id == addon.id)
            )
        ).scalars()
        if app_id != addon.app_id
    ]
    for app_id in app_ids:
        if await permitted(db, app_id, account_id, "addons:config"):
            return
    billing = await db.get(App, addon.app_id)
    assert billing is not None
    raise denied(billing, "addons:config")


async def require_detach_access(
    db: AsyncSession, account_id: uuid.UUID, att: AddonAttachment
) -> None:
    """Detaching takes `addons:edit` on the app the attachment is on, or on the add-on's
    billing app (which may take its add-on back from the apps it shared it with)."""
    addon = await db.get(Addon, att.addon_id)
    for app_id in (att.app_id, addon.app_id if addon is not None else None):
        if app_id is not None and await permitted(db, app_id, account_id, "addons:edit"):
            return
    app = await db.get(App, att.app_id)
    assert app is not None
    raise denied(app, "addons:edit")


def is_paid(addon: Addon) -> bool:
    """Whether the add-on's plan costs anything (Heroku's "paid add-on")."""
    return addon.billed_cents > 0 or addon.billed_contract


async def attachment_in_app(db: AsyncSession, app: App, ident: str) -> AddonAttachment:
    """By id, name (`database` works) or config var form (`DATABASE_URL`)."""
    found = await match_attachments(db, app, ident)
    if not found:
        raise attachment_not_found()
    if len(found) > 1:
        raise ambiguous([a.name for a in found], "add-on attachments")
    return found[0]


async def match_attachments(
    db: AsyncSession, app: App, ident: str, service: str | None = None
) -> list[AddonAttachment]:
    base = select(AddonAttachment).where(AddonAttachment.app_id == app.id)
    if service is not None:
        of_service = select(Addon.id).where(Addon.service == service)
        base = base.where(AddonAttachment.addon_id.in_(of_service))
    uid = as_uuid(ident)
    if uid is not None:
        return list((await db.execute(base.where(AddonAttachment.id == uid))).scalars())
    name = ident.upper()
    found = list((await db.execute(base.where(AddonAttachment.name == name))).scalars())
    if not found and name.endswith("_URL"):
        stmt = base.where(AddonAttachment.name == name.removesuffix("_URL"))
        found = list((await db.execute(stmt)).scalars())
    return found


async def visible_attachment(
    db: AsyncSession, account_id: uuid.UUID, attachment_id: str
) -> AddonAttachment:
    """An attachment is the business of its app and of the add-on's billing app."""
    uid = as_uuid(attachment_id)
    att = await db.get(AddonAttachment, uid) if uid is not None else None
    if att is None:
        raise attachment_not_found()
    if await access_to(db, att.app_id, account_id) is None:
        addon = await db.get(Addon, att.addon_id)
        if addon is None or await access_to(db, addon.app_id, account_id) is None:
            raise attachment_not_found()
    return att
