from __future__ import annotations

import uuid

from tenku.resources.common import Out
from tenku.web.render import Timestamp


class StackOut(Out):
    created_at: Timestamp
    default: bool = False
    id: uuid.UUID
    name: str
    state: str
    updated_at: Timestamp
