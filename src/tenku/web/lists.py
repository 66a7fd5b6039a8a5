"""Lists: one page of rows chosen by the Range header, rendered in one go.

A list route names its query, its sort keys and a renderer that turns the whole page into
response models at once, so that whatever the bodies need besides the rows (owners'
emails, attachments, plans) is loaded with one query per page, never one per row.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.reads import Reads
from tenku.web.ranges import ListQuery, SortField, field, paginate, paginate_memory
from tenku.web.render import list_response
from tenku.web.wire import WireList

Column = InstrumentedAttribute[Any]
Rendered = Sequence[BaseModel] | WireList
Render = Callable[[list[Any]], Rendered | Awaitable[Rendered]]


@dataclass(frozen=True)
class Sorting:
    """The Range fields a list accepts, the id that breaks ties, and the default field."""

    fields: dict[str, SortField]
    id_column: Column
    default: str = "id"


def sorting(
    id_column: Column,
    *others: Column | tuple[str, SortField],
    default: str = "id",
) -> Sorting:
    """`id` plus `others`, each a unique column named by its key, or `(name, field(...))`."""
    fields = {"id": field(id_column)}
    for other in others:
        if isinstance(other, tuple):
            name, sort = other
            fields[name] = sort
        else:
            fields[other.key] = field(other)
    return Sorting(dict(sorted(fields.items())), id_column, default)


# The `openapi_extra` key under which a list route names the fields its Range header takes.
RANGES = "x-ranges"


def ranged(order: Sorting | Sequence[str] = ("id", "name")) -> dict[str, Any]:
    """`openapi_extra=` for a route that pages with the Range header (`paged` with `order`,
    or `catalog_list` with these fields): /schema and /openapi.json document them, and the
    tests hold them to the Accept-Ranges the route answers with."""
    names = list(order.fields) if isinstance(order, Sorting) else list(order)
    return {RANGES: names}


async def paged(
    request: Request,
    db: AsyncSession | Reads,
    stmt: Select[*tuple[Any, ...]] | ListQuery,
    order: Sorting,
    model: type[BaseModel],
    render: Render,
    headers: dict[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Response:
    """One page of `stmt` (a `ListQuery` with its `params`) as a list response.

    `render` gets the page's rows: the entities themselves when `stmt` selects one, else
    whole rows (whose first column carries the sort keys when it is an entity; otherwise
    the row's columns do, by name, processed or `unprocessed`). It returns response
    models, or the bodies themselves as a `WireList` (see tenku.web.wire).
    """
    page = await paginate(db, request, stmt, order.fields, order.id_column, order.default, params)
    single = page.width == 1
    items = render([row[0] for row in page.rows] if single else list(page.rows))
    if inspect.isawaitable(items):
        items = await items
    all_headers = {**page.headers, **(headers or {})}
    if isinstance(items, WireList):
        return items.response(page.status, all_headers)
    return list_response(model, items, page.status, all_headers)


def catalog_list(
    request: Request,
    model: type[BaseModel],
    items: Sequence[BaseModel],
    fields: Sequence[str] = ("id", "name"),
) -> Response:
    """A page of a small catalogue kept in memory (regions, stacks, features...)."""
    page = paginate_memory(request, items, fields)
    return list_response(model, page.rows, page.status, page.headers)
