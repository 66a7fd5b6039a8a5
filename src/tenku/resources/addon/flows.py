"""The parts of add-on requests that talk to providers, after the request has committed.

A request first commits what it decided (an add-on row in `provisioning`, or
just its checks); the provider is called from the request's after-commit hook
with no transaction open; what the provider answered is stored in a second,
short transaction. The built-in providers finish within a second or so, so the
201 already says `provisioned`; a partner that answers 202 leaves the add-on
`provisioning` until it calls back. The answer is rendered only then, through a
`LateResponse`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tenku.addons.catalog import PlanSpec, ServiceSpec
from tenku.addons.provider import ProviderError
from tenku.addons.registry import AddonRegistry
from tenku.db.models import Account, Addon, App
from tenku.resources.addon import service
from tenku.resources.addon.registry import registry
from tenku.resources.addon.render import Expand, render_addon
from tenku.resources.addon.schemas import AddonOut
from tenku.web.deps import after_commit, app_context
from tenku.web.errors import ApiError, InvalidParams, ServiceUnavailable
from tenku.web.render import model_response

log = logging.getLogger("tenku.addons")


class LateResponse(Response):
    """A response filled in by an after-commit hook, before anything is sent."""

    def __init__(self) -> None:
        self.background = None
        self.inner: Response | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            raise RuntimeError("the after-commit step did not produce a response")
        await self.inner(scope, receive, send)


def provider_error(exc: ProviderError) -> ApiError:
    return ServiceUnavailable(exc.message) if exc.unavailable else InvalidParams(exc.message)


def provision_later(
    request: Request, addons: AddonRegistry, pending: service.PendingProvision, expand: Expand
) -> Response:
    late = LateResponse()
    db_factory = app_context(request).db
    spec, req = pending.spec, pending.request
    provider = addons.provider(spec)

    async def run() -> None:
        try:
            result = await provider.provision(spec, req)
        except ProviderError as exc:
            async with db_factory.session(write=True) as db, db.begin():
                await service.discard(db, req.uuid)
            raise provider_error(exc) from exc
        try:
            async with db_factory.session(write=True) as db, db.begin():
                addon = await service.record_provision(db, req.uuid, result)
                if addon is None:
                    raise service.conflict_gone(req.name)
                body = await render_addon(db, addons.catalog, addon, expand)
        except BaseException:
            # Nobody will ever hear of what the provider made: take it back.
            with contextlib.suppress(ProviderError):
                await provider.deprovision(spec, req.uuid, result.provider_id)
            with contextlib.suppress(Exception):
                async with db_factory.session(write=True) as db, db.begin():
                    await service.discard(db, req.uuid)
            raise
        late.inner = model_response(body, status=201)

    after_commit(request, run)
    return late


async def deprovision_later(
    request: Request,
    db: AsyncSession,
    addons: AddonRegistry,
    spec: ServiceSpec | None,
    addon: Addon,
    user_id: uuid.UUID,
    body: AddonOut,
) -> Response:
    """Commit that the provider is being asked to let go, then ask it; should this worker
    die before the answer is recorded, the runtime asks again and removes the add-on."""
    await service.begin_destroy(db, addon)
    late = LateResponse()
    db_factory = app_context(request).db
    addon_id, provider_id = addon.id, addon.provider_id

    async def run() -> None:
        if spec is not None:
            try:
                await addons.provider(spec).deprovision(spec, addon_id, provider_id)
            except ProviderError as exc:
                async with db_factory.session(write=True) as later, later.begin():
                    await service.end_call(later, addon_id)
                raise provider_error(exc) from exc
        async with db_factory.session(write=True) as later, later.begin():
            addon = await service.locked(later, addon_id)
            user = await later.get(Account, user_id)
            if addon is not None and user is not None:
                await service.remove(later, addon, user)
        late.inner = model_response(body)

    after_commit(request, run)
    return late


def change_plan_later(
    request: Request,
    addons: AddonRegistry,
    addon: Addon,
    plan: PlanSpec,
    user_id: uuid.UUID,
    expand: Expand,
) -> Response:
    late = LateResponse()
    db_factory = app_context(request).db
    spec = addons.catalog.services[addon.service]
    addon_id, provider_id = addon.id, addon.provider_id

    async def run() -> None:
        try:
            result = await addons.provider(spec).change_plan(spec, addon_id, provider_id, plan)
        except ProviderError as exc:
            raise provider_error(exc) from exc
        async with db_factory.session(write=True) as db, db.begin():
            user = await db.get(Account, user_id)
            assert user is not None
            addon = await service.record_plan_change(
                db, addon_id, plan, result.config, result.message, user
            )
            if addon is None:
                raise service.conflict_gone(str(addon_id))
            body = await render_addon(db, addons.catalog, addon, expand)
        late.inner = model_response(body)

    after_commit(request, run)
    return late


async def before_app_delete(request: Request, db: AsyncSession, app: App) -> None:
    """Call in the request that deletes `app`, before it does.

    The app's add-ons leave the other apps they are shared with (a "Detach" release
    each); once the deletion has committed, their providers let go of them. Failures
    there are logged: the app, and with it the add-ons' rows, are gone either way.
    """
    addons = registry(request)
    catalog = addons.catalog
    doomed: list[tuple[ServiceSpec, uuid.UUID, str]] = []
    for addon in (await db.execute(select(Addon).where(Addon.app_id == app.id))).scalars():
        await service.detach_elsewhere(db, addon, app.id)
        spec = catalog.services.get(addon.service)
        if spec is not None:
            doomed.append((spec, addon.id, addon.provider_id))

    async def run() -> None:
        for spec, addon_id, provider_id in doomed:
            try:
                await addons.provider(spec).deprovision(spec, addon_id, provider_id)
            except ProviderError as exc:
                log.warning("add-on %s of deleted app %s not removed: %s", addon_id, app.id, exc)

    if doomed:
        after_commit(request, run)
