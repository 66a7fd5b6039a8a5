"""Feature catalogues with per-owner overrides; app features here, account features reuse it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.engine import dialect_name
from tenku.db.models import AccountFeatureState, App, AppFeatureState
from tenku.resources.app_feature.catalog import APP_FEATURES, find_feature
from tenku.resources.app_feature.schemas import FeatureOut
from tenku.web.errors import NotFound

StateModel = type[AppFeatureState] | type[AccountFeatureState]
# The owner's key column(s) in the state table, e.g. {"app_id": app.id}.
Owner = dict[str, uuid.UUID]


def lookup(catalog: Sequence[FeatureOut], ident: str) -> FeatureOut:
    found = find_feature(catalog, ident)
    if found is None:
        raise NotFound("feature")
    return found


async def _overrides(
    db: AsyncSession, model: StateModel, owner: Owner, name: str | None = None
) -> dict[str, bool]:
    stmt = select(model.name, model.enabled).filter_by(**owner)
    if name is not None:
        stmt = stmt.filter_by(name=name)
    return dict((await db.execute(stmt)).all())


async def features_of(
    db: AsyncSession, catalog: Sequence[FeatureOut], model: StateModel, owner: Owner
) -> list[FeatureOut]:
    states = await _overrides(db, model, owner)
    return [f.with_enabled(states.get(f.name, f.enabled)) for f in catalog]


async def feature_of(
    db: AsyncSession, catalog: Sequence[FeatureOut], model: StateModel, owner: Owner, ident: str
) -> FeatureOut:
    entry = lookup(catalog, ident)
    states = await _overrides(db, model, owner, entry.name)
    return entry.with_enabled(states.get(entry.name, entry.enabled))


async def set_enabled(
    db: AsyncSession,
    catalog: Sequence[FeatureOut],
    model: StateModel,
    owner: Owner,
    ident: str,
    enabled: bool,
) -> FeatureOut:
    entry = lookup(catalog, ident)
    # One upsert statement: two concurrent first-time updates cannot collide on the key.
    insert = postgresql.insert if dialect_name(db) == "postgresql" else sqlite.insert
    stmt = insert(model).values(**owner, name=entry.name, enabled=enabled)
    await db.execute(
        stmt.on_conflict_do_update(index_elements=[*owner, "name"], set_={"enabled": enabled})
    )
    return entry.with_enabled(enabled)


def _owner(app: App) -> Owner:
    return {"app_id": app.id}


async def app_features(db: AsyncSession, app: App) -> list[FeatureOut]:
    return await features_of(db, APP_FEATURES, AppFeatureState, _owner(app))


async def app_feature(db: AsyncSession, app: App, ident: str) -> FeatureOut:
    return await feature_of(db, APP_FEATURES, AppFeatureState, _owner(app), ident)


async def update_app_feature(db: AsyncSession, app: App, ident: str, enabled: bool) -> FeatureOut:
    return await set_enabled(db, APP_FEATURES, AppFeatureState, _owner(app), ident, enabled)
