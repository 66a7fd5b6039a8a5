from __future__ import annotations

import re
import uuid

from pydantic import Field, field_validator

from tenku.config import Settings
from tenku.db.models import App, Domain, SniEndpoint
from tenku.resources.app.service import default_hostname
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp

LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_HOSTNAME = 253


def check_hostname(value: str) -> str:
    """RFC 1123 host name, lowercased, with an optional leading `*.` wildcard."""
    host = value.strip().lower()
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    if (
        len(host) > MAX_HOSTNAME
        or len(labels) < 2
        or not all(LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"{value!r} is not a valid hostname")
    return host


class DomainOut(Out):
    acm_status: str | None = None
    acm_status_reason: str | None = None
    app: Ref
    cname: str | None
    created_at: Timestamp
    hostname: str
    id: uuid.UUID
    kind: str
    sni_endpoint: Ref | None = None
    status: str
    updated_at: Timestamp

    @classmethod
    def of(
        cls, domain: Domain, app: App, settings: Settings, endpoint: SniEndpoint | None = None
    ) -> DomainOut:
        """`endpoint`: the SNI endpoint `domain.sni_endpoint_id` names, if any."""
        # Custom domains point at the app's own default host, which Tenku's
        # router answers for; derived from the current name so renames follow.
        cname = default_hostname(app.name, settings) if domain.kind == "custom" else None
        return cls(
            acm_status=domain.acm_status,
            acm_status_reason=domain.acm_status_reason,
            app=Ref.of(app),
            cname=cname,
            created_at=domain.created_at,
            hostname=domain.hostname,
            id=domain.id,
            kind=domain.kind,
            sni_endpoint=Ref.of(endpoint) if endpoint is not None else None,
            status=domain.status,
            updated_at=domain.updated_at,
        )


class DomainCreate(In):
    hostname: str = Field(max_length=1024)
    # The id or name of one of the app's SNI endpoints to serve the domain with.
    sni_endpoint: str | None = Field(default=None, max_length=255)

    _hostname = field_validator("hostname")(check_hostname)


class DomainUpdate(In):
    # The id or name of one of the app's SNI endpoints; null for none.
    sni_endpoint: str | None = Field(max_length=255)
