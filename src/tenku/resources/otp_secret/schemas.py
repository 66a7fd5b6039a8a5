from __future__ import annotations

import uuid

from tenku.db.models import OtpSecret
from tenku.resources.common import Out
from tenku.web.render import Timestamp


class OtpSecretOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    updated_at: Timestamp
    url: str

    @classmethod
    def of(cls, secret: OtpSecret, url: str) -> OtpSecretOut:
        return cls(
            created_at=secret.created_at, id=secret.id, updated_at=secret.updated_at, url=url
        )
