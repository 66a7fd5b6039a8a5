from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account
from tenku.resources.user_preferences.schemas import PreferencesOut, PreferencesUpdate
from tenku.web.errors import NotFound


def resolve_self(caller: Account, ident: str) -> Account:
    """`{user_preferences_self}` only ever names the caller, as `~`."""
    if ident != "~":
        raise NotFound("user_preferences", "Couldn't find those user preferences.")
    return caller


def preferences_of(account: Account) -> PreferencesOut:
    return PreferencesOut.of(account.preferences or {})


async def update_preferences(
    db: AsyncSession, account: Account, changes: PreferencesUpdate
) -> PreferencesOut:
    sent = changes.model_dump(by_alias=True, exclude_unset=True)
    # A new dict, so that the JSON column is seen as changed.
    account.preferences = {**(account.preferences or {}), **sent}
    await db.flush()
    return preferences_of(account)
