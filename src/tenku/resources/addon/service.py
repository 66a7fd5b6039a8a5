"""Add-on lifecycle in the database: rows, attachments, releases. Never talks to providers.

Provisioning is split around the provider call, which happens with no
transaction open: `begin_create` stores the add-on as `provisioning` with its
attachments; `record_provision` (a later transaction) stores what the provider
answered and makes the "Attach" release; `discard` removes a failed add-on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.catalog import Catalog, PlanSpec, ServiceSpec
from tenku.addons.naming import (
    ADDON_NAME_RE,
    color_name,
    generate_addon_name,
    normalize_attachment_name,
    renamed,
)
from tenku.addons.provider import Grant, ProvisionRequest, ProvisionResult
from tenku.addons.settings import AddonSettings
from tenku.db.base import utcnow
from tenku.db.models import Account, Addon, AddonAttachment, AddonToken, App, TeamMember
from tenku.resources.addon.schemas import AddonCreate
from tenku.resources.config_var.store import drop_own_vars, own_config
from tenku.resources.region.catalog import find_region
from tenku.resources.release import service as releases
from tenku.resources.whitelisted_addon_service.service import check_allowed
from tenku.security import new_token, token_digest
from tenku.web.errors import ConfirmationRequired, Conflict, InvalidParams, ServiceUnavailable

GRANT_TTL = timedelta(minutes=5)
# Provider calls a request commits to before making them (Addon.provider_call).
PROVISION = "provision"
DEPROVISION = "deprovision"


def unknown_plan(ident: str) -> InvalidParams:
    # The CLI recognises this prefix and lists the service's plans.
    return InvalidParams(
        f'Couldn\'t find either the add-on service or the add-on plan of "{ident}".'
    )


def is_paid_plan(plan: PlanSpec) -> bool:
    return plan.price_cents > 0 or plan.contract


def find_plan(catalog: Catalog, ident: str) -> PlanSpec:
    plan = catalog.find_plan(ident)
    if plan is None:
        raise unknown_plan(ident)
    return plan


@dataclass(frozen=True)
class PendingProvision:
    spec: ServiceSpec
    request: ProvisionRequest


async def attachment_names(db: AsyncSession, app_id: uuid.UUID) -> dict[str, AddonAttachment]:
    rows = await db.execute(select(AddonAttachment).where(AddonAttachment.app_id == app_id))
    return {a.name: a for a in rows.scalars()}


def default_names(spec: ServiceSpec, taken: set[str]) -> list[str]:
    """DATABASE (plus a colour alias) for an app's first database, a colour name after."""
    if spec.first_attachment not in taken:
        names = [spec.first_attachment]
        if spec.alias_first:
            names.append(color_name(spec.color_base, taken | set(names)))
        return names
    return [color_name(spec.color_base, taken)]


def attach_name(spec: ServiceSpec | None, taken: set[str], prefix: str) -> str:
    """Attaching without a name: a fresh colour alias for data services, else the prefix."""
    if spec is None:
        return color_name(prefix, taken)
    if spec.color_base != spec.first_attachment or spec.first_attachment in taken:
        return color_name(spec.color_base, taken)
    return spec.first_attachment


def declared_vars(spec: ServiceSpec | None, addon: Addon, name: str) -> set[str]:
    keys = spec.config_vars if spec is not None and spec.config_vars else tuple(addon.config)
    return {renamed(k, addon.config_prefix, name) for k in keys}


async def name_free(db: AsyncSession, name: str) -> bool:
    """A name is free unless a live add-on has it; a failed one gives it up."""
    found = (await db.execute(select(Addon).where(Addon.name == name))).scalar_one_or_none()
    if found is None:
        return True
    if found.state == "deprovisioned":
        await db.delete(found)
        await db.flush()
        return True
    return False


