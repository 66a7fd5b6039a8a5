from __future__ import annotations

import uuid

from tenku.resources.common import Out
from tenku.web.render import Timestamp


class Provider(Out):
    name: str
    region: str


class RegionOut(Out):
    country: str
    created_at: Timestamp
    description: str
    id: uuid.UUID
    locale: str
    name: str
    private_capable: bool
    provider: Provider
    updated_at: Timestamp
