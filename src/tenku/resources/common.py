"""Response pieces shared by many resources."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.ids import as_uuid
from tenku.web.errors import NotFound


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


class _AppOwned(Protocol):
    app_id: Any


Owned = TypeVar("Owned", bound=_AppOwned)


async def get_in_app(
    db: AsyncSession, model: type[Owned], app_id: uuid.UUID, ident: str, resource: str
) -> Owned:
    """A row of `model` by id that belongs to the app; any other answer is a 404."""
    uid = as_uuid(ident)
    row = await db.get(model, uid) if uid is not None else None
    if row is None or row.app_id != app_id:
        raise NotFound(resource)
    return row