async def _pick_name(db: AsyncSession, spec: ServiceSpec, wanted: str | None) -> str:
    if wanted is not None:
        if not ADDON_NAME_RE.match(wanted) or len(wanted) > 255:
            raise InvalidParams(
                "Invalid name provided: add-on names start with a letter and contain only "
                "letters, digits, dashes and underscores."
            )
        if not await name_free(db, wanted):
            raise InvalidParams("Name is already taken")
        return wanted
    for _ in range(20):
        name = generate_addon_name(spec.slug)
        if await name_free(db, name):
            return name
    raise InvalidParams("Could not generate a free add-on name; please choose one.")


def region_slot(app: App) -> str:
    """`<provider>::<provider region>`, as the partner API names regions."""
    region = find_region(app.region)
    return f"{region.provider.name}::{region.provider.region}" if region else app.region


async def _check_installable(db: AsyncSession, spec: ServiceSpec, app: App) -> None:
    if spec.state == "shutdown":
        raise InvalidParams(f"{spec.slug} is shut down and cannot be provisioned.")
    if not spec.available_in(app.region):
        raise InvalidParams(f"{spec.slug} is not available in the {app.region} region.")
    if spec.supports_multiple_installations:
        return
    existing = (
        await db.execute(
            select(Addon.name).where(
                Addon.app_id == app.id,
                Addon.service == spec.slug,
                Addon.state != "deprovisioned",
            )
        )
    ).first()
    if existing is not None:
        raise InvalidParams(
            f"{app.name} already has {existing.name}; {spec.slug} allows one add-on per app."
        )


async def _new_attachment_names(
    db: AsyncSession, spec: ServiceSpec, app: App, params: AddonCreate
) -> tuple[list[str], list[AddonAttachment]]:
    """The new add-on's attachment names, and the attachments they would replace (which
    needs `confirm`, as does overwriting one of the app's own config vars)."""
    taken = await attachment_names(db, app.id)
    wanted = params.attachment.name if params.attachment is not None else None
    try:
        names = [normalize_attachment_name(wanted)] if wanted else default_names(spec, set(taken))
    except ValueError as exc:
        raise InvalidParams(f"Invalid attachment name provided: {exc}.") from exc
    replaced = [taken[n] for n in names if n in taken]
    own = await own_config(db, app.id)
    overwritten = sorted(
        {renamed(k, spec.config_vars_prefix, n) for n in names for k in spec.config_vars} & set(own)
    )
    if (replaced or overwritten) and params.confirm != app.name:
        what = [f"the {a.name} attachment" for a in replaced] + overwritten
        raise ConfirmationRequired(
            app.name,
            f"This would overwrite {', '.join(what)} on {app.name}. "
            f"To proceed, re-send with `confirm` set to {app.name}.",
        )
    return names, replaced


async def _may_share_admin(db: AsyncSession, settings: AddonSettings, spec: ServiceSpec) -> bool:
    """Whether add-ons may lean on the admin server's own credentials: only when the
    operator says so or nobody else has an account. Refuses a passwordless admin server
    otherwise (every process on this machine could use it)."""
    if settings.unsafe_admin:
        return True
    accounts = (await db.execute(select(func.count()).select_from(Account))).scalar_one()
    if accounts <= 1:
        return True
    if not settings.admin_has_password(spec.provider):
        raise ServiceUnavailable(
            f"The {spec.slug} server is configured without a password, which anything on "
            "this machine could use; the operator must give it one (or set "
            "TENKU_ADDON_UNSAFE_ADMIN=1 where all accounts trust each other)."
        )
    return False


