"""app.json, the manifest an app setup follows: read with pydantic, then checked against
this installation (its add-on plans, its buildpacks, the config vars the caller gave).

The model follows Heroku's app.json schema (Dev Center "app.json Schema"): `env` values
are strings or objects (`value`, `required`, `generator: secret`), `addons` entries plan
strings or objects (`plan`, `as`, `options`), `formation` maps process types to
`quantity` and `size`, `buildpacks` lists `{url}`, `scripts.postdeploy` is a command (or
`{command, size}`). The metadata (`name`, `description`, `keywords`, `website`,
`repository`, `logo`) and what only review and CI apps use (`environments`, `stack`,
`image`, `scripts.pr-predestroy`) are read past, as Heroku's setups do.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urljoin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from tenku.addons.catalog import Catalog
from tenku.addons.naming import normalize_attachment_name
from tenku.config import Settings
from tenku.resources.addon.service import unknown_plan
from tenku.resources.buildpack_installation.service import canonical
from tenku.resources.config_var.service import KEY_RE
from tenku.resources.formation.schemas import check_size
from tenku.resources.formation.sizes import DEFAULT_SIZE, max_quantity
from tenku.web.errors import InvalidParams

# app.json is read whole; anything larger is not a manifest.
MAX_MANIFEST = 1 << 20
PROCESS_TYPE_RE = re.compile(r"^[A-Za-z0-9_-]{1,59}$")
# What the `secret` generator makes: 64 hex characters, as on Heroku.
SECRET_BYTES = 32


def _object(field: str) -> Any:
    """A string given where an object may be: the object's `field`."""

    def lift(value: Any) -> Any:
        return {field: value} if isinstance(value, str) else value

    return BeforeValidator(lift)


class _Part(BaseModel):
    # Unknown keys are ignored: app.json grows, and Heroku reads past what it does not use.
    model_config = ConfigDict(extra="ignore")


class EnvVar(_Part):
    description: StrictStr | None = None
    value: StrictStr | None = None
    # Heroku's default: a variable must end up with a value unless it says otherwise.
    required: StrictBool = True
    generator: Literal["secret"] | None = None


class AddonEntry(_Part):
    plan: StrictStr = Field(min_length=1)
    as_: StrictStr | None = Field(default=None, alias="as")
    options: dict[str, StrictStr | StrictBool | int | float | None] = {}


class Buildpack(_Part):
    url: StrictStr = Field(min_length=1)


class Process(_Part):
    quantity: StrictInt = Field(ge=0)
    size: str | None = None

    _size = field_validator("size", mode="before")(check_size)


class Script(_Part):
    command: StrictStr = Field(min_length=1)
    size: str | None = None

    _size = field_validator("size", mode="before")(check_size)


class Scripts(_Part):
    postdeploy: Annotated[Script, _object("command")] | None = None


class Manifest(_Part):
    success_url: StrictStr | None = None
    scripts: Scripts = Scripts()
    env: dict[str, Annotated[EnvVar, _object("value")]] = {}
    formation: dict[str, Process] = {}
    addons: list[Annotated[AddonEntry, _object("plan")]] = []
    buildpacks: list[Buildpack] = []


class ManifestError(Exception):
    """app.json could not be used; `errors` says why, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid app.json")
        self.errors = errors


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse(text: str) -> Manifest:
    """app.json's text as a Manifest (ManifestError: what is wrong with it)."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ManifestError(["app.json nests too deeply"]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ManifestError([f"app.json is not valid JSON: {exc.msg} ({where})"]) from None
    if not isinstance(data, dict):
        raise ManifestError(["app.json must hold a JSON object"])
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            errors.append(f"{_where(err['loc'])}: {msg}")
        raise ManifestError(errors) from None


def check(
    manifest: Manifest, overrides: dict[str, str], catalog: Catalog, settings: Settings
) -> list[str]:
    """What keeps this installation from following the manifest, one line each."""
    errors: list[str] = []
    for key, var in manifest.env.items():
        if len(key) > 255 or not KEY_RE.match(key):
            errors.append(f"config var name {key!r} is not valid")
        elif var.required and key not in overrides and var.value is None and not var.generator:
            errors.append(f"config var {key} is required")
    for i, entry in enumerate(manifest.addons):
        if catalog.find_plan(entry.plan) is None:
            errors.append(f"addons[{i}]: {unknown_plan(entry.plan).message}")
        if entry.as_ is not None:
            try:
                normalize_attachment_name(entry.as_)
            except ValueError as exc:
                errors.append(f"addons[{i}].as: {exc}")
    for spec in buildpack_specs(manifest, overrides):
        try:
            canonical(settings, spec)
        except InvalidParams as exc:
            errors.append(f"buildpacks: {exc.message}")
    for kind, process in manifest.formation.items():
        if not PROCESS_TYPE_RE.match(kind):
            errors.append(f"formation: {kind!r} is not a process type name")
            continue
        size = process.size or DEFAULT_SIZE
        if process.quantity > max_quantity(size):
            errors.append(
                f"formation.{kind}.quantity: at most {max_quantity(size)} {size} dynos "
                "per process type"
            )
    return errors


def config_vars(manifest: Manifest, overrides: dict[str, str]) -> dict[str, str]:
    """The config vars to set: the caller's overrides, else app.json's values, else a
    generated secret; variables that end up without a value (not required) are left out.
    Overrides of variables app.json does not name are set as well."""
    found: dict[str, str] = {}
    for key, var in manifest.env.items():
        if key in overrides:
            found[key] = overrides[key]
        elif var.value is not None:
            found[key] = var.value
        elif var.generator == "secret":
            found[key] = secrets.token_hex(SECRET_BYTES)
    for key, value in overrides.items():
        found.setdefault(key, value)
    return found


def buildpack_specs(manifest: Manifest, overrides: dict[str, str]) -> list[str]:
    """The buildpacks to install: app.json's `buildpacks`, else its BUILDPACK_URL."""
    if manifest.buildpacks:
        return [b.url for b in manifest.buildpacks]
    var = manifest.env.get("BUILDPACK_URL")
    url = overrides.get("BUILDPACK_URL") or (var.value if var is not None else None)
    return [url] if url else []


def success_url(manifest: Manifest, web_url: str) -> str:
    """Where to send the user once the app runs: `success_url`, resolved against the
    app's URL when it is relative (its URL when app.json names none)."""
    if not manifest.success_url:
        return web_url
    return urljoin(web_url, manifest.success_url)
