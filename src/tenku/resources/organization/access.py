"""Who may do what to a team, and the two names every team route is served under.

The reference calls a team an organization (`/organizations/{organization_name_or_id}`);
today's API and the CLI call it a team (`/teams/{team_name_or_id}`). Each team route is
one function registered under both names, so both answer alike.

Only the team's members see it: anyone else gets the 404 of a team that does not exist,
which tells nobody which team names are taken. Admins manage the team (its name, members,
preferences and add-on allow-list); every member reads its preferences and allow-list;
admins, members and viewers read the member list, collaborators only what their apps
show them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from tenku.db.models import Team, TeamMember
from tenku.resources.app.access import ADMIN_ROLES, MEMBER_ROLES
from tenku.web.deps import Db, Principal, scoped
from tenku.web.errors import Forbidden, NotFound
from tenku.web.lookup import by_ident

# Words Heroku's API puts where a team's name goes, for other resources: `/teams/apps`,
# `/teams/permissions`, `/teams/invitations/{token}` (and `/organizations/apps`). No team
# may take one as its name, and no team route matches them, whichever router comes first.
RESERVED = frozenset({"apps", "permissions", "invitations"})


class TeamSegment(Convertor[str]):
    regex = r"(?!(?:" + "|".join(sorted(RESERVED)) + r")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("team", TeamSegment())


# A team in a path, as the reference names it and as today's API does. Every team route
# is registered under both (stacked decorators); its dependency takes whichever it got.
ORGANIZATION = "/organizations/{organization_name_or_id:team}"
TEAM = "/teams/{team_name_or_id:team}"
PREFERENCES = "/organizations/{organization_preferences_name_or_id:team}/preferences"
TEAM_PARAMS = ("organization_name_or_id", "organization_preferences_name_or_id", "team_name_or_id")


def path_param(request: Request, names: Sequence[str]) -> str:
    """The first of `names` the route's path has (a route has exactly one of them)."""
    for name in names:
        value = request.path_params.get(name)
        if isinstance(value, str):
            return value
    raise AssertionError(f"{request.url.path} names none of {', '.join(names)}")


@dataclass
class OnTeam:
    team: Team
    member: TeamMember
    caller: Principal
    db: AsyncSession

    @property
    def is_admin(self) -> bool:
        return self.member.role in ADMIN_ROLES

    def require_admin(self, doing: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"You must be an admin of the {self.team.name} team to {doing}.")

    def require_member_view(self) -> None:
        """Admins, members and viewers see the team's people; a collaborator sees apps."""
        if not (self.is_admin or self.member.role in MEMBER_ROLES):
            raise Forbidden(f"Only members of the {self.team.name} team can see its members.")


def team_not_found() -> NotFound:
    return NotFound("team", "Couldn't find that team.")


async def find_membership(
    db: AsyncSession, account_id: uuid.UUID, ident: str
) -> tuple[Team, TeamMember] | None:
    stmt = select(Team, TeamMember).join(
        TeamMember, and_(TeamMember.team_id == Team.id, TeamMember.account_id == account_id)
    )
    narrowed = by_ident(stmt, ident, Team.id, Team.name)
    row = (await db.execute(narrowed)).first() if narrowed is not None else None
    return None if row is None else (row[0], row[1])


def member_of(scope: str) -> Any:
    """Dependency: the caller's membership of the team in the path (a 404 for others)."""

    async def resolve(request: Request, db: Db, caller: Principal = scoped(scope)) -> OnTeam:
        found = await find_membership(db, caller.account.id, path_param(request, TEAM_PARAMS))
        if found is None:
            raise team_not_found()
        team, member = found
        return OnTeam(team, member, caller, db)

    return Depends(resolve)


TeamReader = Annotated[OnTeam, member_of("app:read")]
TeamWriter = Annotated[OnTeam, member_of("app:write")]
