"""The auth generation: a counter that moves with every change to who a token is.

API workers keep each token's account and authorization in memory. Whatever changes an
account or an authorization (a revoke, a regenerated token, a new password or scope, a
suspension, a deletion) moves the counter in the same transaction, from any process
(the API, the CLI); a worker reads it again once its last read is `CHECK_EVERY` seconds
old (requests wait for that read only once it is `TRUSTED_FOR` old) and drops what it
keeps when the counter moved. A change committed in this process is known at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from tenku.db.models import Account, AuthGeneration, Authorization

CHECK_EVERY = 0.5
# What a worker read of the counter serves requests for at most this long (seconds) from
# the read's start; past CHECK_EVERY a new read runs beside them, and only past this do
# requests wait for it. A change made elsewhere reaches every worker within this bound.
TRUSTED_FOR = 0.8
_WATCHED = (Account, Authorization)
_FLAG = "tenku_auth_changed"


class _Local:
    # Commits in this process that moved the counter.
    changes = 0


def local_changes() -> int:
    return _Local.changes


async def current(db: AsyncSession) -> int:
    found = (
        await db.execute(select(AuthGeneration.generation).where(AuthGeneration.id == 1))
    ).scalar_one_or_none()
    return found or 0


def _bump(session: Session) -> None:
    if session.info.get(_FLAG):
        return
    session.info[_FLAG] = True
    conn = session.connection()
    moved = conn.execute(
        update(AuthGeneration)
        .where(AuthGeneration.id == 1)
        .values(generation=AuthGeneration.generation + 1)
    )
    if moved.rowcount == 0:
        conn.execute(insert(AuthGeneration).values(id=1, generation=1))


@event.listens_for(Session, "before_flush")
def _on_flush(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    if any(isinstance(obj, _WATCHED) for obj in session.deleted) or any(
        isinstance(obj, _WATCHED) and session.is_modified(obj) for obj in session.dirty
    ):
        _bump(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper and issubclass(mapper.class_, _WATCHED):
        _bump(state.session)


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        _Local.changes += 1


@event.listens_for(Session, "after_rollback")
def _on_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)
