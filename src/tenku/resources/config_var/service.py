from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, App
from tenku.resources.config_var.store import (
    attached,
    change_config,
    current_config,
    merged,
    own_config,
)
from tenku.resources.release import service as releases
from tenku.web.errors import InvalidParams

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# Heroku's documented limit: keys and values together, per app.
MAX_CONFIG_BYTES = 32 * 1024


def validate_changes(data: dict[str, object]) -> dict[str, str | None]:
    """Strings or null only (a number or a boolean is not silently made one), and nothing a
    process environment cannot carry: a NUL byte would make every start of a dyno fail."""
    changes: dict[str, str | None] = {}
    for key, value in data.items():
        if len(key) > 255 or not KEY_RE.match(key):
            raise InvalidParams(f"Invalid config var name provided: {key!r}.")
        if value is not None and not isinstance(value, str):
            raise InvalidParams(f"Invalid value provided for {key}: config values are strings.")
        if value is not None and "\0" in value:
            raise InvalidParams(f"Invalid value provided for {key}: it holds a NUL byte.")
        changes[key] = value
    return changes


def config_size(config: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in config.items())


def describe(changes: dict[str, str | None]) -> str:
    """Heroku's release text: "Set A, B config vars", "Remove C config vars", or both."""
    set_keys = [k for k, v in changes.items() if v is not None]
    removed = [k for k, v in changes.items() if v is None]
    parts = []
    if set_keys:
        parts.append(f"Set {', '.join(set_keys)} config vars")
    if removed:
        parts.append(f"Remove {', '.join(removed)} config vars")
    return " and ".join(parts)


async def update_config(
    db: AsyncSession, app: App, user: Account, changes: dict[str, str | None]
) -> dict[str, str]:
    if not changes:
        return await current_config(db, app.id)
    # Lock the app first so that concurrent changes apply one after the other.
    await releases.lock_app(db, app)
    addons = await attached(db, app.id)
    managed = addons.config
    # Attachment vars change only by attaching or detaching (as on Heroku).
    for verb, wanted in (("overwrite", True), ("remove", False)):
        clash = [k for k, v in changes.items() if k in managed and (v is not None) == wanted]
        if clash:
            raise InvalidParams(
                f"Cannot {verb} attachment values {', '.join(clash)}: "
                "they belong to an add-on attachment."
            )
    own = await own_config(db, app.id)
    before = config_size(own)
    for key, value in changes.items():
        if value is None:
            own.pop(key, None)
        else:
            own[key] = value
    # An app already over the limit (from before it existed) may still shrink.
    after = config_size(own)
    if after > MAX_CONFIG_BYTES and after > before:
        raise InvalidParams(
            f"Config vars are limited to {MAX_CONFIG_BYTES // 1024} kB per app (keys and "
            "values together); this change would go beyond it."
        )
    await change_config(db, app.id, changes)
    config = merged(own, addons)
    await releases.create_release(db, app, user, describe(changes), config=config, addons=addons)
    return config
