from __future__ import annotations

import uuid

from tenku.addons.catalog import ServiceSpec
from tenku.ids import EPOCH
from tenku.resources.common import Out
from tenku.web.render import Timestamp


class AddonServiceOut(Out):
    cli_plugin_name: str | None
    created_at: Timestamp
    human_name: str
    id: uuid.UUID
    name: str
    state: str
    supports_multiple_installations: bool
    supports_sharing: bool
    updated_at: Timestamp

    @classmethod
    def of(cls, spec: ServiceSpec) -> AddonServiceOut:
        return cls(
            cli_plugin_name=spec.cli_plugin_name,
            created_at=EPOCH,
            human_name=spec.human_name,
            id=spec.id,
            name=spec.slug,
            state=spec.state,
            supports_multiple_installations=spec.supports_multiple_installations,
            supports_sharing=spec.supports_sharing,
            updated_at=EPOCH,
        )
