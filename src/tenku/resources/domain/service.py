from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import App, Domain
from tenku.resources.app.service import default_hostname
from tenku.resources.domain.schemas import DomainCreate
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import get_one

# Tenku provisions neither DNS checks nor certificates, so a custom domain is
# final as soon as it exists: "none" is the status the CLI treats as nothing
# to wait for (unlike "pending", which `domains:wait` polls).
READY = "none"


def domains_of(app_id: uuid.UUID) -> Select[Domain]:
    return select(Domain).where(Domain.app_id == app_id)


async def get_domain(db: AsyncSession, app_id: uuid.UUID, ident: str) -> Domain:
    """`{domain_id_or_hostname}`, within the app."""
    return await get_one(
        db,
        domains_of(app_id),
        ident,
        Domain.id,
        (Domain.hostname, lambda host: host.strip().lower()),
        missing=NotFound("domain"),
    )


def _in_use(hostname: str, app: App, holder: uuid.UUID) -> InvalidParams:
    if holder == app.id:
        return InvalidParams(f"{hostname} is already added to this app.")
    return InvalidParams(f"{hostname} is currently in use by another app.")


async def add_domain(
    db: AsyncSession, app: App, params: DomainCreate, settings: Settings
) -> Domain:
    hostname = params.hostname
    base = settings.base_domain
    # Default hosts of apps (even ones not created yet) must stay claimable.
    if hostname == base or hostname.endswith(f".{base}"):
        raise InvalidParams(f"{hostname} is reserved: hostnames under {base} belong to apps.")
    if params.sni_endpoint is not None:
        raise NotFound("sni_endpoint")
    holder = (
        await db.execute(select(Domain.app_id).where(Domain.hostname == hostname))
    ).scalar_one_or_none()
    if holder is not None:
        raise _in_use(hostname, app, holder)
    domain = Domain(
        app_id=app.id,
        hostname=hostname,
        kind="custom",
        cname=default_hostname(app.name, settings),
        status=READY,
    )
    db.add(domain)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(f"{hostname} is currently in use by another app.") from exc
    return domain


async def remove_domain(db: AsyncSession, app: App, ident: str) -> Domain:
    domain = await get_domain(db, app.id, ident)
    if domain.kind == "heroku":
        raise InvalidParams(f"{domain.hostname} is the app's default domain and cannot be removed.")
    await db.delete(domain)
    await db.flush()
    return domain
