"""Response pieces shared by many resources."""

from __future__ import annotations

import functools
import uuid
from types import UnionType
from typing import Any, Protocol, Self, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticUndefined
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.web.errors import NotFound
from tenku.web.lookup import get_one


class Out(BaseModel):
    """Base of every response model: unknown fields are a bug, not noise."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """`model_construct` for values read from Tenku's own rows, a few times cheaper: it
        only fills in the defaults of the fields not given. Long lists build one per item, and
        `model_construct` (which also looks at each field's aliases and factories) was
        their largest cost. tests/resources/test_out_models.py holds the two equal."""
        model = cls.__new__(cls)
        fields = _template(cls).copy()
        fields.update(values)
        object.__setattr__(model, "__dict__", fields)
        object.__setattr__(model, "__pydantic_fields_set__", set(values))
        object.__setattr__(model, "__pydantic_extra__", None)
        object.__setattr__(model, "__pydantic_private__", None)
        return model


@functools.cache
def _template(cls: type[BaseModel]) -> dict[str, Any]:
    """Every field, in the model's order (which the JSON keeps), with its default; the
    caller gives every field that has none. Response models' defaults are plain values
    (no factories), which may be shared."""
    return {
        name: None if field.default is PydanticUndefined else field.default
        for name, field in cls.model_fields.items()
    }


class In(BaseModel):
    """Base of every request body: documented fields are checked, others ignored.

    Booleans are strict: `"yes"` or `"false"` do not switch a setting (the reference
    documents no coercion, and a string that reads as "off" must not turn something on).
    The integers 0 and 1 pass, as heroku3 turns maintenance off with `0`.
    """

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _strict_flags(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _is_flag(field.annotation) or value is None:
            return value
        if isinstance(value, bool):
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
        raise ValueError("must be true or false")


def _is_flag(annotation: Any) -> bool:
    if annotation is bool:
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    return get_origin(annotation) in (Union, UnionType) and args == [bool]


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


class Accepted(Out):
    """The empty object (`{}`) of a request accepted for the runtime to carry out."""


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
