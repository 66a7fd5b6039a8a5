"""`GET /data/maintenances/v1/{addon}`: the built-in data add-ons' maintenance status.

The built-in providers run on the operator's servers, whose upkeep is the operator's:
Tenku schedules no maintenance of an add-on, so the status is always `none`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import Response

from tenku.data_api.access import Database, database
from tenku.data_api.maintenances.schemas import MaintenanceAddon, MaintenanceApp, MaintenanceOut
from tenku.db.models import AddonAttachment
from tenku.web.deps import TransactionRoute
from tenku.web.render import model_response

# The Data API is not the Platform API: /schema and /openapi.json leave it out.
router = APIRouter(route_class=TransactionRoute, include_in_schema=False)


@router.get("/data/maintenances/v1/{database}", response_model=MaintenanceOut)
async def maintenance_info(
    d: Annotated[Database, database(("postgresql", "redis"), "view")],
) -> Response:
    names = await d.db.execute(
        select(AddonAttachment.name)
        .where(AddonAttachment.addon_id == d.addon.id, AddonAttachment.app_id == d.app.id)
        .order_by(AddonAttachment.name)
    )
    return model_response(
        MaintenanceOut(
            addon=MaintenanceAddon(
                attachments=[f"{n}_URL" for n in names.scalars()],
                kind=d.addon.service,
                name=d.addon.name,
                plan=d.addon.plan,
            ),
            app=MaintenanceApp(name=d.app.name),
            status="none",
            method="none",
            reason="No maintenance is scheduled.",
            server_created_at=d.addon.created_at,
        )
    )
