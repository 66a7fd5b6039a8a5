from __future__ import annotations

import uuid

from tenku.addons.catalog import PlanSpec
from tenku.ids import EPOCH, stable_id
from tenku.resources.common import Out, Ref
from tenku.web.render import Timestamp


class PriceOut(Out):
    cents: int
    unit: str
    # Read by today's CLI (contract and metered plans print no amount).
    contract: bool = False
    metered: bool = False


class PlanOut(Out):
    addon_service: Ref
    created_at: Timestamp
    default: bool
    description: str
    human_name: str
    id: uuid.UUID
    installable_inside_private_network: bool
    installable_outside_private_network: bool
    name: str
    price: PriceOut
    space_default: bool
    state: str
    updated_at: Timestamp

    @classmethod
    def of(cls, plan: PlanSpec) -> PlanOut:
        return cls(
            addon_service=Ref(id=stable_id("addon-service", plan.service), name=plan.service),
            created_at=EPOCH,
            default=plan.default,
            description=plan.description,
            human_name=plan.human_name,
            id=plan.id,
            installable_inside_private_network=plan.installable_inside_private_network,
            installable_outside_private_network=plan.installable_outside_private_network,
            name=plan.name,
            price=PriceOut(
                cents=plan.price_cents,
                unit=plan.price_unit,
                contract=plan.contract,
                metered=plan.metered,
            ),
            space_default=plan.space_default,
            state=plan.state,
            updated_at=EPOCH,
        )
