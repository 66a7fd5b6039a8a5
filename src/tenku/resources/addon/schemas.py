from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator, model_validator

from tenku.resources.addon_service.schemas import AddonServiceOut
from tenku.resources.common import In, Out, Ref
from tenku.resources.plan.schemas import PlanOut
from tenku.web.render import Timestamp


def identity(value: Any) -> Any:
    """Clients name things as a string or as `{"id": ...}` / `{"name": ...}`."""
    if isinstance(value, dict):
        for key in ("id", "name"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
        raise ValueError("must be a string or an object with an id or a name")
    return value


class PartnerTokenOut(Out):
    """What `POST /oauth/token` gives a partner: an access token that reaches one add-on."""

    access_token: str
    expires_in: int
    refresh_token: str
    token_type: str
    user_id: uuid.UUID
    session_nonce: None = None


class ActionOut(Out):
    action: str
    id: uuid.UUID
    label: str
    requires_owner: bool
    url: str


class BilledPriceOut(Out):
    cents: int
    contract: bool
    unit: str


class BillingEntityOut(Out):
    id: uuid.UUID
    name: str
    type: str


class AddonOut(Out):
    # The reference types `actions` as one object; `state`, `billed_price`,
    # `billing_entity` and `provision_message` are read by today's CLI though the
    # reference lacks them.
    actions: ActionOut
    addon_service: Ref | AddonServiceOut
    app: Ref
    billed_price: BilledPriceOut | None = None
    # Who pays: always the add-on's app here (`redis:cli` reads its config vars by name).
    billing_entity: BillingEntityOut | None = None
    config_vars: list[str]
    created_at: Timestamp
    id: uuid.UUID
    name: str
    plan: Ref | PlanOut
    provider_id: str
    provision_message: str | None = None
    state: str = "provisioned"
    updated_at: Timestamp
    web_url: str | None


class AttachmentIn(In):
    name: str | None = None


class AddonCreate(In):
    plan: str = Field(min_length=1)
    config: dict[str, str | bool | int | float | None] = {}
    attachment: AttachmentIn | None = None
    name: str | None = None
    confirm: str | None = None

    _plan = field_validator("plan", mode="before")(identity)


class AddonUpdate(In):
    plan: str | None = None
    name: str | None = None
    attachment: dict[str, Any] | None = None

    _plan = field_validator("plan", mode="before")(identity)

    @model_validator(mode="after")
    def known(self) -> AddonUpdate:
        if self.attachment is not None:
            raise ValueError("Unknown params: attachment:name")
        if self.plan is None and self.name is None:
            raise ValueError("a plan or a name is required")
        return self


class AddonDelete(In):
    force: bool = False


class AddonResolve(In):
    addon: str = Field(min_length=1)
    app: str | None = None
    addon_service: str | None = None

    _app = field_validator("app", mode="before")(identity)
