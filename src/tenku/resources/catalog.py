"""Fixed identities for catalogue entries (regions, stacks, features...).

Ids are UUIDv5 of a name, so every worker and every install agrees on them
without a table.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

NAMESPACE = uuid.UUID("6f0b5a52-8f0a-4d35-9d6c-3b1f2f6e7a10")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def stable_id(kind: str, name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{name}")
