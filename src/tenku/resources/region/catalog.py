"""Regions Tenku answers for. All run on this installation; the names keep clients happy."""

from __future__ import annotations

from tenku.ids import EPOCH, as_uuid, stable_id
from tenku.resources.region.schemas import Provider, RegionOut

REGIONS = [
    RegionOut(
        country="United States",
        created_at=EPOCH,
        description="United States",
        id=stable_id("region", "us"),
        locale="Virginia",
        name="us",
        private_capable=False,
        provider=Provider(name="tenku", region="local"),
        updated_at=EPOCH,
    ),
    RegionOut(
        country="Ireland",
        created_at=EPOCH,
        description="Europe",
        id=stable_id("region", "eu"),
        locale="Dublin",
        name="eu",
        private_capable=False,
        provider=Provider(name="tenku", region="local"),
        updated_at=EPOCH,
    ),
]
DEFAULT_REGION = "us"


_BY_KEY = {key: r for r in REGIONS for key in (r.name, str(r.id))}


def find_region(ident: str) -> RegionOut | None:
    uid = as_uuid(ident)
    return _BY_KEY.get(str(uid) if uid is not None else ident)
