from __future__ import annotations

import uuid

from pydantic import Field, field_validator

from tenku.resources.addon.schemas import identity
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp


class AttachedAddonOut(Out):
    id: uuid.UUID
    name: str
    app: Ref
    plan: Ref


class AttachmentOut(Out):
    addon: AttachedAddonOut
    app: Ref
    # The names of the vars this attachment gives its app (clients ask with
    # Accept-Inclusion: config_vars), and the credential namespace (always none here).
    config_vars: list[str] = []
    created_at: Timestamp
    id: uuid.UUID
    name: str
    namespace: str | None = None
    updated_at: Timestamp
    web_url: str | None


class AttachmentCreate(In):
    addon: str = Field(min_length=1)
    app: str = Field(min_length=1)
    name: str | None = None
    confirm: str | None = None
    force: bool = False
    namespace: str | None = None

    _addon = field_validator("addon", mode="before")(identity)
    _app = field_validator("app", mode="before")(identity)


class AttachmentResolve(In):
    addon_attachment: str = Field(min_length=1)
    app: str | None = None
    addon_service: str | None = None

    _app = field_validator("app", mode="before")(identity)
