from __future__ import annotations

import uuid

from pydantic import Field

from tenku.logs.store import MAX_LINES
from tenku.resources.common import In, Out
from tenku.web.render import Timestamp


class LogSessionCreate(In):
    dyno: str | None = Field(default=None, max_length=64)
    lines: int = Field(default=100, ge=0, le=MAX_LINES)
    source: str | None = Field(default=None, max_length=32)
    tail: bool = False


class LogSessionOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    logplex_url: str
    updated_at: Timestamp
