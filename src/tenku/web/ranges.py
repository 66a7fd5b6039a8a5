"""Heroku's Range header: parsing, keyset paging, and the response headers.

Grammar: `<field> [[|]]<start>..[<end>][; max=<n>][, order=<asc|desc>]`. Real
clients send odd variants (trailing `;`, double commas, `; ;`), so parsing is
lenient and only truly broken values are refused.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Integer, Result, Select, Uuid, and_, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request

from tenku.db.base import UTCDateTime
from tenku.db.prepared import Prepared
from tenku.db.reads import Reads, reads_of
from tenku.web.errors import BadRequest, RangeNotSatisfiable
from tenku.web.wire import Convert, is_unprocessed, processor, unchanged

DEFAULT_MAX = 200
MAX_MAX = 1000
# Separates a non-unique sort value from the id that breaks ties, inside Next-Range.
TIE = "|"

_FIELD_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)?\s*(.*)$", re.S)


@dataclass
class RangeSpec:
    field: str | None = None
    start: str | None = None
    exclusive: bool = False
    end: str | None = None
    max: int = DEFAULT_MAX
    desc: bool = False


def parse_range(header: str | None) -> RangeSpec:
    spec = RangeSpec()
    if header is None or not header.strip():
        return spec
    head, _, params = header.partition(";")
    m = _FIELD_RE.match(head)
    if not m:
        raise BadRequest(
            "Invalid `Range` header. Please use format like `id ..; max=10, order=desc`."
        )
    spec.field = m.group(1)
    bounds = m.group(2).strip()
    if bounds:
        if ".." not in bounds:
            raise BadRequest(
                "Invalid `Range` header. Please use format like `id ..; max=10, order=desc`."
            )
        # Values may themselves hold ".." (drain URLs): an open-ended range, as in
        # every Next-Range we send, is taken to end at the final "..".
        if bounds.endswith(".."):
            start, end = bounds[:-2], ""
        else:
            start, _, end = bounds.partition("..")
        start = start.strip()
        if start.startswith("]"):
            spec.exclusive, start = True, start[1:]
        elif start.startswith("["):
            start = start[1:]
        spec.start = start.strip() or None
        spec.end = end.strip() or None
        if spec.end is not None and spec.start is None:
            raise RangeNotSatisfiable(
                "End range bounds without a start bound are currently not supported. "
                "Please specify a start bound."
            )
    for raw_part in re.split(r"[;,]", params):
        part = raw_part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not eq:
            continue
        if key == "max":
            if not value.isdigit():
                raise BadRequest("Invalid `Range` header: `max` must be a whole number.")
            spec.max = min(int(value), MAX_MAX)
        elif key == "order":
            if value not in ("asc", "desc"):
                raise BadRequest("Invalid `Range` header: `order` must be `asc` or `desc`.")
            spec.desc = value == "desc"
    return spec


Row = TypeVar("Row")


@dataclass
class SortField:
    column: InstrumentedAttribute[Any]
    unique: bool
    parse: Callable[[str], Any]
    show: Callable[[Any], str]


# What a database integer column holds (SQLite and PostgreSQL's bigint alike).
INT64 = 1 << 63


def _parse_int(v: str) -> int:
    value = int(v)
    if not -INT64 <= value < INT64:
        raise ValueError(f"{v} is out of range")
    return value


def _parse_uuid(v: str) -> uuid.UUID:
    return uuid.UUID(v)


def _parse_dt(v: str) -> datetime:
    return datetime.fromisoformat(v.replace("Z", "+00:00"))


def _show_dt(v: datetime) -> str:
    return v.isoformat().replace("+00:00", "Z")


def field(column: InstrumentedAttribute[Any], unique: bool = True) -> SortField:
    kind = column.type
    if isinstance(kind, Uuid):
        return SortField(column, unique, _parse_uuid, str)
    if isinstance(kind, Integer):
        return SortField(column, unique, _parse_int, str)
    if isinstance(kind, UTCDateTime | DateTime):
        return SortField(column, unique, _parse_dt, _show_dt)
    return SortField(column, unique, str, str)


@dataclass
class Page:
    rows: list[Any]
    headers: dict[str, str]
    status: int
    # How many things each row holds (one entity, or columns).
    width: int = 1


class ListQuery:
    """A list's statement that never changes (a module's constant, its parameters named
    with `bindparam`), selecting plain columns. Each shape of Range a request asks for
    (the field, the order, which bounds it gives) becomes one `Prepared` statement, worked
    out once: building, describing and caching a page's statement for each request cost
    as much as SQLite's reading of a short page."""

    def __init__(self, stmt: Select[*tuple[Any, ...]]) -> None:
        self.stmt = stmt
        self.keys = list(stmt.selected_columns.keys())
        self._pages: dict[tuple[str, bool, bool, bool, bool, bool], Prepared] = {}

    def page(
        self,
        name: str,
        sort: SortField,
        id_column: InstrumentedAttribute[Any],
        spec: RangeSpec,
        tie: bool,
    ) -> Prepared:
        """The statement for this Range (`tie`: whether its start bound has an id)."""
        start, end = spec.start is not None, spec.end is not None
        shape = (name, spec.desc, start, start and spec.exclusive, tie, end)
        found = self._pages.get(shape)
        if found is None:
            column = sort.column.expression
            stmt = _keyset(
                self.stmt,
                spec,
                sort.column,
                id_column,
                bindparam(_START, type_=column.type) if start else None,
                bindparam(_TIE, type_=id_column.expression.type) if tie else None,
                bindparam(_END, type_=column.type) if end else None,
                bindparam(_LIMIT, type_=Integer()),
            )
            found = self._pages[shape] = Prepared(stmt)
        return found


