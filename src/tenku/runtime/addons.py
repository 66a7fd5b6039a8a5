"""Add-on provider calls whose API worker died before it recorded the answer.

A request that provisions or deprovisions an add-on commits `provider_call` on the row,
calls the provider after the commit, and clears the mark with the answer. A mark older
than `addon_call_grace` means the worker is gone. Its provisioning is undone: the
provider is asked to deprovision (idempotent, whether or not it made the resource) and
the row is removed, since nobody was told it exists. Its deprovisioning is finished: the
provider is asked again and the add-on removed, as the user asked.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from tenku.addons.provider import ProviderError
from tenku.addons.registry import AddonRegistry
from tenku.addons.settings import AddonSettings
from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.loops import WAKE_GAP, Passes, Periodic
from tenku.resources.addon import service

log = logging.getLogger("tenku.runtime.addons")


@dataclass(frozen=True)
class _Stale:
    id: uuid.UUID
    name: str
    service: str
    provider_id: str
    call: str


@dataclass
class Swept:
    undone: int = 0
    finished: int = 0
    failed: int = 0


class AddonSweeper(Periodic):
    def __init__(self, settings: Settings, db: Database, addons: AddonRegistry | None = None):
        self.settings = settings
        self.db = db
        self.addons = addons or AddonRegistry(AddonSettings.of(settings))
        self.grace = timedelta(seconds=settings.addon_call_grace)
        interval = max(1.0, min(settings.addon_call_grace, 60.0))
        self._passes = Passes(
            "tenku-addon-sweeper",
            self.sweep,
            interval,
            logger=log,
            failure="could not sweep add-on provider calls",
            gap=WAKE_GAP,
        )

    async def sweep(self) -> Swept:
        swept = Swept()
        async with self.db.session(write=False) as db:
            rows = (await db.execute(service.stale_calls(utcnow() - self.grace))).scalars()
            stale = [
                _Stale(a.id, a.name, a.service, a.provider_id, a.provider_call or "") for a in rows
            ]
        for found in stale:
            try:
                await self._settle(found)
            except ProviderError as exc:
                swept.failed += 1
                log.warning("add-on %s: provider still refuses (%s)", found.name, exc.message)
                continue
            if found.call == service.PROVISION:
                swept.undone += 1
            else:
                swept.finished += 1
        return swept

    async def _settle(self, found: _Stale) -> None:
        if found.call == service.PROVISION and not await self._give_up(found):
            return
        spec = self.addons.catalog.services.get(found.service)
        if spec is not None:
            # A partner that never answered never told us its id; partners use ours.
            provider_id = found.provider_id or str(found.id)
            await self.addons.provider(spec).deprovision(spec, found.id, provider_id)
        async with self.db.session(write=True) as db, db.begin():
            addon = await service.locked(db, found.id)
            if addon is None or addon.provider_call != service.DEPROVISION:
                return
            if addon.announced:
                await service.remove(db, addon, await service.actor_for(db, addon))
            else:
                # Nobody was ever told it exists: no "Detach" releases either.
                await service.discard(db, addon.id)
        log.warning("add-on %s: a cut-off %s call was settled", found.name, found.call)

    async def _give_up(self, found: _Stale) -> bool:
        """Turn a cut-off provisioning into a deprovisioning, so that a late answer from
        the provider finds the add-on no longer wanted, and a refusal is retried."""
        async with self.db.session(write=True) as db, db.begin():
            addon = await service.locked(db, found.id)
            if addon is None or addon.provider_call != service.PROVISION:
                return False
            addon.state = "deprovisioned"
            addon.provider_call = service.DEPROVISION
            return True
