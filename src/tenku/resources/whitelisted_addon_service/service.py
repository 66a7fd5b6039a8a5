"""A team's add-on allow-list ("whitelist"), and where it binds: add-on creation."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.catalog import Catalog
from tenku.db.models import Account, App, Team, TeamAddonService, TeamMember
from tenku.ids import as_uuid
from tenku.resources.addon.registry import addon_service
from tenku.resources.app.access import ADMIN_ROLES
from tenku.resources.organization.access import OnTeam
from tenku.web.errors import Forbidden, InvalidParams, NotFound


def allowed_of(team_id: uuid.UUID) -> Select[TeamAddonService, Account]:
    return (
        select(TeamAddonService, Account)
        .outerjoin(Account, Account.id == TeamAddonService.added_by_id)
        .where(TeamAddonService.team_id == team_id)
    )


def entry_not_found() -> NotFound:
    return NotFound(
        "whitelisted_addon_service", "Couldn't find that add-on service on the team's list."
    )


async def allow(
    db: AsyncSession, catalog: Catalog, on: OnTeam, ident: str
) -> tuple[TeamAddonService, Account]:
    on.require_admin("change its add-on allow-list")
    spec = addon_service(catalog, ident)
    listed = await db.execute(
        select(TeamAddonService.id).where(
            TeamAddonService.team_id == on.team.id, TeamAddonService.service == spec.slug
        )
    )
    if listed.first() is not None:
        raise InvalidParams(f"{spec.slug} is already on the {on.team.name} team's list.")
    entry = TeamAddonService(
        team_id=on.team.id, service=spec.slug, added_by_id=on.caller.account.id
    )
    db.add(entry)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(f"{spec.slug} is already on the {on.team.name} team's list.") from exc
    return entry, on.caller.account


async def disallow(
    db: AsyncSession, catalog: Catalog, on: OnTeam, ident: str
) -> tuple[TeamAddonService, Account | None]:
    """`{whitelisted_addon_service_id_or_name}`: the entry's id, or its service's name or id."""
    on.require_admin("change its add-on allow-list")
    stmt = allowed_of(on.team.id)
    uid = as_uuid(ident)
    if uid is not None:
        spec = catalog.service(ident)
        keys: list[ColumnElement[bool]] = [TeamAddonService.id == uid]
        if spec is not None:
            keys.append(TeamAddonService.service == spec.slug)
        stmt = stmt.where(or_(*keys))
    else:
        stmt = stmt.where(TeamAddonService.service == ident)
    row = (await db.execute(stmt)).first()
    if row is None:
        raise entry_not_found()
    entry, added_by = row
    await db.delete(entry)
    await db.flush()
    return entry, added_by


async def check_allowed(db: AsyncSession, app: App, service: str, account_id: uuid.UUID) -> None:
    """Refuse a new add-on of `service` on a team app whose team restricts add-ons to its
    list, unless the caller is one of its admins (Heroku lets admins install others)."""
    if app.organization_id is None:
        return
    row = (
        await db.execute(
            select(Team.name, Team.whitelisting_enabled, TeamMember.role)
            .outerjoin(
                TeamMember,
                and_(TeamMember.team_id == Team.id, TeamMember.account_id == account_id),
            )
            .where(Team.id == app.organization_id)
        )
    ).one()
    name, restricted, role = row
    if not restricted or role in ADMIN_ROLES:
        return
    listed = await db.execute(
        select(TeamAddonService.id).where(
            TeamAddonService.team_id == app.organization_id, TeamAddonService.service == service
        )
    )
    if listed.first() is None:
        raise Forbidden(
            f"The {name} team allows only the add-ons on its list, and {service} is not on "
            "it. Ask one of the team's admins to add it."
        )
