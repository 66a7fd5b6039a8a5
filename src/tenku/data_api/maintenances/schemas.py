from __future__ import annotations

from pydantic import BaseModel

from tenku.web.render import Timestamp


class MaintenanceAddon(BaseModel):
    attachments: list[str]
    kind: str
    name: str
    plan: str
    window: str | None = None


class MaintenanceApp(BaseModel):
    name: str


class MaintenanceOut(BaseModel):
    addon: MaintenanceAddon
    app: MaintenanceApp
    status: str
    method: str
    reason: str
    server_created_at: Timestamp
    required_by: str | None = None
    scheduled_for: str | None = None
    previously_scheduled_for: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    duration_seconds: str | None = None
    window: str | None = None