_START, _TIE, _END, _LIMIT = "range_start", "range_tie", "range_end", "range_limit"


def _keyset(
    stmt: Select[*tuple[Any, ...]],
    spec: RangeSpec,
    col: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    start: Any,
    tie: Any,
    end: Any,
    limit: Any,
) -> Select[*tuple[Any, ...]]:
    """`stmt` from the Range's bounds on, in its order: `start`, `tie` and `end` are values
    or parameters (None where the Range gives none), and so is `limit`."""
    if start is not None:
        after = col < start if spec.desc else col > start
        if spec.exclusive:
            if tie is not None:
                beyond_tie = id_column < tie if spec.desc else id_column > tie
                stmt = stmt.where(or_(after, and_(col == start, beyond_tie)))
            else:
                stmt = stmt.where(after)
        else:
            stmt = stmt.where(or_(after, col == start))
    if end is not None:
        stmt = stmt.where(col >= end if spec.desc else col <= end)
    order = [col.desc(), id_column.desc()] if spec.desc else [col.asc(), id_column.asc()]
    return stmt.order_by(*order).limit(limit)


async def paginate(
    db: AsyncSession | Reads,
    request: Request,
    stmt: Select[*tuple[Any, ...]] | ListQuery,
    fields: dict[str, SortField],
    id_column: InstrumentedAttribute[Any],
    default: str = "id",
    params: Mapping[str, Any] | None = None,
) -> Page:
    """Run `stmt` (with `params` for a `ListQuery`) for one page chosen by the request's
    Range header.

    Keyset paging: the start bound becomes a WHERE on the sort key (with the id
    breaking ties), so a deep page costs what the first one does.
    """
    spec = parse_range(request.headers.get("range"))
    name = spec.field if spec.field is not None and spec.field in fields else default
    sort = fields[name]
    col = sort.column
    tie_needed = not sort.unique

    def bound(raw: str) -> tuple[Any, Any]:
        value, _, tie = raw.partition(TIE) if tie_needed else (raw, "", "")
        try:
            parsed = sort.parse(value)
            tie_id = uuid.UUID(tie) if tie else None
        except ValueError as exc:
            raise BadRequest(f"Invalid `Range` header: bad value for `{name}`.") from exc
        return parsed, tie_id

    start = tie_id = end = None
    if spec.start is not None:
        start, tie_id = bound(spec.start)
        if not spec.exclusive:
            tie_id = None
    if spec.end is not None:
        end, _ = bound(spec.end)
    size = spec.max
    rows: list[Any]
    if isinstance(stmt, ListQuery):
        prepared = stmt.page(name, sort, id_column, spec, tie=tie_id is not None)
        values = {**(params or {}), _LIMIT: size + 1}
        for key, value in ((_START, start), (_TIE, tie_id), (_END, end)):
            if value is not None:
                values[key] = value
        rows = list(await reads_of(db).all(prepared, values))
        base, by_name, width, keys = stmt.stmt, True, len(stmt.keys), stmt.keys
    else:
        base = _keyset(stmt, spec, col, id_column, start, tie_id, end, size + 1)
        # The sort keys are read from the row's first column (an entity, or a bundle of
        # keys), or from the row itself when the statement selects a table's columns
        # (those are described without an entity).
        # (Describing a statement costs a call per column: once per page.)
        described = base.column_descriptions
        by_name = described[0].get("entity") is None
        width, keys = len(described), list(base.selected_columns.keys())
        result: Result[Any]
        if by_name:
            # Plain columns need none of the session's row handling, which costs more
            # than the query on a long page.
            result = await reads_of(db).execute(base)
        else:
            assert isinstance(db, AsyncSession), "a page of entities is the session's to load"
            result = await db.execute(base)
        rows = list(result.all())
    more = len(rows) > size
    rows = rows[:size]

    if by_name:
        at_value, at_id = keys.index(col.key), keys.index(id_column.key)
        # The keys of a page read `unprocessed` (a list made for the wire) are turned into
        # values here, for the first and last rows only.
        value_of: Convert = unchanged
        id_of: Convert = unchanged
        if is_unprocessed(base, col.key):
            dialect = reads_of(db).dialect
            value_of, id_of = processor(col, dialect), processor(id_column, dialect)

        def key_of(row: Any) -> str:
            shown = sort.show(value_of(row[at_value]))
            if not tie_needed:
                return shown
            return f"{shown}{TIE}{id_of(row[at_id])}"
    else:

        def key_of(row: Any) -> str:
            shown = sort.show(getattr(row[0], col.key))
            if not tie_needed:
                return shown
            return f"{shown}{TIE}{getattr(row[0], id_column.key)}"

    page = _page(name, list(fields), spec, rows, more, key_of)
    page.width = width
    return page


