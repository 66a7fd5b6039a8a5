"""The dependency every app-scoped route starts from: caller, scope, app, rights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App
from tenku.resources.app.service import Need, get_app
from tenku.web.deps import Principal, get_db, scoped


@dataclass
class OnApp:
    app: App
    caller: Principal
    db: AsyncSession


def on_app(scope: str, need: Need = "read") -> Any:
    """Authenticate with `scope`, then resolve `{app_id_or_name}` at the level `need`."""

    async def resolve(
        app_id_or_name: str,
        caller: Principal = scoped(scope),
        db: AsyncSession = Depends(get_db),
    ) -> OnApp:
        return OnApp(await get_app(db, caller, app_id_or_name, need), caller, db)

    return Depends(resolve)
