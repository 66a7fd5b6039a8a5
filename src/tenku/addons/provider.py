"""What every add-on provider does, built-in or partner: provision, change plan, deprovision.

The platform owns everything customers see (names, attachments, config var
renaming, releases, states); a provider only creates, changes and removes the
resource, and answers with config vars under its own names (`<PREFIX>_URL`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tenku.addons.catalog import PlanSpec, ServiceSpec


@dataclass(frozen=True)
class Grant:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class ProvisionRequest:
    """The v3 partner provision body, so the HTTP adapter is a serializer."""

    uuid: uuid.UUID
    name: str
    plan: PlanSpec
    region: str
    options: Mapping[str, str]
    callback_url: str
    grant: Grant | None = None
    # Whether the add-on may share the server's admin credentials (Redis without ACLs
    # hands out its one password): only where nobody else could be handed them too.
    may_share_admin: bool = False


@dataclass(frozen=True)
class ProvisionResult:
    provider_id: str
    # False when the provider finishes later and reports back (a partner's 202).
    done: bool
    config: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class PlanChangeResult:
    config: Mapping[str, str] | None = None
    message: str | None = None


class ProviderError(Exception):
    """The provider refused or could not be reached; `message` is shown to the user.

    `unavailable` tells a provider that could not be reached (503) from one that
    answered no (422).
    """

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unavailable = unavailable


class AddonProvider(Protocol):
    async def provision(self, spec: ServiceSpec, req: ProvisionRequest) -> ProvisionResult: ...

    async def change_plan(
        self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str, plan: PlanSpec
    ) -> PlanChangeResult: ...

    async def deprovision(self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str) -> None:
        """Idempotent: removing what is already gone succeeds."""
        ...