def _page(
    name: str,
    names: list[str],
    spec: RangeSpec,
    rows: list[Any],
    more: bool,
    key_of: Callable[[Any], str],
) -> Page:
    suffix = f"; max={spec.max}" + (", order=desc" if spec.desc else "")
    headers = {"Accept-Ranges": ", ".join(names)}
    if rows:
        headers["Content-Range"] = f"{name} {key_of(rows[0])}..{key_of(rows[-1])}{suffix}"
    else:
        headers["Content-Range"] = f"{name} ..{suffix}"
    if more and rows:
        headers["Next-Range"] = f"{name} ]{key_of(rows[-1])}..{suffix}"
        return Page(rows, headers, 206)
    return Page(rows, headers, 200)


def paginate_memory(request: Request, items: Sequence[Any], fields: Sequence[str]) -> Page:
    """Range over a small in-memory catalogue, sorted by a unique attribute."""
    spec = parse_range(request.headers.get("range"))
    name = spec.field if spec.field is not None and spec.field in fields else fields[0]

    def key_of(item: Any) -> str:
        return str(getattr(item, name))

    ordered = sorted(items, key=key_of, reverse=spec.desc)
    if spec.start is not None:
        start = spec.start

        def keep(item: Any) -> bool:
            k = key_of(item)
            if spec.exclusive:
                return k < start if spec.desc else k > start
            return k <= start if spec.desc else k >= start

        ordered = [i for i in ordered if keep(i)]
    if spec.end is not None:
        end = spec.end
        ordered = [i for i in ordered if (key_of(i) >= end if spec.desc else key_of(i) <= end)]
    rows = ordered[: spec.max]
    return _page(name, list(fields), spec, rows, len(ordered) > spec.max, key_of)
