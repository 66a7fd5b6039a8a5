"""Response pieces shared by many resources."""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel, ConfigDict

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def as_uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if UUID_RE.match(value) else None


class Out(BaseModel):
    """Base of every response model: unknown fields are a bug, not noise."""

    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    """Base of every request body: documented fields are checked, others ignored."""

    model_config = ConfigDict(extra="ignore")


class Ref(Out):
    id: uuid.UUID
    name: str


class AccountRef(Out):
    email: str
    id: uuid.UUID
