"""Add-on and attachment bodies, loading what a page of them needs in a few queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.addons.catalog import ActionSpec, Catalog, PlanSpec, ServiceSpec
from tenku.addons.naming import renamed
from tenku.db.models import Addon, AddonAttachment, App
from tenku.ids import EPOCH, stable_id
from tenku.resources.addon.schemas import ActionOut, AddonOut, BilledPriceOut, BillingEntityOut
from tenku.resources.addon_attachment.schemas import AttachedAddonOut, AttachmentOut
from tenku.resources.addon_service.schemas import AddonServiceOut
from tenku.resources.common import Ref
from tenku.resources.plan.schemas import PlanOut

# How long an add-on may stay `provisioning` before it counts as failed: partners
# have Heroku's 12 hours; built-in providers finish within the request that made them.
DEADLINES = {"partner": timedelta(hours=12)}
BUILTIN_DEADLINE = timedelta(minutes=15)


@dataclass(frozen=True)
class Expand:
    addon_service: bool = False
    plan: bool = False

    @classmethod
    def of(cls, request: Request) -> Expand:
        wanted = {
            part.strip()
            for part in request.headers.get("accept-expansion", "").split(",")
            if part.strip()
        }
        return cls(addon_service="addon_service" in wanted, plan="plan" in wanted)


def service_of(catalog: Catalog, addon: Addon) -> ServiceSpec | None:
    return catalog.services.get(addon.service)


def plan_of(catalog: Catalog, addon: Addon) -> PlanSpec:
    """The add-on's plan; one the catalogue no longer has is described from the row."""
    spec = service_of(catalog, addon)
    slug = addon.plan.split(":", 1)[-1]
    found = spec.plan(slug) if spec is not None else None
    if found is not None:
        return found
    return PlanSpec(
        service=addon.service,
        slug=slug,
        human_name=slug,
        description=addon.plan,
        price_cents=addon.billed_cents,
        price_unit=addon.billed_unit,
        contract=addon.billed_contract,
        metered=False,
        default=False,
        state="deprecated",
        installable_inside_private_network=False,
        installable_outside_private_network=True,
        space_default=False,
        settings={},
    )


def state_of(catalog: Catalog, addon: Addon) -> str:
    if addon.state != "provisioning":
        return addon.state
    spec = service_of(catalog, addon)
    limit = DEADLINES.get(spec.provider if spec else "partner", BUILTIN_DEADLINE)
    if datetime.now(UTC) - addon.created_at > limit:
        return "deprovisioned"
    return "provisioning"


def _action(catalog: Catalog, addon: Addon) -> ActionOut:
    spec = service_of(catalog, addon)
    action = spec.action if spec else ActionSpec("open", f"Open {addon.service}", "", False)
    return ActionOut(
        action=action.action,
        id=stable_id("addon-action", f"{addon.service}:{action.action}"),
        label=action.label,
        requires_owner=action.requires_owner,
        url=action.url,
    )


def _service_out(catalog: Catalog, addon: Addon, expand: Expand) -> Ref | AddonServiceOut:
    spec = service_of(catalog, addon)
    ref = Ref(id=stable_id("addon-service", addon.service), name=addon.service)
    if not expand.addon_service:
        return ref
    if spec is not None:
        return AddonServiceOut.of(spec)
    return AddonServiceOut(
        cli_plugin_name=None,
        created_at=EPOCH,
        human_name=addon.service,
        id=ref.id,
        name=addon.service,
        state="shutdown",
        supports_multiple_installations=False,
        supports_sharing=False,
        updated_at=EPOCH,
    )


def plan_ref(addon: Addon) -> Ref:
    return Ref(id=stable_id("addon-plan", addon.plan), name=addon.plan)


def exposed_vars(addon: Addon, names: Sequence[str]) -> list[str]:
    """The config var names `names` (attachments in one app) give that app."""
    if addon.state != "provisioned":
        return []
    return sorted(renamed(k, addon.config_prefix, n) for n in names for k in addon.config)


async def _apps(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, App]:
    if not ids:
        return {}
    rows = await db.execute(select(App).where(App.id.in_(ids)))
    return {app.id: app for app in rows.scalars()}


async def render_addons(
    db: AsyncSession,
    catalog: Catalog,
    addons: Sequence[Addon],
    expand: Expand = Expand(),
    *,
    state: str | None = None,
) -> list[AddonOut]:
    apps = await _apps(db, {a.app_id for a in addons})
    billing_names: dict[uuid.UUID, list[str]] = {a.id: [] for a in addons}
    if addons:
        rows = await db.execute(
            select(AddonAttachment)
            .where(AddonAttachment.addon_id.in_(list(billing_names)))
            .order_by(AddonAttachment.created_at, AddonAttachment.name)
        )
        owners = {a.id: a.app_id for a in addons}
        for att in rows.scalars():
            if att.app_id == owners[att.addon_id]:
                billing_names[att.addon_id].append(att.name)
    out = []
    for addon in addons:
        app = apps[addon.app_id]
        plan = plan_of(catalog, addon)
        shown_state = state or state_of(catalog, addon)
        out.append(
            AddonOut(
                actions=_action(catalog, addon),
                addon_service=_service_out(catalog, addon, expand),
                app=Ref.of(app),
                billed_price=BilledPriceOut(
                    cents=addon.billed_cents,
                    contract=addon.billed_contract,
                    unit=addon.billed_unit,
                ),
                billing_entity=BillingEntityOut(id=app.id, name=app.name, type="app"),
                config_vars=(
                    exposed_vars(addon, billing_names[addon.id])
                    if shown_state == "provisioned"
                    else []
                ),
                created_at=addon.created_at,
                id=addon.id,
                name=addon.name,
                plan=PlanOut.of(plan) if expand.plan else plan_ref(addon),
                provider_id=addon.provider_id,
                provision_message=addon.provision_message,
                state=shown_state,
                updated_at=addon.updated_at,
                web_url=None,
            )
        )
    return out


async def render_addon(
    db: AsyncSession,
    catalog: Catalog,
    addon: Addon,
    expand: Expand = Expand(),
    *,
    state: str | None = None,
) -> AddonOut:
    return (await render_addons(db, catalog, [addon], expand, state=state))[0]


async def render_attachments(
    db: AsyncSession, attachments: Sequence[AddonAttachment]
) -> list[AttachmentOut]:
    addon_ids = {a.addon_id for a in attachments}
    addons: dict[uuid.UUID, Addon] = {}
    if addon_ids:
        rows = await db.execute(select(Addon).where(Addon.id.in_(addon_ids)))
        addons = {a.id: a for a in rows.scalars()}
    apps = await _apps(db, {a.app_id for a in attachments} | {a.app_id for a in addons.values()})
    out = []
    for att in attachments:
        addon = addons[att.addon_id]
        owner, app = apps[addon.app_id], apps[att.app_id]
        out.append(
            AttachmentOut(
                addon=AttachedAddonOut(
                    id=addon.id,
                    name=addon.name,
                    app=Ref.of(owner),
                    plan=plan_ref(addon),
                ),
                app=Ref.of(app),
                config_vars=exposed_vars(addon, [att.name]),
                created_at=att.created_at,
                id=att.id,
                name=att.name,
                namespace=None,
                updated_at=att.updated_at,
                web_url=None,
            )
        )
    return out
