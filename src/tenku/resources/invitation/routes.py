from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.invitation import service
from tenku.resources.invitation.letters import password_letter, send_after_commit
from tenku.resources.invitation.schemas import InvitationCreate, InvitationFinalize, InvitationOut
from tenku.web.deps import AccountWriter, Context, Db, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/invitations", response_model=InvitationOut)
async def create(
    request: Request,
    caller: AccountWriter,
    db: Db,
    ctx: Context,
    params: InvitationCreate = body(InvitationCreate),
) -> Response:
    invitation, token = await service.invite(db, caller.account, str(params.email), params.name)
    account = await service.invitee_account(db, invitation)
    letter = password_letter(ctx.settings.public_api_url, caller.account, invitation, token)
    send_after_commit(request, letter)
    out = InvitationOut(
        created_at=invitation.created_at, user=service.user_ref(invitation, account)
    )
    return model_response(out)


# No Authorization on these two: the mailed token is the credential.
@router.get("/invitations/{invitation_token}", response_model=InvitationOut)
async def info(invitation_token: str, db: Db) -> Response:
    found = await service.for_password(db, invitation_token)
    user = service.user_ref(found.invitation, found.account)
    return model_response(InvitationOut(created_at=found.invitation.created_at, user=user))


@router.patch("/invitations/{invitation_token}", response_model=InvitationOut)
async def finalize(
    invitation_token: str, db: Db, params: InvitationFinalize = body(InvitationFinalize)
) -> Response:
    invitation, account = await service.finalize(
        db, invitation_token, params.password, params.password_confirmation
    )
    user = service.user_ref(invitation, account)
    return model_response(InvitationOut(created_at=invitation.created_at, user=user))
