"""Response pieces shared by many resources."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.web.errors import NotFound
from tenku.web.lookup import get_one


class Out(BaseModel):
    """Base of every response model: unknown fields are a bug, not noise."""

    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    """Base of every request body: documented fields are checked, others ignored."""

    model_config = ConfigDict(extra="ignore")


class _Named(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...


class _Account(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def email(self) -> str: ...


class IdRef(Out):
    """`{id}`: a slug, a build's release, an app only named by id."""

    id: uuid.UUID


class Ref(Out):
    """`{id, name}`: apps, stacks, regions, add-ons, plans, services, organizations..."""

    id: uuid.UUID
    name: str

    @classmethod
    def of(cls, row: _Named) -> Ref:
        return cls(id=row.id, name=row.name)


class AccountRef(Out):
    """`{email, id}`: owners, users, collaborators."""

    email: str
    id: uuid.UUID

    @classmethod
    def of(cls, account: _Account) -> AccountRef:
        return cls(email=account.email, id=account.id)


class ReleaseRef(Out):
    id: uuid.UUID
    version: int


class _AppOwned(Protocol):
    id: Any
    app_id: Any


Owned = TypeVar("Owned", bound=_AppOwned)


async def get_in_app(
    db: AsyncSession, model: type[Owned], app_id: uuid.UUID, ident: str, resource: str
) -> Owned:
    """A row of `model` by id that belongs to the app; any other answer is a 404."""
    stmt = select(model).where(model.app_id == app_id)
    return await get_one(db, stmt, ident, model.id, missing=NotFound(resource))
