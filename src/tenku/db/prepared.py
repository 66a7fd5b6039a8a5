"""Constant statements worked out once per database, for the hottest paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import TypeEngine

Process = Callable[[Any], Any] | None
_REQUIRED = object()


def result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Process:
    """What turns the driver's value of a column of `type_` into the one SQLAlchemy gives."""
    return type_.dialect_impl(dialect).result_processor(dialect, None)


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL for one dialect, with the order and the processing of its values.
    For drivers that take positional parameters (SQLite's)."""

    sql: str
    # Each parameter's name, processing, and value when the statement holds its own
    # (a literal such as the 1 of `seq + 1`).
    binds: Sequence[tuple[str, Process, Any]]
    # The position and processing of each column that has any.
    results: Sequence[tuple[int, Callable[[Any], Any]]]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, process, own in self.binds:
            value = values[name] if own is _REQUIRED else own
            out.append(value if process is None else process(value))
        return tuple(out)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(raw)
        values = list(raw)
        for at, process in self.results:
            value = values[at]
            if value is not None:
                values[at] = process(value)
        return tuple(values)

    def rows(self, raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The driver's rows (tuples), processed."""
        if not self.results:
            return raw
        return [self.row(row) for row in raw]


class Prepared:
    """A statement that never changes (a module's constant, whose parameters are named
    `bindparam`s or literals). Through a SQLite `Snapshot` or a write transaction's
    `Statements` it goes straight to the driver: SQLAlchemy's own execution (its statement
    cache's lookup, the result's set-up, the session's and the pool's layers) cost several
    times what SQLite took for it."""

    def __init__(
        self, stmt: Select[*tuple[Any, ...]] | UpdateBase, columns: Sequence[str] = ()
    ) -> None:
        """`columns`: for an INSERT of rows given as they are (`insert(table)`), the
        columns every row gives, as SQLAlchemy would work them out from the rows."""
        self.stmt = stmt
        self._columns = list(columns) or None
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> Compiled:
        compiled = self.stmt.compile(dialect=dialect, column_keys=self._columns)
        if compiled.insert_prefetch or compiled.update_prefetch:
            # A column's Python-side default or onupdate, which SQLAlchemy's execution
            # would work out: the statement must give its value itself.
            computed = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise ValueError(f"values computed at execution: {', '.join(computed)}")
        order = compiled.positiontup
        if order is None:
            raise ValueError(f"{dialect.name} takes named parameters")
        binds = []
        for name in order:
            bind = compiled.binds[name]
            if bind.callable is not None:
                raise ValueError(f"parameter {name!r} is computed at execution")
            if bind.expanding:
                raise ValueError(f"parameter {name!r} is expanded at execution (an IN list)")
            own = _REQUIRED if bind.required else bind.value
            binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), own))
        results = [
            (at, process)
            for at, column in enumerate(self.stmt.exported_columns)
            if (process := result_processor(column.type, dialect)) is not None
        ]
        return Compiled(compiled.string, binds, results)
