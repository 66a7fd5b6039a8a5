"""Invitations into a team, as the heroku CLI's `members:add`, `members` and
`members:remove` use them (Accept: `version=3.team-invitations`): an admin invites an
email with a role, the token is mailed, and the person joins the team by finalizing the
invitation (setting a password, when they have no account) or by accepting it.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Invitation
from tenku.resources.invitation import service as invitations
from tenku.resources.invitation.letters import accept_letter, password_letter, send_after_commit
from tenku.resources.organization.access import TeamReader, TeamWriter
from tenku.resources.organization_member.schemas import OrganizationMemberOut
from tenku.resources.team_invitation import service
from tenku.resources.team_invitation.schemas import TeamInvitationCreate, TeamInvitationOut
from tenku.web.deps import AccountWriter, Context, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Invitation.id, Invitation.email)


@router.get(
    "/teams/{team_name_or_id:team}/invitations",
    response_model=list[TeamInvitationOut],
    openapi_extra=ranged(SORT),
    summary="List",
)
async def list_invitations(request: Request, on: TeamReader) -> Response:
    """Pending invitations into a team (any member may list them)."""
    return await paged(
        request,
        on.db,
        service.team_invitations(on.team.id),
        SORT,
        TeamInvitationOut,
        lambda rows: service.render(on.db, on.team, rows),
    )


@router.put(
    "/teams/{team_name_or_id:team}/invitations", response_model=TeamInvitationOut, summary="Create"
)
async def create(
    request: Request,
    on: TeamWriter,
    ctx: Context,
    params: TeamInvitationCreate = body(TeamInvitationCreate),
) -> Response:
    """Invite someone into a team with a role (team admins only); the token is mailed."""
    on.require_admin("invite people into it")
    db, team, caller = on.db, on.team, on.caller
    invitation, token, account = await service.invite(
        db, caller.account, team, str(params.email), params.role
    )
    api_url = ctx.settings.public_api_url
    if invitations.needs_password(account):
        letter = password_letter(api_url, caller.account, invitation, token, team)
    else:
        letter = accept_letter(api_url, caller.account, invitation, token, team)
    send_after_commit(request, letter)
    return model_response(await service.render_one(db, team, invitation))


@router.delete(
    "/teams/{team_name_or_id:team}/invitations/{team_invitation_email}",
    response_model=TeamInvitationOut,
    summary="Revoke",
)
async def revoke(team_invitation_email: str, on: TeamWriter) -> Response:
    """Withdraw a team invitation not yet used (team admins only)."""
    on.require_admin("revoke its invitations")
    revoked = await service.revoke(on.db, on.team, team_invitation_email)
    return model_response(await service.render_one(on.db, on.team, revoked))


# No Authorization: the mailed token is the credential.
@router.get(
    "/teams/invitations/{team_invitation_token}",
    response_model=TeamInvitationOut,
    summary="Get",
)
async def info(team_invitation_token: str, db: Db) -> Response:
    """A pending team invitation, by its token."""
    invitation, team = await service.by_token(db, team_invitation_token)
    return model_response(await service.render_one(db, team, invitation))


@router.post(
    "/teams/invitations/{team_invitation_token}/accept",
    response_model=OrganizationMemberOut,
    summary="Accept",
)
async def accept(team_invitation_token: str, caller: AccountWriter, db: Db) -> Response:
    """Join the team, as the account the invitation is for; returns the membership."""
    return model_response(await service.accept(db, caller.account, team_invitation_token))
