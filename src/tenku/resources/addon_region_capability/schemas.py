from __future__ import annotations

import uuid

from tenku.addons.catalog import ServiceSpec
from tenku.ids import stable_id
from tenku.resources.addon_service.schemas import AddonServiceOut
from tenku.resources.common import Out
from tenku.resources.region.schemas import RegionOut


class RegionCapabilityOut(Out):
    id: uuid.UUID
    supports_private_networking: bool
    addon_service: AddonServiceOut
    region: RegionOut

    @classmethod
    def of(cls, spec: ServiceSpec, region: RegionOut) -> RegionCapabilityOut:
        return cls(
            id=stable_id("addon-region-capability", f"{spec.slug}:{region.name}"),
            supports_private_networking=spec.supports_private_networking,
            addon_service=AddonServiceOut.of(spec),
            region=region,
        )
