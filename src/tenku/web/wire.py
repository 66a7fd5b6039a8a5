"""Long lists' bodies made straight from the values the database driver returns.

A page of 1,000 apps through response models cost about 40 ms: each UUID and timestamp
became a Python object (a call or two each), each row a model, and each model JSON. A
list that takes this path selects its columns `unprocessed`, builds each body as a plain
dict with converters chosen once for the database (`converters`), and `WireList` writes
the page with orjson. The response model stays the route's documentation, and the tests
hold every such list body to the schema and equal to the model-built body of the same
item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.sqltypes import NullType
from starlette.responses import Response

from tenku.db.prepared import result_processor
from tenku.web.render import JSON_TYPE

Convert = Callable[[Any], Any]

# Timestamps on the wire: UTC with `Z`, in whole seconds, as `render.zulu` writes them.
_DUMP_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
_ZERO = timedelta(0)


def unprocessed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column`, under its own name, as the driver returns it: no result processing."""
    return type_coerce(column, NullType()).label(column.key)


def is_unprocessed(stmt: Select[Any], key: str) -> bool:
    column = stmt.selected_columns.get(key)
    return column is not None and isinstance(column.type, NullType)


def processor(column: ColumnElement[Any] | QueryableAttribute[Any], dialect: Dialect) -> Convert:
    """What turns `column`'s unprocessed value into the value a processed select gives."""
    process = result_processor(column.type, dialect)
    return process if process is not None else unchanged


def unchanged(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Converters:
    """From a driver's value to what the JSON body holds (or what orjson writes so)."""

    uuid: Convert
    timestamp: Convert
    boolean: Convert


def _sqlite_uuid(value: str | None) -> str | None:
    # Stored as 32 hexadecimal digits.
    if value is None:
        return None
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def _sqlite_timestamp(value: str | None) -> str | None:
    # Stored as naive UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    if value is None:
        return None
    return f"{value[:10]}T{value[11:19]}Z"


def _sqlite_boolean(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _utc(value: datetime | None) -> datetime | None:
    # orjson writes an aware value in its own offset; the wire's is UTC.
    if value is None or value.utcoffset() == _ZERO:
        return value
    return value.astimezone(UTC)


_SQLITE = Converters(_sqlite_uuid, _sqlite_timestamp, _sqlite_boolean)
# PostgreSQL's driver returns UUIDs, aware datetimes and booleans, which orjson writes.
_NATIVE = Converters(unchanged, _utc, unchanged)


def converters(dialect: Dialect) -> Converters:
    return _SQLITE if dialect.name == "sqlite" else _NATIVE


def fragment(body: Any) -> orjson.Fragment:
    """`body` written once, to be placed as it is in every item of a page that shares it
    (an owner, a region): the items' dicts then hold nothing the garbage collector
    follows, and the page's JSON copies it instead of writing it again."""
    return orjson.Fragment(orjson.dumps(body, option=_DUMP_OPTIONS))


class WireList:
    """A page of JSON-ready bodies (dicts of str, int, bool, None, UUID, datetime and
    `fragment`s)."""

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = items

    def response(self, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(
            orjson.dumps(self.items, option=_DUMP_OPTIONS), status, headers, media_type=JSON_TYPE
        )
