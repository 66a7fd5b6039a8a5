from __future__ import annotations

import uuid

from pydantic import Field

from tenku.db.models import Key
from tenku.resources.common import In, Out
from tenku.web.render import Timestamp


class KeyOut(Out):
    comment: str
    created_at: Timestamp
    email: str
    fingerprint: str
    id: uuid.UUID
    public_key: str
    updated_at: Timestamp

    @classmethod
    def of(cls, key: Key, email: str) -> KeyOut:
        return cls(
            comment=key.comment,
            created_at=key.created_at,
            email=email,
            fingerprint=key.fingerprint,
            id=key.id,
            public_key=key.public_key,
            updated_at=key.updated_at,
        )


class KeyCreate(In):
    public_key: str = Field(max_length=16384)
