"""Identities: UUIDs in paths, and fixed ids for catalogue entries.

Catalogue ids (regions, stacks, features, add-on services...) are UUIDv5 of a name, so
every worker and every install agrees on them without a table.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
NAMESPACE = uuid.UUID("6f0b5a52-8f0a-4d35-9d6c-3b1f2f6e7a10")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def as_uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if UUID_RE.match(value) else None


def stable_id(kind: str, name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{name}")