async def begin_create(
    db: AsyncSession,
    catalog: Catalog,
    app: App,
    user: Account,
    params: AddonCreate,
    settings: AddonSettings,
) -> PendingProvision:
    """Check the request and record the add-on as `provisioning`, with its attachments;
    the provider is called only once that has committed."""
    plan = find_plan(catalog, params.plan)
    spec = catalog.services[plan.service]
    await check_allowed(db, app, spec.slug, user.id)
    await _check_installable(db, spec, app)
    may_share_admin = await _may_share_admin(db, settings, spec)
    names, replaced = await _new_attachment_names(db, spec, app, params)
    name = await _pick_name(db, spec, params.name)
    options = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in params.config.items()
        if v is not None
    }
    addon = Addon(
        name=name,
        app_id=app.id,
        service=spec.slug,
        plan=plan.name,
        state="provisioning",
        provider_id="",
        config={},
        config_prefix=spec.config_vars_prefix,
        options=options,
        billed_cents=plan.price_cents,
        billed_unit=plan.price_unit,
        billed_contract=plan.contract,
        region=app.region,
        created_by_id=user.id,
        announced=False,
        provider_call=PROVISION,
        provider_call_at=utcnow(),
    )
    db.add(addon)
    await db.flush()
    for old in replaced:
        await detach(db, old, user, check_last=False)
    for n in names:
        db.add(AddonAttachment(addon_id=addon.id, app_id=app.id, name=n))
    await db.flush()
    grant = await mint_grant(db, addon) if spec.provider == "partner" else None
    request = ProvisionRequest(
        uuid=addon.id,
        name=addon.name,
        plan=plan,
        region=region_slot(app),
        options=addon.options,
        callback_url=f"{settings.api_url}/addons/{addon.id}",
        grant=grant,
        may_share_admin=may_share_admin,
    )
    return PendingProvision(spec, request)


async def mint_grant(db: AsyncSession, addon: Addon) -> Grant:
    code = new_token()
    expires = datetime.now(UTC) + GRANT_TTL
    db.add(
        AddonToken(
            addon_id=addon.id, kind="grant", token_hash=token_digest(code), expires_at=expires
        )
    )
    await db.flush()
    return Grant(code, expires)


async def locked(db: AsyncSession, addon_id: uuid.UUID) -> Addon | None:
    stmt = select(Addon).where(Addon.id == addon_id).with_for_update()
    return (await db.execute(stmt)).scalar_one_or_none()


