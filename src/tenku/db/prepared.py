"""Constant selects worked out once per database, for the hottest reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

Process = Callable[[Any], Any] | None


def result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Process:
    """What turns the driver's value of a column of `type_` into the one SQLAlchemy gives."""
    return type_.dialect_impl(dialect).result_processor(dialect, None)


@dataclass(frozen=True)
class Compiled:
    """A select's SQL for one dialect, with the order and the processing of its values.
    For drivers that take positional parameters (SQLite's)."""

    sql: str
    binds: Sequence[tuple[str, Process]]
    # The position and processing of each column that has any.
    results: Sequence[tuple[int, Callable[[Any], Any]]]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            values[name] if process is None else process(values[name])
            for name, process in self.binds
        )

    def row(self, raw: Sequence[Any]) -> list[Any]:
        values = list(raw)
        for at, process in self.results:
            value = values[at]
            if value is not None:
                values[at] = process(value)
        return values


class Prepared:
    """A select whose statement never changes (a module's constant, with only named,
    required parameters). Through a SQLite `Snapshot` it goes straight to the driver:
    SQLAlchemy's own execution (its statement cache's lookup, the result's set-up) cost
    several times what SQLite took for a one-row read."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> Compiled:
        compiled = self.stmt.compile(dialect=dialect)
        order = compiled.positiontup
        if order is None:
            raise ValueError(f"{dialect.name} takes named parameters")
        binds = []
        for name in order:
            bind = compiled.binds[name]
            if not bind.required:
                raise ValueError(f"parameter {name!r} has a value of its own")
            binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        results = [
            (at, process)
            for at, column in enumerate(self.stmt.selected_columns)
            if (process := result_processor(column.type, dialect)) is not None
        ]
        return Compiled(compiled.string, binds, results)
