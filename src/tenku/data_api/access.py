"""Finding the database add-on a Data API path names, for a caller with the right to it.

Heroku's Data API names a database by the add-on's id (`/client/v11/databases/{id}`) or
name (`/postgres/v0/databases/{name}`, `/redis/v0/databases/{name}`); Tenku takes either
form on every path. Rights come from the app matrix (permissions.py):

* reading what a database is (plan, status, size, version, wait status): `addons:view`,
  as listing the add-on is, on an app that can see it (billing or attached);
* reading what lets one in (credentials, URLs with passwords): `addons:config`, on the
  billing app or an app it is attached to, whose config vars hold the URL anyway;
* changing the database or who may enter it (credentials made, rotated or destroyed, a
  reset, ended connections, settings): `addons:edit` on the billing app, as changing
  the add-on itself takes.

An add-on the caller cannot see, or of another service, is Heroku's 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.addons.catalog import Catalog, CatalogError, ServiceSpec
from tenku.addons.provider import AddonProvider, ProviderError
from tenku.db.models import Account, Addon, App
from tenku.resources.addon import lookup
from tenku.resources.addon.flows import provider_error
from tenku.resources.addon.service import locked
from tenku.resources.app.access import permitted
from tenku.web.context import AppContext
from tenku.web.deps import Context, Db, Principal, after_rollback, scoped
from tenku.web.errors import ApiError, NotFound, ServiceUnavailable

T = TypeVar("T")
# Registers what puts the server back if the request's transaction fails after a change
# reached it (`after_rollback`).
Undo = Callable[[Callable[[], Awaitable[None]]], None]
Need = Literal["view", "config", "edit"]
ACTIONS: dict[Need, str] = {"view": "addons:view", "config": "addons:config", "edit": "addons:edit"}
# The token scope each need takes: credentials are secrets (`read-protected`), and what
# changes a database or who may enter it takes `write-protected`.
SCOPES: dict[Need, str] = {"view": "app:read", "config": "secrets:read", "edit": "secrets:write"}


def database_not_found() -> NotFound:
    return NotFound("database", "Couldn't find that database.")


@dataclass
class Database:
    """A database add-on the caller may act on, with its billing app and provider."""

    addon: Addon
    app: App
    spec: ServiceSpec
    provider: AddonProvider
    catalog: Catalog
    caller: Principal
    db: AsyncSession

    @property
    def account(self) -> Account:
        return self.caller.account

    @property
    def url_var(self) -> str:
        return f"{self.spec.config_vars_prefix}_URL"

    @property
    def url(self) -> str:
        return str(self.addon.config.get(self.url_var) or "")

    @property
    def plan(self) -> str:
        return self.addon.plan.partition(":")[2] or self.addon.plan

    @property
    def plan_name(self) -> str:
        plan = self.spec.plan(self.addon.plan)
        return plan.human_name if plan is not None else self.plan

    def require_ready(self) -> None:
        """Heroku's 404 for a database still being made (the CLI says "not yet provisioned")."""
        if self.addon.state != "provisioned":
            raise NotFound("database", f"{self.addon.name} is not yet provisioned.")

    async def may(self, need: Need) -> bool:
        """Whether the caller also holds `need` (a route resolved for less)."""
        if need == "config":
            try:
                await lookup.require_config_access(self.db, self.account.id, self.addon)
            except ApiError:
                return False
            return self.caller.allows(SCOPES[need])
        allowed = await permitted(self.db, self.addon.app_id, self.account.id, ACTIONS[need])
        return allowed and self.caller.allows(SCOPES[need])


async def find_database(
    db: AsyncSession,
    ctx: AppContext,
    caller: Principal,
    ident: str,
    kinds: tuple[str, ...],
    need: Need,
    for_update: bool = False,
) -> Database:
    """The add-on `ident` (id or name) of a service whose provider is one of `kinds`
    ("postgresql", "redis"), if the caller holds `need` on it. `for_update` locks the row,
    for changes that write its config."""
    account_id = caller.account.id
    try:
        addon = await lookup.visible_addon(db, account_id, ident)
    except NotFound:
        raise database_not_found() from None
    if addon.state == "deprovisioned":
        raise database_not_found()
    try:
        catalog = ctx.addons.catalog
    except CatalogError as exc:
        raise ServiceUnavailable(f"The add-on catalogue is misconfigured: {exc}") from exc
    spec = catalog.services.get(addon.service)
    if spec is None or spec.provider not in kinds:
        raise database_not_found()
    if need == "config":
        await lookup.require_config_access(db, account_id, addon)
    if need == "edit":
        app = await lookup.require_billing_access(db, account_id, addon, ACTIONS[need])
    else:
        # Seeing the add-on took access to an app it is on, and every grant holds `view`.
        found_app = await db.get(App, addon.app_id)
        assert found_app is not None
        app = found_app
    if for_update:
        row = await locked(db, addon.id)
        if row is None:
            raise database_not_found()
        addon = row
    return Database(addon, app, spec, ctx.addons.provider(spec), catalog, caller, db)


def database(kinds: tuple[str, ...], need: Need, for_update: bool = False) -> Any:
    """Dependency: the database of `{database}` in the path (see `find_database`)."""

    async def resolve(
        database: str, db: Db, ctx: Context, caller: Principal = scoped(SCOPES[need])
    ) -> Database:
        return await find_database(db, ctx, caller, database, kinds, need, for_update)

    return Depends(resolve)


async def on_server(work: Awaitable[T]) -> T:
    """`work` on the add-on's server; its refusal is a 422, its absence a 503."""
    try:
        return await work
    except ProviderError as exc:
        raise provider_error(exc) from exc


def undo_for(request: Request) -> Undo:
    return lambda hook: after_rollback(request, hook)
