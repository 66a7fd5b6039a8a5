"""The add-on catalogue: services and plans, from Heroku-style add-on manifests.

Tenku ships `builtin.json` (heroku-postgresql, heroku-redis); the operator adds or
replaces services with manifests in TENKU_ADDON_CATALOG (a JSON file, or a
directory of them). A partner's own `addon-manifest.json` loads unchanged; Tenku
reads a few extra top-level keys: `plans`, `provider`, `state`, `attachments`,
`action` and `supports_private_networking`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenku.addons.naming import ATTACHMENT_NAME_RE
from tenku.ids import as_uuid, stable_id

BUILTIN = Path(__file__).with_name("builtin.json")
SLUG_RE = re.compile(r"^[a-z][a-z0-9-]*$")
PLAN_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
VAR_RE = re.compile(r"^[A-Z][0-9A-Z_]+$")
PROVIDERS = frozenset({"postgresql", "redis", "partner"})
SERVICE_STATES = frozenset({"alpha", "beta", "ga", "shutdown"})
REQUIRES = frozenset({"log_input", "syslog_drain", "many_per_app", "attachable"})
PRICE_UNITS = frozenset({"month", "dyno_hour"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class CatalogError(Exception):
    """A manifest Tenku cannot serve; the message names the file and the field."""


@dataclass(frozen=True)
class PlanSpec:
    service: str
    slug: str
    human_name: str
    description: str
    price_cents: int
    price_unit: str
    contract: bool
    metered: bool
    default: bool
    state: str
    installable_inside_private_network: bool
    installable_outside_private_network: bool
    space_default: bool
    settings: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.service}:{self.slug}"

    @property
    def id(self) -> uuid.UUID:
        return stable_id("addon-plan", self.name)


@dataclass(frozen=True)
class ActionSpec:
    action: str
    label: str
    url: str
    requires_owner: bool


@dataclass(frozen=True)
class PartnerSpec:
    password: str
    base_url: str
    sso_url: str | None
    sso_salt: str | None
    client_secret: str
    version: str


@dataclass(frozen=True)
class ServiceSpec:
    slug: str
    human_name: str
    cli_plugin_name: str | None
    state: str
    provider: str
    config_vars_prefix: str
    config_vars: tuple[str, ...]
    regions: frozenset[str]
    requires: frozenset[str]
    supports_multiple_installations: bool
    supports_sharing: bool
    supports_private_networking: bool
    # Attachment names: `first` while the app has none by that name (DATABASE),
    # then `<color_base>_<COLOR>`; `alias_first` adds a colour alias to the first.
    first_attachment: str
    color_base: str
    alias_first: bool
    action: ActionSpec
    plans: tuple[PlanSpec, ...]
    partner: PartnerSpec | None = None
    source: str = field(default="", compare=False)

    @property
    def id(self) -> uuid.UUID:
        return stable_id("addon-service", self.slug)

    @property
    def default_plan(self) -> PlanSpec:
        return next(p for p in self.plans if p.default)

    def plan(self, ident: str) -> PlanSpec | None:
        uid = as_uuid(ident)
        slug = ident.split(":", 1)[1] if ident.startswith(self.slug + ":") else ident
        for plan in self.plans:
            if plan.id == uid or plan.slug == slug:
                return plan
        return None

    def available_in(self, region: str) -> bool:
        return "*" in self.regions or region in self.regions

    def declares(self, var: str) -> bool:
        if self.config_vars:
            return var in self.config_vars
        return var == self.config_vars_prefix or var.startswith(self.config_vars_prefix + "_")


@dataclass(frozen=True)
class Catalog:
    services: Mapping[str, ServiceSpec]

    def service(self, ident: str) -> ServiceSpec | None:
        uid = as_uuid(ident)
        if uid is not None:
            return next((s for s in self.services.values() if s.id == uid), None)
        return self.services.get(ident)

    def find_plan(self, ident: str) -> PlanSpec | None:
        """A plan by id, `service:plan`, or a bare service (its default plan)."""
        uid = as_uuid(ident)
        if uid is not None:
            for each in self.services.values():
                for plan in each.plans:
                    if plan.id == uid:
                        return plan
            return None
        service_slug, _, plan_slug = ident.partition(":")
        spec = self.services.get(service_slug)
        if spec is None:
            return None
        return spec.plan(plan_slug) if plan_slug else spec.default_plan

    def listed(self) -> list[ServiceSpec]:
        return sorted(self.services.values(), key=lambda s: s.slug)


def _fail(source: str, message: str) -> CatalogError:
    return CatalogError(f"{source}: {message}")


def _str(data: Mapping[str, Any], key: str, source: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, f"`{key}` must be a non-empty string")
    return value


def _bool(data: Mapping[str, Any], key: str, source: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(source, f"`{key}` must be true or false")
    return value


def _strings(value: Any, key: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, f"`{key}` must be an array of strings")
    return list(value)


def _base_url(raw: Any, source: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _fail(source, "`api.production.base_url` is required for a partner service")
    parts = urlsplit(raw)
    loopback_http = parts.scheme == "http" and (parts.hostname or "") in LOOPBACK
    if parts.scheme != "https" and not loopback_http:
        raise _fail(source, "the production base_url must use https (http only on loopback)")
    url = raw.rstrip("/")
    return url if url.endswith("/heroku/resources") else url + "/heroku/resources"


def _partner(api: Mapping[str, Any], source: str) -> PartnerSpec:
    password = _str(api, "password", f"{source} api")
    production = api.get("production")
    base: Any
    sso: Any
    if isinstance(production, str):
        base, sso = production, None
    elif isinstance(production, Mapping):
        base, sso = production.get("base_url"), production.get("sso_url")
    else:
        raise _fail(source, "`api.production` is required for a partner service")
    secret = api.get("client_secret") or password
    return PartnerSpec(
        password=password,
        base_url=_base_url(base, source),
        sso_url=sso if isinstance(sso, str) else None,
        sso_salt=api.get("sso_salt") if isinstance(api.get("sso_salt"), str) else None,
        client_secret=str(secret),
        version=str(api.get("version", "3")),
    )


def _plan(service: str, human_service: str, raw: Any, source: str) -> PlanSpec:
    if not isinstance(raw, Mapping):
        raise _fail(source, "each plan must be an object")
    slug = _str(raw, "name", source)
    slug = slug.split(":", 1)[1] if slug.startswith(service + ":") else slug
    where = f"{source} plan {slug}"
    if not PLAN_RE.match(slug):
        raise _fail(where, "plan names are lowercase letters, digits and dashes")
    human = raw.get("human_name") or slug.replace("-", " ").title()
    price = raw.get("price", {})
    if not isinstance(price, Mapping):
        raise _fail(where, "`price` must be an object")
    cents = price.get("cents", 0)
    if not isinstance(cents, int) or isinstance(cents, bool) or cents < 0:
        raise _fail(where, "`price.cents` must be a whole number of cents")
    unit = price.get("unit", "month")
    if unit not in PRICE_UNITS:
        raise _fail(where, f"`price.unit` must be one of {', '.join(sorted(PRICE_UNITS))}")
    settings = raw.get("settings", {})
    if not isinstance(settings, Mapping):
        raise _fail(where, "`settings` must be an object")
    return PlanSpec(
        service=service,
        slug=slug,
        human_name=str(human),
        description=str(raw.get("description") or f"{human_service} {human}"),
        price_cents=cents,
        price_unit=str(unit),
        contract=_bool(price, "contract", where, False),
        metered=_bool(price, "metered", where, False),
        default=_bool(raw, "default", where, False),
        state=str(raw.get("state", "public")),
        installable_inside_private_network=_bool(
            raw, "installable_inside_private_network", where, False
        ),
        installable_outside_private_network=_bool(
            raw, "installable_outside_private_network", where, True
        ),
        space_default=_bool(raw, "space_default", where, False),
        settings=dict(settings),
    )


def _config_vars(api: Mapping[str, Any], slug: str, source: str) -> tuple[str, list[str]]:
    """The service's config var prefix, and its config vars, each under the prefix."""
    prefix = api.get("config_vars_prefix") or slug.upper().replace("-", "_")
    if not isinstance(prefix, str) or not VAR_RE.match(prefix):
        raise _fail(source, "`api.config_vars_prefix` must be an upper-case variable name")
    config_vars = _strings(api.get("config_vars", []), "api.config_vars", source)
    for var in config_vars:
        if not VAR_RE.match(var) or not (var == prefix or var.startswith(prefix + "_")):
            raise _fail(source, f"config var {var!r} must be upper case and start with {prefix}_")
    return prefix, config_vars


