"""Who may do what to an app: the one place where roles become privileges.

Every app-scoped route declares the privilege it needs with one of the `Annotated`
aliases at the bottom (`on: DeployApp`) and never looks at roles itself. Privileges are
the four Heroku grants to team members (`view`, `deploy`, `operate`, `manage`) plus `own`,
for what changes who holds the app (deleting, renaming, adding collaborators).

Roles come from the app's collaborator rows: the owner, and collaborators. Organization
roles (admin, member, viewer-like permission sets) are resolved in `access_of` and
`_role_query`, so they arrive without any route changing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends
from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import App, Collaborator
from tenku.ids import as_uuid
from tenku.web.deps import Db, Principal, scoped
from tenku.web.errors import Forbidden, NotFound

Privilege = Literal["view", "deploy", "operate", "manage", "own"]
EVERYTHING: frozenset[Privilege] = frozenset({"view", "deploy", "operate", "manage", "own"})

# Personal apps: the owner may do everything; collaborators all but what changes who
# holds the app (Heroku leaves the difference undocumented; this is what its CLI expects).
ROLE_PRIVILEGES: dict[str, frozenset[Privilege]] = {
    "owner": EVERYTHING,
    "collaborator": frozenset({"view", "deploy", "operate", "manage"}),
}


@dataclass(frozen=True)
class Access:
    role: str
    privileges: frozenset[Privilege]

    def can(self, need: Privilege) -> bool:
        return need in self.privileges


def access_of(role: str | None, permissions: Sequence[str] = ()) -> Access | None:
    """What a role on an app grants; None for no role at all."""
    if role is None:
        return None
    granted = ROLE_PRIVILEGES.get(role)
    if granted is None:
        # An explicit permission list (team collaborators), never more than listed.
        granted = frozenset(p for p in EVERYTHING if p in permissions and p != "own")
    return Access(role, granted)


def _denied(app: App, need: Privilege) -> Forbidden:
    if need == "own":
        return Forbidden(f"Only the owner of {app.name} can do that.")
    return Forbidden(f"You need the {need} permission on {app.name} to do that.")


async def access_to(db: AsyncSession, app_id: uuid.UUID, account_id: uuid.UUID) -> Access | None:
    row = (
        await db.execute(
            select(Collaborator.role, Collaborator.permissions).where(
                Collaborator.app_id == app_id, Collaborator.account_id == account_id
            )
        )
    ).first()
    return None if row is None else access_of(row[0], row[1] or ())


# Built once: on every app-scoped request, building the statement cost more than running it.
_APP_AND_ROLE = select(App, Collaborator.role, Collaborator.permissions).outerjoin(
    Collaborator,
    and_(Collaborator.app_id == App.id, Collaborator.account_id == bindparam("account_id")),
)
_APP_BY_ID = _APP_AND_ROLE.where(App.id == bindparam("key", type_=App.id.type))
_APP_BY_NAME = _APP_AND_ROLE.where(App.name == bindparam("key", type_=App.name.type))


async def resolve_app(
    db: AsyncSession, caller: Principal, ident: str, need: Privilege = "view"
) -> tuple[App, Access]:
    """The app named in a path and the caller's access, if it grants `need`.

    Apps have global names, so an app that exists but is not the caller's is a 403
    (as on Heroku), never a silent success. One query finds the app and the role.
    """
    uid = as_uuid(ident)
    stmt, key = (_APP_BY_ID, uid) if uid is not None else (_APP_BY_NAME, ident)
    row = (await db.execute(stmt, {"account_id": caller.account.id, "key": key})).first()
    if row is None:
        raise NotFound("app")
    app, role, permissions = row
    access = access_of(role, permissions or ())
    if access is None:
        raise Forbidden(f"You do not have access to the app {app.name}.")
    if not access.can(need):
        raise _denied(app, need)
    return app, access


async def get_app(db: AsyncSession, caller: Principal, ident: str, need: Privilege = "view") -> App:
    app, _ = await resolve_app(db, caller, ident, need)
    return app


@dataclass
class OnApp:
    app: App
    caller: Principal
    db: AsyncSession
    access: Access


def on_app(scope: str, need: Privilege) -> Any:
    """Authenticate with `scope`, then resolve `{app_id_or_name}` with privilege `need`."""

    async def resolve(app_id_or_name: str, db: Db, caller: Principal = scoped(scope)) -> OnApp:
        app, access = await resolve_app(db, caller, app_id_or_name, need)
        return OnApp(app, caller, db, access)

    return Depends(resolve)


ViewApp = Annotated[OnApp, on_app("app:read", "view")]
DeployApp = Annotated[OnApp, on_app("app:write", "deploy")]
OperateApp = Annotated[OnApp, on_app("app:write", "operate")]
ManageApp = Annotated[OnApp, on_app("app:write", "manage")]
OwnApp = Annotated[OnApp, on_app("app:write", "own")]
# Writes whose service decides who may do them (a collaborator leaving an app).
JoinedApp = Annotated[OnApp, on_app("app:write", "view")]
# Config vars need the token's protected scopes on top of the app privilege.
ViewSecrets = Annotated[OnApp, on_app("secrets:read", "view")]
DeploySecrets = Annotated[OnApp, on_app("secrets:write", "deploy")]
