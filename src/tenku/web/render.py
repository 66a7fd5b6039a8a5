"""JSON responses: compact bodies serialized straight from Pydantic models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer, TypeAdapter, WithJsonSchema
from sqlalchemy import Row
from starlette.responses import Response

JSON_TYPE = "application/json"


def zulu(value: datetime) -> str:
    # Called for every timestamp of every body: isoformat costs less than strftime, and
    # the rows' timestamps are in UTC already.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"


# Every timestamp on the wire: ISO 8601, UTC, whole seconds, with `Z`.
Timestamp = Annotated[
    datetime,
    PlainSerializer(zulu, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# A timestamp given in UTC and in whole seconds (`whole()`): pydantic writes it itself, in
# the same form, without a call back into Python for each one (a third of a long app
# list's serialization was `zulu`).
WholeTimestamp = Annotated[datetime, WithJsonSchema({"type": "string", "format": "date-time"})]


def whole(value: datetime) -> datetime:
    """`value` (from a row: in UTC) for a WholeTimestamp field."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0)


class Columns:
    """A result row's columns as plain attributes. Reading a SQLAlchemy `Row`'s field by
    name costs about as much as building this whole object from it, and a list page reads
    a dozen fields of each of a thousand rows."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values

    def __getattr__(self, name: str) -> Any:
        # Only for names the row did not have (and for the type checker).
        raise AttributeError(name)


def as_columns(rows: Sequence[Row[Any]]) -> list[Columns]:
    if not rows:
        return []
    fields = rows[0]._fields
    return [Columns(dict(zip(fields, row, strict=True))) for row in rows]


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def list_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


def model_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(model.model_dump_json(), status, headers, media_type=JSON_TYPE)


def list_response(
    model: type[BaseModel],
    items: Sequence[BaseModel],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    body = list_adapter(model).dump_json(list(items))
    return Response(body, status, headers, media_type=JSON_TYPE)


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def raw_json(data: Any, status: int = 200) -> Response:
    body = _ANY.dump_json(data)
    return Response(body, status, media_type=JSON_TYPE)
