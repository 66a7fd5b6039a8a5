from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, App
from tenku.resources.config_var.store import (
    attachment_config,
    current_config,
    own_config,
    replace_config,
)
from tenku.resources.release import service as releases
from tenku.web.errors import InvalidParams

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def validate_changes(data: dict[str, object]) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    for key, value in data.items():
        if len(key) > 255 or not KEY_RE.match(key):
            raise InvalidParams(f"Invalid config var name provided: {key!r}.")
        if value is None:
            changes[key] = None
        elif isinstance(value, bool):
            changes[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            changes[key] = str(value)
        else:
            raise InvalidParams(f"Invalid value provided for {key}: config values are strings.")
    return changes


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
    managed = await attachment_config(db, app.id)
    # Attachment vars change only by attaching or detaching (as on Heroku).
    for verb, wanted in (("overwrite", True), ("remove", False)):
        clash = [k for k, v in changes.items() if k in managed and (v is not None) == wanted]
        if clash:
            raise InvalidParams(
                f"Cannot {verb} attachment values {', '.join(clash)}: "
                "they belong to an add-on attachment."
            )
    own = await own_config(db, app.id)
    for key, value in changes.items():
        if value is None:
            own.pop(key, None)
        else:
            own[key] = value
    await replace_config(db, app.id, own)
    config = {**own, **managed}
    await releases.create_release(db, app, user, describe(changes), config=config)
    return dict(sorted(config.items()))
