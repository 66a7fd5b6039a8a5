"""The runtime's journal: which apps a transaction may have changed the desired state of.

The runtime used to read every app's desired state on every pass, so one config change
on a platform of 10,000 apps cost 10,000 apps' worth of reading. Now any transaction that
touches what a dyno's state is made of (an app, its releases, formation, dynos, features,
domains, certificates) writes the ids of those apps to `runtime_changes` before it
commits, from any process; the runtime reads the journal, re-reads only those apps, and
deletes the entries it applied (a full pass now and then stays the safety net).

A write the journal cannot place (a bulk UPDATE without the app in its WHERE, a new
account, which may change whether dynos run at all) is journaled as every app (NULL).
A bulk statement may name its apps with the execution option `runtime_apps`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Column, Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from tenku.db.models import (
    Account,
    App,
    AppFeatureState,
    Domain,
    Dyno,
    Formation,
    Release,
    RuntimeChange,
    SniEndpoint,
)
from tenku.db.prepared import Prepared
from tenku.db.statements import statements

# Rows whose `app_id` (an app's own `id`) names the app whose state they are part of.
_PER_APP: tuple[type[Any], ...] = (Release, Formation, Dyno, AppFeatureState, Domain, SniEndpoint)
_WATCHED: tuple[type[Any], ...] = (App, *_PER_APP)
_JOURNALED: tuple[type[Any], ...] = (*_WATCHED, Account)
_TABLES = frozenset(str(model.__tablename__) for model in _JOURNALED)
_DONE = "tenku_runtime_journaled"
_OFF = "tenku_runtime_unjournaled"
EVERY_APP: None = None
# Built once: most write requests journal an app.
_JOURNAL = Prepared(insert(cast(Table, RuntimeChange.__table__)), columns=("app_id",))
OPTION = "runtime_apps"


def _app_of(obj: object) -> uuid.UUID | None:
    if isinstance(obj, App):
        return obj.id
    return getattr(obj, "app_id", None)


def unjournaled(session: Session) -> None:
    """Write no journal from this session: for a database migrated only as far as a
    revision older than the journal (migration tests seed such databases)."""
    session.info[_OFF] = True


def _unjournaled(session: Session, apps: Iterable[uuid.UUID | None]) -> set[uuid.UUID | None]:
    """Of `apps`, those the transaction has not journaled yet, now marked journaled."""
    if session.info.get(_OFF):
        return set()
    done: set[uuid.UUID | None] = session.info.setdefault(_DONE, set())
    if EVERY_APP in done:
        return set()
    new = set(apps) - done
    if EVERY_APP in new:
        new = {EVERY_APP}
    done.update(new)
    return new


def _journal(session: Session, apps: Iterable[uuid.UUID | None]) -> None:
    new = _unjournaled(session, apps)
    if new:
        session.connection().execute(_JOURNAL.stmt, [{"app_id": app_id} for app_id in new])


async def journal(db: AsyncSession, apps: Iterable[uuid.UUID | None]) -> None:
    """Journal `apps` for writes that no SQLAlchemy event sees (`tenku.db.statements`)."""
    new = _unjournaled(db.sync_session, apps)
    if new:
        await (await statements(db)).run(_JOURNAL, [{"app_id": app_id} for app_id in new])


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _ctx: UOWTransaction) -> None:
    apps: set[uuid.UUID | None] = set()
    for obj in session.new:
        if isinstance(obj, Account):
            apps.add(EVERY_APP)
        elif isinstance(obj, _WATCHED):
            apps.add(_app_of(obj))
    for obj in session.deleted:
        if isinstance(obj, Account):
            apps.add(EVERY_APP)
        elif isinstance(obj, _WATCHED):
            apps.add(_app_of(obj))
    for obj in session.dirty:
        if isinstance(obj, _WATCHED) and session.is_modified(obj):
            apps.add(_app_of(obj))
    if apps:
        _journal(session, apps)


def _bound(value: Any, params: Any) -> list[uuid.UUID] | None:
    """The values a bound parameter holds: its own, or (a statement built once with a
    `bindparam`) those the execution passes under its key."""
    if not isinstance(value, BindParameter):
        return None
    raw = value.effective_value
    if raw is None and isinstance(params, dict):
        raw = params.get(value.key)
    values = raw if isinstance(raw, list | tuple | set | frozenset) else [raw]
    if not all(isinstance(v, uuid.UUID) for v in values):
        return None
    return list(values)


def _apps_in(clause: Any, params: Any) -> list[uuid.UUID] | None:
    """The apps a WHERE clause confines a statement to, if one of its AND-ed conditions is
    `apps.id` or an `app_id` equal to, or in, bound values."""
    terms = (
        list(clause.clauses)
        if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_
        else [clause]
    )
    for term in terms:
        if not isinstance(term, BinaryExpression) or term.operator not in (
            operators.eq,
            operators.in_op,
        ):
            continue
        column = term.left
        if not isinstance(column, Column) or column.table is None:
            continue
        if column.name == "app_id" or (column.table is App.__table__ and column.key == "id"):
            found = _bound(term.right, params)
            if found is not None:
                return found
    return None


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name not in _TABLES:
        return
    named = state.execution_options.get(OPTION)
    if named is not None:
        _journal(state.session, named)
        return
    if name == Account.__tablename__:
        # A changed account changes no dyno; a new or removed one may (see `_on_flush`).
        if not state.is_update:
            _journal(state.session, [EVERY_APP])
        return
    found = (
        None if state.is_insert else _apps_in(state.statement.whereclause, state.parameters)  # type: ignore[attr-defined]
    )
    _journal(state.session, found if found is not None else [EVERY_APP])


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    session.info.pop(_DONE, None)


# Soft rollbacks too: entries written inside a savepoint that rolled back are gone.
@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_DONE, None)
