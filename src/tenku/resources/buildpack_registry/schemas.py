from __future__ import annotations

import uuid

from tenku.resources.common import Out
from tenku.web.render import Timestamp


class SourceOut(Out):
    type: str


class SupportOut(Out):
    method: str
    address: str


class RegistryBuildpackOut(Out):
    """A buildpack as the registry describes it (`buildpacks:info`, `:search`)."""

    blob_url: str
    category: str
    created_at: Timestamp
    description: str
    id: uuid.UUID
    logo_url: str | None
    name: str
    namespace: str
    source: SourceOut
    support: SupportOut
    two_factor_authentication: bool
    updated_at: Timestamp


class RevisionOut(Out):
    buildpack_id: uuid.UUID
    checksum: str | None
    created_at: Timestamp
    id: uuid.UUID
    license: str | None
    published_by: str | None
    release: int
    status: str
    updated_at: Timestamp


class ReadmeOut(Out):
    content: str
    encoding: str
