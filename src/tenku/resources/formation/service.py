"""An app's formation: the process types of its current slug and how many of each to run.

Every change goes through `sync_formation` (a release changed the slug) or
`update_formation` (scale or resize), so anything that must react to a formation
change (starting or stopping dynos) has exactly these two places to hook into.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, App, Formation, Slug
from tenku.ids import as_uuid
from tenku.logs import store as logs
from tenku.resources.formation.schemas import FormationChange
from tenku.resources.formation.sizes import DEFAULT_SIZE, canonical_size, max_quantity
from tenku.web.errors import InvalidParams, NotFound

# Run by the release phase, once per release; never part of the formation.
RELEASE_TYPE = "release"


def formation_of(app_id: uuid.UUID) -> Select[Formation]:
    return select(Formation).where(Formation.app_id == app_id)


async def _rows(db: AsyncSession, app_id: uuid.UUID, lock: bool = False) -> list[Formation]:
    stmt = formation_of(app_id).order_by(Formation.type)
    if lock:
        stmt = stmt.with_for_update()
    return list((await db.execute(stmt)).scalars())


def _not_found(ident: str) -> NotFound:
    return NotFound("formation", f"Couldn't find that process type ({ident}).")


def _find(rows: list[Formation], ident: str) -> Formation | None:
    uid = as_uuid(ident)
    for row in rows:
        if row.type == ident or (uid is not None and row.id == uid):
            return row
    return None


async def get_formation(db: AsyncSession, app: App, ident: str) -> Formation:
    row = _find(await _rows(db, app.id), ident)
    if row is None:
        raise _not_found(ident)
    return row


async def sync_formation(
    db: AsyncSession, app: App, slug: Slug, user: Account | None = None
) -> list[Formation]:
    """Match the formation to a newly released slug's process types.

    New types start at quantity 0, except `web`, which Heroku scales to 1 the
    first time a release brings it (and logs, as a scale by the releaser); existing
    types keep their quantity and size.
    """
    commands = {
        str(kind): str(command)
        for kind, command in (slug.process_types or {}).items()
        if kind != RELEASE_TYPE
    }
    rows = {row.type: row for row in await _rows(db, app.id)}
    existing = set(rows)
    for kind, row in rows.items():
        if kind not in commands:
            await db.delete(row)
        elif row.command != commands[kind]:
            row.command = commands[kind]
    for kind, command in commands.items():
        if kind not in rows:
            rows[kind] = Formation(
                app_id=app.id,
                type=kind,
                command=command,
                quantity=1 if kind == "web" else 0,
                size=DEFAULT_SIZE,
            )
            db.add(rows[kind])
    await db.flush()
    kept = [rows[kind] for kind in sorted(commands)]
    if user is not None and "web" in commands and "web" not in existing:
        await _log_scale(db, app, user, kept)
    return kept


async def _log_scale(db: AsyncSession, app: App, user: Account, rows: list[Formation]) -> None:
    # The whole formation, not only the types that changed, as Heroku logs it.
    scale = ", ".join(f"{row.type}={row.quantity}" for row in rows)
    await logs.append(db, app.id, "heroku", "api", f"Scale to {scale} by {user.email}")


@dataclass
class _Planned:
    row: Formation
    quantity: int
    size: str


def _plan(row: Formation, change: FormationChange, planned: _Planned | None) -> _Planned:
    quantity = planned.quantity if planned else row.quantity
    size = planned.size if planned else canonical_size(row.size) or row.size
    if isinstance(change.quantity, str):
        quantity += int(change.quantity)
        if quantity < 0:
            raise InvalidParams(
                f"Invalid quantity provided: {row.type} would go below 0 ({quantity})."
            )
    elif change.quantity is not None:
        quantity = change.quantity
    if change.size is not None:
        size = change.size
    limit = max_quantity(size)
    if quantity > limit:
        raise InvalidParams(
            f"Invalid quantity provided: cannot update to more than {limit} {size} size "
            "dynos per process type."
        )
    return _Planned(row, quantity, size)


async def update_formation(
    db: AsyncSession, app: App, user: Account, changes: list[FormationChange]
) -> list[Formation]:
    """Scale and resize several process types at once; one bad change fails them all."""
    rows = await _rows(db, app.id, lock=True)
    plans: dict[uuid.UUID, _Planned] = {}
    for change in changes:
        row = _find(rows, change.type)
        if row is None:
            raise _not_found(change.type)
        plans[row.id] = _plan(row, change, plans.get(row.id))
    changed = False
    for plan in plans.values():
        if plan.row.quantity != plan.quantity or plan.row.size != plan.size:
            changed = True
            plan.row.quantity = plan.quantity
            plan.row.size = plan.size
    await db.flush()
    if changed:
        await _log_scale(db, app, user, rows)
    return [plan.row for plan in plans.values()]
