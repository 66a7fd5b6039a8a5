from __future__ import annotations

import uuid

from pydantic import Field

from tenku.addons.catalog import Catalog
from tenku.db.models import Account, TeamAddonService
from tenku.ids import stable_id
from tenku.resources.common import AccountRef, In, Out
from tenku.web.render import Timestamp


class WhitelistedServiceRef(Out):
    human_name: str
    id: uuid.UUID
    name: str


class WhitelistedAddonServiceOut(Out):
    added_at: Timestamp
    # None once the account that added it is gone.
    added_by: AccountRef | None
    addon_service: WhitelistedServiceRef
    id: uuid.UUID

    @classmethod
    def of(
        cls, entry: TeamAddonService, added_by: Account | None, catalog: Catalog
    ) -> WhitelistedAddonServiceOut:
        spec = catalog.services.get(entry.service)
        # A service the operator has since taken out of the catalogue keeps its place.
        service = WhitelistedServiceRef(
            human_name=spec.human_name if spec else entry.service,
            id=spec.id if spec else stable_id("addon-service", entry.service),
            name=entry.service,
        )
        return cls(
            added_at=entry.added_at,
            added_by=AccountRef.of(added_by) if added_by is not None else None,
            addon_service=service,
            id=entry.id,
        )


class WhitelistCreate(In):
    addon_service: str = Field(min_length=1, max_length=128)
