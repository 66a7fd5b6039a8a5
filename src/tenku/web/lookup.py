"""`{x_id_or_name}` path parameters: a row by its id, or by one of its other unique keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tenku.ids import as_uuid
from tenku.web.errors import NotFound

T = TypeVar("T")
Column = InstrumentedAttribute[Any]
# A key other than the id: a column, or a column and how the path spells its value
# (returning None when the path segment cannot be such a value).
Alternate = Column | tuple[Column, Callable[[str], Any]]


def by_ident(
    stmt: Select[*tuple[Any, ...]],
    ident: str,
    ids: Column | tuple[Column, ...],
    *alternates: Alternate,
) -> Select[*tuple[Any, ...]] | None:
    """`stmt` narrowed to the row `ident` names; None when no row could match.

    A UUID matches the id columns only; anything else matches the alternate keys.
    """
    uid = as_uuid(ident)
    conditions: list[ColumnElement[bool]] = []
    if uid is not None:
        for column in ids if isinstance(ids, tuple) else (ids,):
            conditions.append(column == uid)
    else:
        for alternate in alternates:
            column, spell = alternate if isinstance(alternate, tuple) else (alternate, str)
            value = spell(ident)
            if value is not None:
                conditions.append(column == value)
    if not conditions:
        return None
    return stmt.where(or_(*conditions))


async def find_one(
    db: AsyncSession,
    stmt: Select[T],
    ident: str,
    ids: Column | tuple[Column, ...],
    *alternates: Alternate,
) -> T | None:
    narrowed = by_ident(stmt, ident, ids, *alternates)
    if narrowed is None:
        return None
    found: T | None = (await db.execute(narrowed)).scalars().first()
    return found


async def get_one(
    db: AsyncSession,
    stmt: Select[T],
    ident: str,
    ids: Column | tuple[Column, ...],
    *alternates: Alternate,
    missing: NotFound,
) -> T:
    """The row `ident` names among `stmt`'s, or `missing` (a 404)."""
    found = await find_one(db, stmt, ident, ids, *alternates)
    if found is None:
        raise missing
    return found