async def actor_for(db: AsyncSession, addon: Addon) -> Account:
    """Whom releases made on a provider's behalf are credited to: the add-on's creator."""
    if addon.created_by_id is not None:
        account = await db.get(Account, addon.created_by_id)
        if account is not None:
            return account
    app = await db.get(App, addon.app_id)
    assert app is not None
    if app.owner_id is not None:
        owner = await db.get(Account, app.owner_id)
    else:
        # A team app's creator left: credit one of the team's admins.
        owner = (
            await db.execute(
                select(Account)
                .join(TeamMember, TeamMember.account_id == Account.id)
                .where(TeamMember.team_id == app.organization_id, TeamMember.role == "admin")
                .order_by(TeamMember.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
    assert owner is not None
    return owner


async def _attachments_by_app(
    db: AsyncSession, addon: Addon
) -> list[tuple[App, list[AddonAttachment]]]:
    rows = await db.execute(
        select(AddonAttachment, App)
        .join(App, App.id == AddonAttachment.app_id)
        .where(AddonAttachment.addon_id == addon.id)
        .order_by(AddonAttachment.created_at, AddonAttachment.name)
    )
    grouped: dict[uuid.UUID, tuple[App, list[AddonAttachment]]] = {}
    for att, app in rows:
        grouped.setdefault(app.id, (app, []))[1].append(att)
    return list(grouped.values())


def _vars_of(addon: Addon, atts: list[AddonAttachment]) -> set[str]:
    return {renamed(k, addon.config_prefix, a.name) for a in atts for k in addon.config}


async def _release_each_app(
    db: AsyncSession, addon: Addon, user: Account, describe: DescribeFn
) -> None:
    for app, atts in await _attachments_by_app(db, addon):
        await releases.lock_app(db, app)
        if addon.state == "provisioned":
            await drop_own_vars(db, app.id, _vars_of(addon, atts))
        await releases.create_release(db, app, user, describe(atts))


class DescribeFn:
    """Release text for one app, given that app's attachments of the add-on."""

    def __init__(self, template: str, addon: Addon, with_vars: bool = False) -> None:
        self.template, self.addon, self.with_vars = template, addon, with_vars

    def __call__(self, atts: list[AddonAttachment]) -> str:
        names = sorted(_vars_of(self.addon, atts))
        text = self.template.format(att=atts[0].name, ref=f"@ref:{self.addon.name}")
        if self.with_vars:
            text += f", setting {', '.join(names)}." if names else ""
        return text


async def announce(db: AsyncSession, addon: Addon, user: Account) -> None:
    """The "Attach" release of every app the add-on is attached to (once)."""
    if addon.announced:
        return
    addon.announced = True
    await db.flush()
    await _release_each_app(db, addon, user, DescribeFn("Attach {att} ({ref})", addon))


async def record_provision(
    db: AsyncSession, addon_id: uuid.UUID, result: ProvisionResult
) -> Addon | None:
    """Store the provider's answer; None if the add-on went away meanwhile."""
    addon = await locked(db, addon_id)
    if addon is None:
        return None
    addon.provider_id = addon.provider_id or result.provider_id
    addon.provider_call = addon.provider_call_at = None
    if addon.state != "provisioning":
        # A partner that answered 202 may call back before its answer is stored here.
        return None if result.done else addon
    addon.provision_message = result.message
    addon.config = {**addon.config, **result.config}
    if result.done:
        addon.state = "provisioned"
    await db.flush()
    await announce(db, addon, await actor_for(db, addon))
    return addon


async def begin_destroy(db: AsyncSession, addon: Addon) -> None:
    """Record that the provider is about to be asked to let go of the add-on."""
    addon.provider_call = DEPROVISION
    addon.provider_call_at = utcnow()
    await db.flush()


async def end_call(db: AsyncSession, addon_id: uuid.UUID) -> None:
    """The provider answered a call that changed nothing (it refused): nothing in flight."""
    addon = await locked(db, addon_id)
    if addon is not None:
        addon.provider_call = addon.provider_call_at = None
        await db.flush()


def stale_calls(cutoff: datetime) -> Select[Addon]:
    """Add-ons with a provider call that has been unanswered since before `cutoff`."""
    return select(Addon).where(Addon.provider_call.is_not(None), Addon.provider_call_at < cutoff)


async def discard(db: AsyncSession, addon_id: uuid.UUID) -> None:
    """Forget an add-on whose provisioning failed before anyone was told it exists."""
    await db.execute(delete(Addon).where(Addon.id == addon_id))


async def complete_provision(db: AsyncSession, addon: Addon, user: Account) -> Addon:
    """A provider that answered "later" says it is done: the vars reach the apps."""
    if addon.state == "provisioned":
        return addon
    if addon.state != "provisioning":
        raise InvalidParams(f"{addon.name} is {addon.state}, not being provisioned.")
    addon.state = "provisioned"
    await db.flush()
    if not addon.announced:
        await announce(db, addon, user)
        return addon
    await _release_each_app(
        db, addon, user, DescribeFn("{ref} completed provisioning", addon, with_vars=True)
    )
    return addon


async def fail_provision(db: AsyncSession, addon: Addon, message: str | None) -> Addon:
    """Provisioning will not complete: the add-on stays visible as `deprovisioned`, detached."""
    if message:
        addon.provision_message = message
    await _detach_all(db, addon, await actor_for(db, addon))
    addon.state = "deprovisioned"
    await db.execute(delete(AddonToken).where(AddonToken.addon_id == addon.id))
    await db.flush()
    return addon


async def remove(db: AsyncSession, addon: Addon, user: Account) -> None:
    """The provider has let go of the resource: detach everywhere, then forget it."""
    await _detach_all(db, addon, user)
    await db.delete(addon)
    await db.flush()


async def detach_elsewhere(db: AsyncSession, addon: Addon, app_id: uuid.UUID) -> None:
    """Detach the add-on from every app but `app_id`, with a release in each."""
    await _detach_all(db, addon, await actor_for(db, addon), keep=app_id)


async def _detach_all(
    db: AsyncSession, addon: Addon, user: Account, keep: uuid.UUID | None = None
) -> None:
    """Remove the add-on's attachments (except on `keep`): one "Detach" release per app."""
    for app, atts in await _attachments_by_app(db, addon):
        if app.id == keep:
            continue
        for att in atts:
            await db.delete(att)
        await db.flush()
        if addon.announced:
            await releases.lock_app(db, app)
            await releases.create_release(
                db, app, user, f"Detach {atts[0].name} (@ref:{addon.name})"
            )


async def other_apps(db: AsyncSession, addon: Addon) -> list[str]:
    rows = await db.execute(
        select(App.name)
        .join(AddonAttachment, AddonAttachment.app_id == App.id)
        .where(AddonAttachment.addon_id == addon.id, App.id != addon.app_id)
        .distinct()
    )
    return sorted(rows.scalars())


async def check_destroy(db: AsyncSession, app: App, addon: Addon, force: bool) -> None:
    if addon.app_id != app.id:
        owner = await db.get(App, addon.app_id)
        raise InvalidParams(
            f"{addon.name} is billed to {owner.name if owner else 'another app'}, not "
            f"{app.name}; detach it from {app.name} instead."
        )
    elsewhere = await other_apps(db, addon)
    if elsewhere and not force:
        raise InvalidParams(
            f"{addon.name} is also attached to {', '.join(elsewhere)}; "
            "destroy it with `force` to remove it from every app."
        )


async def record_plan_change(
    db: AsyncSession,
    addon_id: uuid.UUID,
    plan: PlanSpec,
    config: Mapping[str, str] | None,
    message: str | None,
    user: Account,
) -> Addon | None:
    addon = await locked(db, addon_id)
    if addon is None:
        return None
    old_plan = addon.plan.split(":", 1)[-1]
    addon.plan = plan.name
    addon.billed_cents = plan.price_cents
    addon.billed_unit = plan.price_unit
    addon.billed_contract = plan.contract
    addon.provision_message = message
    await db.flush()
    if config is not None and dict(config) != addon.config:
        addon.config = dict(config)
        await db.flush()
        text = f"Upgrade {addon.service} from {old_plan} to {plan.slug} ({{ref}})"
        await _release_each_app(db, addon, user, DescribeFn(text, addon))
    return addon


def check_plan_change(catalog: Catalog, addon: Addon, ident: str) -> PlanSpec | None:
    """The new plan, or None when it is the current one."""
    spec = catalog.services.get(addon.service)
    if spec is None:
        raise InvalidParams(f"{addon.service} is no longer offered; its plans cannot change.")
    plan = catalog.find_plan(ident) if ":" in ident else spec.plan(ident)
    if plan is None:
        raise unknown_plan(ident if ":" in ident else f"{addon.service}:{ident}")
    if plan.service != addon.service:
        raise InvalidParams(
            f"{plan.name} is a plan of {plan.service}; {addon.name} can only move to another "
            f"plan of {addon.service}."
        )
    if addon.state != "provisioned":
        raise InvalidParams(f"{addon.name} is {addon.state}; only provisioned add-ons change plan.")
    return None if plan.name == addon.plan else plan


async def rename(db: AsyncSession, addon: Addon, name: str) -> None:
    if name == addon.name:
        return
    if not ADDON_NAME_RE.match(name) or len(name) > 255:
        raise InvalidParams(
            "Invalid name provided: add-on names start with a letter and contain only "
            "letters, digits, dashes and underscores."
        )
    if not await name_free(db, name):
        raise InvalidParams("Name is already taken")
    addon.name = name
    await db.flush()


async def update_config(
    db: AsyncSession,
    catalog: Catalog,
    addon: Addon,
    changes: list[tuple[str, str | None]],
    user: Account,
) -> None:
    """Change the provider-facing vars; apps see the change in a release "Update X by svc"."""
    spec = catalog.services.get(addon.service)
    for key, _ in changes:
        allowed = (
            spec.declares(key)
            if spec is not None
            else key.startswith(addon.config_prefix + "_") or key == addon.config_prefix
        )
        if not allowed:
            raise InvalidParams(
                f"Invalid config var name provided: {key} is not one of {addon.service}'s vars."
            )
    config = dict(addon.config)
    for key, value in changes:
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    if config == addon.config:
        return
    addon.config = config
    await db.flush()
    if addon.state == "provisioned" and addon.announced:
        text = f"Update {{att}} by {addon.service}"
        await _release_each_app(db, addon, user, DescribeFn(text, addon))


async def attach(
    db: AsyncSession,
    catalog: Catalog,
    addon: Addon,
    app: App,
    user: Account,
    name: str | None,
    confirm: str | None,
    force: bool,
) -> AddonAttachment:
    spec = catalog.services.get(addon.service)
    if addon.app_id != app.id and spec is not None and not spec.supports_sharing:
        raise InvalidParams(f"{addon.service} add-ons cannot be shared with other apps.")
    if addon.state not in ("provisioned", "provisioning"):
        raise InvalidParams(f"{addon.name} is {addon.state} and cannot be attached.")
    taken = await attachment_names(db, app.id)
    try:
        chosen = (
            normalize_attachment_name(name)
            if name
            else attach_name(spec, set(taken), addon.config_prefix)
        )
    except ValueError as exc:
        raise InvalidParams(f"Invalid name provided: {exc}.") from exc
    existing = taken.get(chosen)
    if existing is not None and existing.addon_id == addon.id:
        raise InvalidParams(f"{addon.name} is already attached to {app.name} as {chosen}.")
    own = await own_config(db, app.id)
    overwritten = sorted(declared_vars(spec, addon, chosen) & set(own))
    if (existing is not None or overwritten) and not (force or confirm == app.name):
        what = ([f"the {chosen} attachment"] if existing is not None else []) + overwritten
        raise ConfirmationRequired(
            app.name,
            f"This would overwrite {', '.join(what)} on {app.name}. "
            f"To proceed, re-send with `confirm` set to {app.name}.",
        )
    if existing is not None:
        await detach(db, existing, user, check_last=False)
    att = AddonAttachment(addon_id=addon.id, app_id=app.id, name=chosen)
    db.add(att)
    await db.flush()
    if addon.announced:
        await releases.lock_app(db, app)
        if addon.state == "provisioned":
            await drop_own_vars(db, app.id, _vars_of(addon, [att]))
        await releases.create_release(db, app, user, f"Attach {chosen} (@ref:{addon.name})")
    return att


async def detach(
    db: AsyncSession, att: AddonAttachment, user: Account, *, check_last: bool = True
) -> None:
    addon = await db.get(Addon, att.addon_id)
    assert addon is not None
    if check_last and att.app_id == addon.app_id:
        count = (
            await db.execute(
                select(func.count())
                .select_from(AddonAttachment)
                .where(AddonAttachment.addon_id == addon.id, AddonAttachment.app_id == att.app_id)
            )
        ).scalar_one()
        if count <= 1 and addon.state != "deprovisioned":
            app = await db.get(App, att.app_id)
            raise InvalidParams(
                f"{att.name} is the last attachment of {addon.name} to {app.name if app else ''}, "
                f"which it is billed to; destroy the add-on instead "
                f"(heroku addons:destroy {addon.name})."
            )
    app = await db.get(App, att.app_id)
    assert app is not None
    await db.delete(att)
    await db.flush()
    if addon.announced:
        await releases.lock_app(db, app)
        await releases.create_release(db, app, user, f"Detach {att.name} (@ref:{addon.name})")


def conflict_gone(addon_name: str) -> Conflict:
    return Conflict(f"{addon_name} changed while this request ran; please retry.")


def gone_from_catalog(addon: Addon) -> InvalidParams:
    return InvalidParams(
        f"{addon.service} is no longer in this installation's add-on catalogue, so "
        f"{addon.name} cannot be removed from its provider; ask the operator to restore it."
    )
