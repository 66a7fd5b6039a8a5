"""Who may do what to an app: the one place where roles become privileges.

Every app-scoped route names the action it performs with `allowed(scope, action)` (or
one of the aliases at the bottom; `deciding` for a route whose body says which action it
takes) and never looks at roles itself; which privilege an action needs is the matrix in
permissions.py. Code outside a route's dependency that finds an app some other way (a
stream's token, an add-on's billing app) asks `permitted`, or `access_to(...).require`,
with an action.

A personal app's rights come from its collaborator rows: the owner (everything) and
collaborators (all but `own`). A team app's come from the caller's team role and the
app's collaborator rows: admins may do everything; members hold the team's member
permissions (`view` unless changed) and viewers `view` on every unlocked app;
collaborators, and anyone on a locked app, hold only what their own collaborator row
grants. On a team app `manage` carries `own`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from sqlalchemy import BindParameter, CompoundSelect, and_, bindparam, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.db.models import App, Collaborator, Team, TeamMember
from tenku.db.prepared import Prepared
from tenku.db.reads import Reads
from tenku.db.statements import adopt, statements
from tenku.ids import as_uuid
from tenku.resources.app.permissions import EVERYTHING, Privilege, doing, needs
from tenku.web.deps import Credentials, Principal, Scoped, request_reads, request_session
from tenku.web.errors import Forbidden, NotFound
from tenku.web.render import Columns

# Personal apps: the owner may do everything; collaborators all but what changes who
# holds the app (Heroku leaves the difference undocumented; this is what its CLI expects).
ROLE_PRIVILEGES: dict[str, frozenset[Privilege]] = {
    "owner": EVERYTHING,
    "collaborator": frozenset({"view", "deploy", "operate", "manage"}),
}
# Team roles that see every unlocked team app without being added to it: members with the
# team's member permissions, viewers only to view.
MEMBER_ROLES = frozenset({"member", "viewer"})
VIEWER_ROLES = frozenset({"viewer"})
ADMIN_ROLES = frozenset({"admin", "owner"})


@dataclass(frozen=True)
class Access:
    role: str
    privileges: frozenset[Privilege]
    # For the access a route's dependency resolved: the actions the route declared, the
    # only ones its body may `require` (None: any, for code that resolved the app itself).
    declared: frozenset[str] | None = None

    def can(self, need: Privilege) -> bool:
        return need in self.privileges

    def allows(self, action: str) -> bool:
        return any(p in self.privileges for p in needs(action))

    def require(self, app: App | Columns, action: str) -> None:
        if self.declared is not None and action not in self.declared:
            raise AssertionError(f"{action} is not among the actions its route declares")
        if not self.allows(action):
            raise denied(app, action)


def granted(permissions: Sequence[str]) -> frozenset[Privilege]:
    """A team grant: the listed permissions (always with view), `own` with `manage`."""
    privileges: set[Privilege] = {p for p in EVERYTHING if p in permissions and p != "own"}
    if privileges:
        privileges.add("view")
    if "manage" in privileges:
        privileges.add("own")
    return frozenset(privileges)


def access_of(role: str | None, permissions: Sequence[str] = ()) -> Access | None:
    """What a collaborator row on a personal app grants; None for no row at all."""
    if role is None:
        return None
    privileges = ROLE_PRIVILEGES.get(role)
    if privileges is None:
        privileges = granted(permissions)
    return Access(role, privileges)


def team_access(
    locked: bool,
    team_role: str | None,
    collaborator_permissions: Sequence[str] | None,
    member_permissions: Sequence[str] | None,
) -> Access | None:
    """What the caller holds on a team app (see the module's docstring)."""
    if team_role in ADMIN_ROLES:
        return Access("admin", EVERYTHING)
    privileges: frozenset[Privilege] = frozenset()
    if collaborator_permissions is not None:
        privileges = granted(collaborator_permissions)
    if team_role in MEMBER_ROLES and not locked:
        seeing = ("view",) if team_role in VIEWER_ROLES else (member_permissions or ("view",))
        privileges |= granted(seeing)
    if not privileges:
        return None
    return Access(team_role or "collaborator", privileges)


def _access(
    app: App | Columns,
    role: str | None,
    permissions: Sequence[str] | None,
    team_role: str | None,
    member_permissions: Sequence[str] | None,
) -> Access | None:
    if app.organization_id is None:
        return access_of(role, permissions or ())
    return team_access(
        app.locked, team_role, None if role is None else (permissions or ()), member_permissions
    )


def denied(app: App | Columns, action: str) -> Forbidden:
    """Heroku's 403 for a caller who may see the app but not do this to it."""
    what = doing(action, app.name)
    privileges = needs(action)
    if privileges == ("own",):
        if app.organization_id is None:
            return Forbidden(f"You do not have permission to {what}. Only its owner can do that.")
        privileges = ("manage",)
    wanted = " or ".join(privileges)
    return Forbidden(
        f"You do not have permission to {what}. "
        f"You need to have the {wanted} permission on this app."
    )


def no_access(app: App | Columns) -> Forbidden:
    return Forbidden(f"You do not have access to the app {app.name}.")


# Built once: on every app-scoped request, building the statement cost more than running it.
# The app as plain columns: routes that only read it take them as they are (`Columns`),
# the others as an entity made from them (`adopt`), without the ORM's loading.
_APP_COLUMNS = tuple(App.__table__.columns)
_ROLES = (Collaborator.role, Collaborator.permissions, TeamMember.role, Team.member_permissions)
_APP_AND_ROLES = (
    select(*_APP_COLUMNS, *_ROLES)
    .outerjoin(
        Collaborator,
        and_(Collaborator.app_id == App.id, Collaborator.account_id == bindparam("account_id")),
    )
    .outerjoin(
        TeamMember,
        and_(
            TeamMember.team_id == App.organization_id,
            TeamMember.account_id == bindparam("account_id"),
        ),
    )
    .outerjoin(Team, Team.id == App.organization_id)
)
_APP_BY_ID = Prepared(_APP_AND_ROLES.where(App.id == bindparam("key", type_=App.id.type)))
_APP_BY_NAME = Prepared(_APP_AND_ROLES.where(App.name == bindparam("key", type_=App.name.type)))


def _columns(row: Sequence[Any]) -> dict[str, Any]:
    return {column.key: value for column, value in zip(_APP_COLUMNS, row, strict=False)}


async def _find(
    db: AsyncSession, account_id: uuid.UUID, stmt: Prepared, key: Any
) -> tuple[App, Access | None] | None:
    row = await (await statements(db)).first(stmt, {"account_id": account_id, "key": key})
    if row is None:
        return None
    app = adopt(db, App, _columns(row))
    return app, _access(app, *row[len(_APP_COLUMNS) :])


async def _find_columns(
    reads: Reads, account_id: uuid.UUID, stmt: Prepared, key: Any
) -> tuple[Columns, Access | None] | None:
    row = await reads.first(stmt, {"account_id": account_id, "key": key})
    if row is None:
        return None
    app = Columns(_columns(row))
    return app, _access(app, *row[len(_APP_COLUMNS) :])


async def access_to(db: AsyncSession, app_id: uuid.UUID, account_id: uuid.UUID) -> Access | None:
    found = await _find(db, account_id, _APP_BY_ID, app_id)
    return None if found is None else found[1]


async def permitted(
    db: AsyncSession, app_id: uuid.UUID, account_id: uuid.UUID, action: str
) -> bool:
    """Whether the account may do `action` to the app (False for an app that is gone)."""
    access = await access_to(db, app_id, account_id)
    return access is not None and access.allows(action)


# An account's id, or the parameter that will give it (for a constant statement).
AccountId = uuid.UUID | BindParameter[uuid.UUID]


def visible_app_ids(account_id: AccountId) -> CompoundSelect[uuid.UUID]:
    """Ids of the apps the account holds any privilege on (the same rules as `access_to`).

    A union of the three ways in, each read from an index: the databases then find a
    page's apps by id from a set of ids, where one condition with three alternatives
    made them read every visible app whole, and sort it, for each page."""
    member_of = select(TeamMember.team_id).where(TeamMember.account_id == account_id)
    # Roles compared one by one, not `in_`: an IN list is a parameter expanded at each
    # execution, which a statement compiled once (`Prepared`) cannot hold.
    admin_of = member_of.where(or_(*(TeamMember.role == role for role in sorted(ADMIN_ROLES))))
    seeing = member_of.where(or_(*(TeamMember.role == role for role in sorted(MEMBER_ROLES))))
    return union(
        select(Collaborator.app_id).where(Collaborator.account_id == account_id),
        select(App.id).where(App.organization_id.in_(admin_of)),
        select(App.id).where(App.organization_id.in_(seeing), App.locked.is_(False)),
    )


async def resolve_app(
    db: AsyncSession, caller: Principal, ident: str, action: str = "app:view"
) -> tuple[App, Access]:
    """The app named in a path and the caller's access, if it allows `action`.

    Apps have global names, so an app that exists but is not the caller's is a 403
    (as on Heroku), never a silent success. One query finds the app and the roles.
    """
    uid = as_uuid(ident)
    stmt, key = (_APP_BY_ID, uid) if uid is not None else (_APP_BY_NAME, ident)
    return _allowed(await _find(db, caller.known.id, stmt, key), action)


async def resolve_columns(
    reads: Reads, caller: Principal, ident: str, action: str = "app:view"
) -> tuple[Columns, Access]:
    """`resolve_app` for a route that only reads the app: its columns, without the ORM's
    loading and identity map (about a sixth of a GET of one app)."""
    uid = as_uuid(ident)
    stmt, key = (_APP_BY_ID, uid) if uid is not None else (_APP_BY_NAME, ident)
    return _allowed(await _find_columns(reads, caller.known.id, stmt, key), action)


_Seen = TypeVar("_Seen", App, Columns)


def _allowed(found: tuple[_Seen, Access | None] | None, action: str) -> tuple[_Seen, Access]:
    if found is None:
        raise NotFound("app")
    app, access = found
    if access is None:
        raise no_access(app)
    access.require(app, action)
    return app, access


async def get_app(db: AsyncSession, caller: Principal, ident: str, action: str = "app:view") -> App:
    app, _ = await resolve_app(db, caller, ident, action)
    return app


@dataclass
class OnApp:
    app: App
    caller: Principal
    db: AsyncSession
    access: Access


def require(on: OnApp, action: str) -> None:
    """For routes whose action depends on the body (a rollback or a deploy, a rename): one
    of the actions the route declared with `deciding` (or `allowed(..., then=...)`)."""
    on.access.require(on.app, action)


@dataclass(frozen=True)
class Declared:
    """What an app-scoped route's access dependency checks: the token's scope, the action
    it requires before the route runs, and those the route may require once it has read
    its body."""

    scope: str
    action: str
    then: tuple[str, ...] = ()


_DECLARED: dict[Callable[..., Any], Declared] = {}


def declare(call: Callable[..., Any], scope: str, action: str, then: Sequence[str] = ()) -> None:
    """Record that the dependency `call` resolves an app for `action` (tests read this:
    every app-scoped route must have such a dependency)."""
    for name in (action, *then):
        needs(name)
    _DECLARED[call] = Declared(scope, action, tuple(then))


def declared(call: Any) -> Declared | None:
    return _DECLARED.get(call)


class AppAccess(Credentials):
    """Dependency: authenticate with `scope`, then resolve `{app_id_or_name}` for `action`.

    One dependency that does the three steps itself (session, caller, app), rather than
    one with two of its own: FastAPI's solving of nested dependencies cost more per
    request than authenticating the caller."""

    def __init__(self, scope: str, action: str, then: Sequence[str]) -> None:
        self.caller = Scoped(scope)
        self.action = action
        self.may = frozenset((action, *then))

    async def __call__(self, request: Request) -> OnApp:
        db = request_session(request)
        caller = await self.caller.resolve(request, db)
        ident: str = request.path_params["app_id_or_name"]
        app, access = await resolve_app(db, caller, ident, self.action)
        return OnApp(app, caller, db, replace(access, declared=self.may))


@dataclass
class SeenApp:
    """An app a route only reads, as its columns (`ViewAppColumns`)."""

    app: Columns
    caller: Principal
    # Where the route reads anything else (see `request_reads`).
    reads: Reads
    access: Access


class AppColumnsAccess(AppAccess):
    """`AppAccess` for a route that only reads the app: it gets the app's columns."""

    async def __call__(self, request: Request) -> SeenApp:  # type: ignore[override]
        caller = await self.caller.resolve(request)
        ident = request.path_params["app_id_or_name"]
        reads = request_reads(request)
        app, access = await resolve_columns(reads, caller, ident, self.action)
        return SeenApp(app, caller, reads, replace(access, declared=self.may))


def allowed(scope: str, action: str, then: Sequence[str] = ()) -> Any:
    """Authenticate with `scope`, then resolve `{app_id_or_name}` for `action`; the route
    may then `require` any of `then`."""
    resolve = AppAccess(scope, action, then)
    declare(resolve, scope, action, then)
    return Depends(resolve)


def reading(action: str) -> Any:
    return allowed("app:read", action)


def writing(action: str, then: Sequence[str] = ()) -> Any:
    return allowed("app:write", action, then)


def deciding(*actions: str) -> Any:
    """A write whose body says which of `actions` it is: anyone who may see the app gets
    past the dependency, and the route (or its service) `require`s the one it takes."""
    return allowed("app:write", "app:view", actions)


ViewApp = Annotated[OnApp, reading("app:view")]
# The app's columns only, for a route that reads nothing else of it (a GET of the app).
_view_columns = AppColumnsAccess("app:read", "app:view", ())
declare(_view_columns, "app:read", "app:view")
ViewAppColumns = Annotated[SeenApp, Depends(_view_columns)]