def _plans(raw: Mapping[str, Any], slug: str, human: str, source: str) -> list[PlanSpec]:
    """The plans, with unique names and exactly one default (the first, if none is)."""
    raw_plans = raw.get("plans") or [{"name": "test", "default": True}]
    if not isinstance(raw_plans, list):
        raise _fail(source, "`plans` must be an array")
    plans = [_plan(slug, human, p, source) for p in raw_plans]
    if len({p.slug for p in plans}) != len(plans):
        raise _fail(source, "plan names must be unique")
    defaults = [p for p in plans if p.default]
    if len(defaults) > 1:
        raise _fail(source, "only one plan may be the default")
    if not defaults:
        plans[0] = replace(plans[0], default=True)
    return plans


def parse_manifest(raw: Any, source: str) -> ServiceSpec:
    """One service from a manifest, checked as Heroku's kensa checked them."""
    if not isinstance(raw, Mapping):
        raise _fail(source, "a manifest must be a JSON object")
    slug = _str(raw, "id", source)
    if not SLUG_RE.match(slug):
        raise _fail(source, f"id {slug!r} must be lowercase letters, digits and dashes")
    source = f"{source} ({slug})"
    api = raw.get("api", {})
    if not isinstance(api, Mapping):
        raise _fail(source, "`api` must be an object")
    if "username" in api:
        raise _fail(source, "`api.username` is deprecated: partners authenticate with the id")
    provider = raw.get("provider", "partner")
    if provider not in PROVIDERS:
        raise _fail(source, f"`provider` must be one of {', '.join(sorted(PROVIDERS))}")
    state = raw.get("state", "ga")
    if state not in SERVICE_STATES:
        raise _fail(source, f"`state` must be one of {', '.join(sorted(SERVICE_STATES))}")
    prefix, config_vars = _config_vars(api, slug, source)
    regions = _strings(api.get("regions", ["*"]), "api.regions", source)
    if not regions:
        raise _fail(source, "`api.regions` must name at least one region (or `*`)")
    requires = _strings(api.get("requires", []), "api.requires", source)
    unknown = set(requires) - REQUIRES
    if unknown:
        raise _fail(source, f"unknown `api.requires` entries: {', '.join(sorted(unknown))}")
    human = str(raw.get("name") or slug)
    plans = _plans(raw, slug, human, source)
    naming = raw.get("attachments", {})
    if not isinstance(naming, Mapping):
        raise _fail(source, "`attachments` must be an object")
    first_att = str(naming.get("first", prefix))
    color_base = str(naming.get("color_base", prefix))
    for name in (first_att, color_base):
        if not ATTACHMENT_NAME_RE.match(name):
            raise _fail(source, f"attachment name {name!r} must be an upper-case variable name")
    action = raw.get("action", {})
    if not isinstance(action, Mapping):
        raise _fail(source, "`action` must be an object")
    return ServiceSpec(
        slug=slug,
        human_name=human,
        cli_plugin_name=raw.get("cli_plugin_name") if raw.get("cli_plugin_name") else None,
        state=state,
        provider=provider,
        config_vars_prefix=prefix,
        config_vars=tuple(config_vars),
        regions=frozenset(regions),
        requires=frozenset(requires),
        supports_multiple_installations="many_per_app" in requires,
        supports_sharing="attachable" in requires,
        supports_private_networking=_bool(raw, "supports_private_networking", source, False),
        first_attachment=first_att,
        color_base=color_base,
        alias_first=_bool(naming, "alias_first", source, False),
        action=ActionSpec(
            action=str(action.get("action", "open")),
            label=str(action.get("label", f"Open {human}")),
            url=str(action.get("url", "")),
            requires_owner=_bool(action, "requires_owner", source, False),
        ),
        plans=tuple(plans),
        partner=_partner(api, source) if provider == "partner" else None,
        source=source,
    )


def _manifests(data: Any, source: str) -> Iterable[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping) and "services" in data and "id" not in data:
        services = data["services"]
        if not isinstance(services, list):
            raise _fail(source, "`services` must be an array of manifests")
        return services
    return [data]


def catalog_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.glob("*.json") if p.is_file())
    return [path] if path.is_file() else []


def fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    found = []
    for p in catalog_files(path):
        try:
            st = p.stat()
        except OSError:
            continue
        found.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(found)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(str(path), f"not a readable JSON file ({exc})") from exc


def load_catalog(path: Path | None = None) -> Catalog:
    """The built-in services, then the operator's: a manifest with a known id replaces it."""
    services: dict[str, ServiceSpec] = {}
    files = [BUILTIN, *(catalog_files(path) if path is not None else [])]
    for file in files:
        seen: set[str] = set()
        for raw in _manifests(_read(file), str(file)):
            spec = parse_manifest(raw, str(file))
            if spec.slug in seen:
                raise _fail(str(file), f"service {spec.slug} is defined twice")
            seen.add(spec.slug)
            services[spec.slug] = spec
    return Catalog(services)
