from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App, Domain, SniEndpoint
from tenku.names import generate_name
from tenku.resources.sni_endpoint import certs
from tenku.resources.sni_endpoint.schemas import EndpointCreate, EndpointUpdate
from tenku.storage.sealing import Sealer, SealError
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import get_one

RESOURCE = "sni_endpoint"


def seal_context(endpoint_id: uuid.UUID) -> bytes:
    """What a sealed key is bound to: the endpoint row it belongs to."""
    return b"sni-endpoint:" + endpoint_id.bytes


def endpoints_of(app_id: uuid.UUID) -> Select[SniEndpoint]:
    return select(SniEndpoint).where(SniEndpoint.app_id == app_id)


async def get_endpoint(db: AsyncSession, app_id: uuid.UUID, ident: str) -> SniEndpoint:
    """`{sni_endpoint_id_or_name}` (or `ssl_endpoint_...`), within the app."""
    return await get_one(
        db,
        endpoints_of(app_id),
        ident,
        SniEndpoint.id,
        (SniEndpoint.name, lambda name: name.strip().lower()),
        missing=NotFound(RESOURCE),
    )


async def domains_using(
    db: AsyncSession, endpoint_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The ids of the domains associated with each endpoint, oldest domain first."""
    ids = list(endpoint_ids)
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not ids:
        return found
    rows = await db.execute(
        select(Domain.sni_endpoint_id, Domain.id)
        .where(Domain.sni_endpoint_id.in_(ids))
        .order_by(Domain.created_at, Domain.id)
    )
    for endpoint_id, domain_id in rows.all():
        if endpoint_id is not None:
            found[endpoint_id].append(domain_id)
    return found


async def _free_name(db: AsyncSession) -> str:
    for _ in range(20):
        name = generate_name()
        taken = await db.execute(select(SniEndpoint.id).where(SniEndpoint.name == name))
        if taken.first() is None:
            return name
    raise InvalidParams("Could not generate a free endpoint name; please try again.")


def _apply(endpoint: SniEndpoint, cert: certs.Certificate, sealed_key: str) -> None:
    endpoint.certificate_chain = cert.chain
    endpoint.private_key = sealed_key
    endpoint.ssl_cert_id = uuid.uuid4()
    endpoint.cert_domains = cert.cert_domains
    endpoint.starts_at = cert.starts_at
    endpoint.expires_at = cert.expires_at
    endpoint.issuer = cert.issuer
    endpoint.subject = cert.subject
    endpoint.ca_signed = cert.ca_signed
    endpoint.self_signed = cert.self_signed


async def _check(chain: str, key: str, preprocess: bool) -> certs.Certificate:
    # Parsing, signature checks and OpenSSL's load take a few milliseconds (the machine's
    # trust store, the first time, more): not on the event loop.
    return await asyncio.to_thread(certs.check, chain, key, preprocess=preprocess)


async def add_endpoint(
    db: AsyncSession, app: App, params: EndpointCreate, sealer: Sealer
) -> SniEndpoint:
    cert = await _check(params.certificate_chain, params.private_key, params.preprocess)
    endpoint = SniEndpoint(id=uuid.uuid4(), app_id=app.id, name=await _free_name(db))
    _apply(endpoint, cert, sealer.seal(cert.key.encode(), seal_context(endpoint.id)))
    db.add(endpoint)
    await db.flush()
    return endpoint


def _stored_key(endpoint: SniEndpoint, sealer: Sealer) -> str:
    try:
        return sealer.open(endpoint.private_key, seal_context(endpoint.id)).decode()
    except SealError as exc:
        # The installation's key changed since the key was uploaded.
        raise InvalidParams(
            "The endpoint's private key cannot be read with this installation's key; "
            "upload the key again with the certificate."
        ) from exc


async def _check_domains_still_covered(
    db: AsyncSession, endpoint: SniEndpoint, cert_domains: list[str]
) -> None:
    """A domain that uses this endpoint must stay covered by its new certificate."""
    hostnames = await db.execute(
        select(Domain.hostname).where(Domain.sni_endpoint_id == endpoint.id)
    )
    lost = sorted(h for (h,) in hostnames.all() if not certs.covers(cert_domains, h))
    if lost:
        raise InvalidParams(
            f"The new certificate does not cover {', '.join(lost)}, which "
            f"{'uses' if len(lost) == 1 else 'use'} {endpoint.name}; associate "
            f"{'it' if len(lost) == 1 else 'them'} with another certificate first."
        )


async def update_endpoint(
    db: AsyncSession, app: App, ident: str, params: EndpointUpdate, sealer: Sealer
) -> SniEndpoint:
    endpoint = await get_endpoint(db, app.id, ident)
    context = seal_context(endpoint.id)
    if params.rollback:
        if params.certificate_chain is not None or params.private_key is not None:
            raise InvalidParams("rollback takes no certificate_chain or private_key.")
        if endpoint.previous_chain is None or endpoint.previous_key is None:
            raise InvalidParams(f"{endpoint.name} has no previous certificate to roll back to.")
        try:
            key = sealer.open(endpoint.previous_key, context).decode()
        except SealError as exc:
            raise InvalidParams(
                "The previous private key cannot be read with this installation's key."
            ) from exc
        # Checked again: the previous certificate may have expired since.
        cert = await _check(endpoint.previous_chain, key, preprocess=False)
        sealed = endpoint.previous_key
    else:
        if params.certificate_chain is None and params.private_key is None:
            raise InvalidParams("Give certificate_chain, private_key or both, or rollback.")
        chain = params.certificate_chain or endpoint.certificate_chain
        key = params.private_key or _stored_key(endpoint, sealer)
        cert = await _check(chain, key, params.preprocess)
        sealed = sealer.seal(cert.key.encode(), context)
    await _check_domains_still_covered(db, endpoint, cert.cert_domains)
    endpoint.previous_chain, endpoint.previous_key = (
        endpoint.certificate_chain,
        endpoint.private_key,
    )
    _apply(endpoint, cert, sealed)
    await db.flush()
    return endpoint


async def remove_endpoint(db: AsyncSession, endpoint: SniEndpoint) -> None:
    # The foreign key would do it too; saying so keeps the session's rows right.
    await db.execute(
        update(Domain)
        .where(Domain.sni_endpoint_id == endpoint.id)
        .values(sni_endpoint_id=None)
        .execution_options(synchronize_session=False)
    )
    await db.delete(endpoint)
    await db.flush()
