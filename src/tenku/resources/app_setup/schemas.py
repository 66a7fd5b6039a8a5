from __future__ import annotations

import uuid

from pydantic import Field, field_validator

from tenku.resources.common import In, Out, Ref
from tenku.resources.config_var.service import validate_changes
from tenku.resources.organization_app.schemas import OrganizationAppCreate
from tenku.web.render import Timestamp


class SetupBuildOut(Out):
    id: uuid.UUID
    output_stream_url: str
    status: str


class PostdeployOut(Out):
    exit_code: int
    output: str


class AppSetupOut(Out):
    app: Ref
    build: SetupBuildOut | None
    created_at: Timestamp
    failure_message: str | None
    id: uuid.UUID
    manifest_errors: list[str]
    postdeploy: PostdeployOut | None
    resolved_success_url: str | None
    status: str
    updated_at: Timestamp


class SetupSourceIn(In):
    url: str = Field(min_length=1, max_length=4096)
    checksum: str | None = Field(default=None, max_length=128)
    version: str | None = Field(default=None, max_length=1024)


class SetupAppIn(OrganizationAppCreate):
    """The app a setup creates: what creating a team (or personal) app takes."""


class OverridesIn(In):
    env: dict[str, object] = {}

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, object]) -> dict[str, object]:
        changes = validate_changes(value)
        if any(v is None for v in changes.values()):
            raise ValueError("config var overrides are strings")
        return dict(changes)


class AppSetupCreate(In):
    source_blob: SetupSourceIn
    app: SetupAppIn | None = None
    overrides: OverridesIn | None = None
