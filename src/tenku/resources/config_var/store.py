"""Reading and writing an app's config vars, below any release logic.

An app's config is its own vars plus, for each attachment of a provisioned
add-on, the provider's vars renamed to the attachment (`DATABASE_URL`). Those
belong to the attachment: they win over own vars of the same name, and only
attaching and detaching add or remove them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.naming import rename_vars
from tenku.db.engine import core
from tenku.db.models import Addon, AddonAttachment, ConfigVar
from tenku.db.prepared import Prepared
from tenku.db.statements import statements

# Built once, and run straight by SQLite's driver (`tenku.db.statements`): a config change
# runs each of these, and building a statement, or SQLAlchemy's execution of one, cost
# more than running it.
_APP_ID = bindparam("app_id", type_=ConfigVar.app_id.type)
_OWN = Prepared(
    select(ConfigVar.key, ConfigVar.value)
    .where(ConfigVar.app_id == _APP_ID)
    .order_by(ConfigVar.key)
)
# Every attachment of an add-on not yet gone: the provisioned ones give their vars, and
# all of them their plans (which a release records).
_ATTACHED = Prepared(
    select(AddonAttachment.name, Addon.config, Addon.config_prefix, Addon.plan, Addon.state)
    .join(Addon, Addon.id == AddonAttachment.addon_id)
    .where(AddonAttachment.app_id == _APP_ID, Addon.state != "deprovisioned")
    .order_by(AddonAttachment.created_at, AddonAttachment.name)
)
# The table's own statements: config vars are never loaded as entities, so the ORM's
# bookkeeping (a unit-of-work flush per change, the session's execution layer per
# statement) would buy nothing.
_VARS = cast(Table, ConfigVar.__table__)
_CLEAR = Prepared(delete(_VARS).where(_VARS.c.app_id == _APP_ID))
_ADD = Prepared(insert(_VARS))
_DROP = delete(_VARS).where(
    _VARS.c.app_id == _APP_ID, _VARS.c.key.in_(bindparam("keys", expanding=True))
)


def _upserting(insert_of: Callable[[Table], Any]) -> Any:
    stmt = insert_of(_VARS)
    return stmt.on_conflict_do_update(
        index_elements=[_VARS.c.app_id, _VARS.c.key], set_={"value": stmt.excluded.value}
    )


_UPSERT = {
    "postgresql": Prepared(_upserting(postgresql.insert)),
    "sqlite": Prepared(_upserting(sqlite.insert)),
}


async def own_config(db: AsyncSession, app_id: uuid.UUID) -> dict[str, str]:
    rows = await (await statements(db)).all(_OWN, {"app_id": app_id})
    return {row[0]: row[1] for row in rows}


@dataclass(frozen=True)
class Attached:
    """What an app's add-on attachments give it: config vars, and the add-ons' plans."""

    config: dict[str, str]
    plans: list[str]


async def attached(db: AsyncSession, app_id: uuid.UUID) -> Attached:
    rows = await (await statements(db)).all(_ATTACHED, {"app_id": app_id})
    config: dict[str, str] = {}
    plans: set[str] = set()
    for name, vars_, prefix, plan, state in rows:
        plans.add(plan)
        if state == "provisioned":
            config.update(rename_vars(vars_, prefix, name))
    return Attached(config, sorted(plans))


async def attachment_config(db: AsyncSession, app_id: uuid.UUID) -> dict[str, str]:
    return (await attached(db, app_id)).config


def merged(own: dict[str, str], addons: Attached) -> dict[str, str]:
    """An app's config: its own vars, under its attachments' (which win), by name."""
    return dict(sorted({**own, **addons.config}.items()))


async def current_config(db: AsyncSession, app_id: uuid.UUID) -> dict[str, str]:
    return merged(await own_config(db, app_id), await attached(db, app_id))


async def replace_config(
    db: AsyncSession,
    app_id: uuid.UUID,
    config: dict[str, str],
    managed: dict[str, str] | None = None,
) -> None:
    """Make `config` the app's own vars; names an attachment provides (`managed`, read
    here unless the caller has just read them) are not stored."""
    if managed is None:
        managed = await attachment_config(db, app_id)
    run = await statements(db)
    await run.run(_CLEAR, {"app_id": app_id})
    rows = [{"app_id": app_id, "key": k, "value": v} for k, v in config.items() if k not in managed]
    if rows:
        await run.run(_ADD, rows)


async def change_config(
    db: AsyncSession, app_id: uuid.UUID, changes: Mapping[str, str | None]
) -> None:
    """Store a change to the app's own vars: each key set to its value, or removed
    (None). Only what changes is written, whatever the number of vars."""
    gone = [key for key, value in changes.items() if value is None]
    if gone:
        # A list of keys (an expanding parameter): not a constant statement.
        await (await core(db)).execute(_DROP, {"app_id": app_id, "keys": gone})
    kept = [
        {"app_id": app_id, "key": key, "value": value}
        for key, value in changes.items()
        if value is not None
    ]
    if kept:
        run = await statements(db)
        await run.run(_UPSERT[run.dialect.name], kept)


async def drop_own_vars(db: AsyncSession, app_id: uuid.UUID, keys: set[str]) -> None:
    """An attachment takes these names over: the app's own values of them go."""
    if keys:
        await db.execute(
            delete(ConfigVar).where(ConfigVar.app_id == app_id, ConfigVar.key.in_(keys))
        )
