from __future__ import annotations

import uuid

from pydantic import ConfigDict, Field

from tenku.config import Settings
from tenku.db.models import App, SniEndpoint
from tenku.resources.app.service import default_hostname
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp

# A chain of a leaf, a few intermediates and a root is a few kilobytes.
MAX_CHAIN = 100_000
MAX_KEY = 20_000


class SslCertOut(Out):
    """What the certificate an endpoint serves says of itself."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)

    ca_signed: bool = Field(alias="ca_signed?")
    cert_domains: list[str]
    expires_at: Timestamp
    id: uuid.UUID
    issuer: str
    self_signed: bool = Field(alias="self_signed?")
    starts_at: Timestamp
    subject: str


class EndpointOut(Out):
    """An SSL endpoint (the reference) or SNI endpoint (the CLI): one body for both.

    The reference's SSL endpoint has the first attributes only; the others are those of
    today's SNI endpoints, which the CLI reads.
    """

    certificate_chain: str
    # Where to point a domain: the app's default host, which the router serves.
    cname: str
    created_at: Timestamp
    id: uuid.UUID
    name: str
    updated_at: Timestamp
    app: Ref | None = None
    display_name: str | None = None
    # Ids of the domains that use this endpoint.
    domains: list[uuid.UUID] = []
    ssl_cert: SslCertOut | None = None

    @classmethod
    def of(
        cls,
        endpoint: SniEndpoint,
        app: App,
        domains: list[uuid.UUID],
        settings: Settings,
    ) -> EndpointOut:
        return cls(
            certificate_chain=endpoint.certificate_chain,
            cname=default_hostname(app.name, settings),
            created_at=endpoint.created_at,
            id=endpoint.id,
            name=endpoint.name,
            updated_at=endpoint.updated_at,
            app=Ref.of(app),
            display_name=None,
            domains=domains,
            ssl_cert=SslCertOut(
                ca_signed=endpoint.ca_signed,
                cert_domains=list(endpoint.cert_domains),
                expires_at=endpoint.expires_at,
                id=endpoint.ssl_cert_id,
                issuer=endpoint.issuer,
                self_signed=endpoint.self_signed,
                starts_at=endpoint.starts_at,
                subject=endpoint.subject,
            ),
        )


class EndpointCreate(In):
    certificate_chain: str = Field(min_length=1, max_length=MAX_CHAIN)
    private_key: str = Field(min_length=1, max_length=MAX_KEY)
    # Put the chain in order, leaf first (Heroku would also add missing intermediates).
    preprocess: bool = True


class EndpointUpdate(In):
    certificate_chain: str | None = Field(default=None, min_length=1, max_length=MAX_CHAIN)
    private_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY)
    preprocess: bool = True
    # Serve the certificate this endpoint had before its last change again.
    rollback: bool = False
