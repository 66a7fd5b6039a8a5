from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import App, Domain, SniEndpoint
from tenku.resources.app.service import default_hostname
from tenku.resources.domain.schemas import DomainCreate
from tenku.resources.sni_endpoint import service as sni
from tenku.resources.sni_endpoint.certs import covers
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
    endpoint = await _endpoint_for(db, app, hostname, params.sni_endpoint)
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
        sni_endpoint_id=endpoint.id if endpoint is not None else None,
    )
    db.add(domain)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(f"{hostname} is currently in use by another app.") from exc
    return domain


async def _endpoint_for(
    db: AsyncSession, app: App, hostname: str, ident: str | None
) -> SniEndpoint | None:
    """The app's SNI endpoint `ident` names, if its certificate covers `hostname`."""
    if ident is None:
        return None
    endpoint = await sni.get_endpoint(db, app.id, ident)
    if not covers(endpoint.cert_domains, hostname):
        names = ", ".join(endpoint.cert_domains) or "no domain name"
        raise InvalidParams(
            f"{endpoint.name}'s certificate does not cover {hostname}: it is for {names}."
        )
    return endpoint


async def endpoint_of(db: AsyncSession, domain: Domain) -> SniEndpoint | None:
    if domain.sni_endpoint_id is None:
        return None
    return await db.get(SniEndpoint, domain.sni_endpoint_id)


async def endpoints_by_id(db: AsyncSession, app_id: uuid.UUID) -> dict[uuid.UUID, SniEndpoint]:
    rows = await db.execute(sni.endpoints_of(app_id))
    return {e.id: e for e in rows.scalars()}


async def associate(
    db: AsyncSession, app: App, ident: str, endpoint_ident: str | None
) -> tuple[Domain, SniEndpoint | None]:
    """Serve a domain with one of the app's SNI endpoints, or (None) with any that fits."""
    domain = await get_domain(db, app.id, ident)
    if domain.kind == "heroku" and endpoint_ident is not None:
        raise InvalidParams(
            f"{domain.hostname} is the app's default domain: Tenku's own certificate serves it."
        )
    endpoint = await _endpoint_for(db, app, domain.hostname, endpoint_ident)
    domain.sni_endpoint_id = endpoint.id if endpoint is not None else None
    await db.flush()
    return domain, endpoint


async def remove_domain(db: AsyncSession, app: App, ident: str) -> Domain:
    domain = await get_domain(db, app.id, ident)
    if domain.kind == "heroku":
        raise InvalidParams(f"{domain.hostname} is the app's default domain and cannot be removed.")
    await db.delete(domain)
    await db.flush()
    return domain
