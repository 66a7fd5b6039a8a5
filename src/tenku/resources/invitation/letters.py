"""The mail an invitation sends: what the token is and exactly how to use it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from tenku.db.models import Account, Invitation, Team
from tenku.resources.invitation.service import expires_at
from tenku.web.deps import after_commit, app_context
from tenku.web.render import zulu

ACCEPT = "Accept: application/vnd.heroku+json; version=3"


@dataclass(frozen=True)
class Letter:
    to: str
    subject: str
    body: str


def _inviter(account: Account) -> str:
    return f"{account.name} ({account.email})" if account.name else account.email


def _validity(invitation: Invitation) -> str:
    return f"It works once, until {zulu(expires_at(invitation))} (7 days after it was sent)."


def password_letter(
    api_url: str,
    inviter: Account,
    invitation: Invitation,
    token: str,
    team: Team | None = None,
) -> Letter:
    """For someone without a password: finalizing sets one (and creates the account)."""
    into = f" and to the team {team.name} as {invitation.role}" if team is not None else ""
    joins = f", and makes you a member of {team.name}" if team is not None else ""
    subject = f"Join {team.name} on Tenku" if team is not None else "You're invited to Tenku"
    body = f"""{_inviter(inviter)} invited you to Tenku{into}.

Your invitation token: {token}
{_validity(invitation)}

To accept, set your password with PATCH /invitations/{token}
(the password twice): it sets up your Tenku account for {invitation.email}{joins}.

  curl -X PATCH {api_url}/invitations/{token} \\
    -H '{ACCEPT}' -H 'Content-Type: application/json' \\
    -d '{{"password": "...", "password_confirmation": "..."}}'

(GET {api_url}/invitations/{token} shows the invitation.)

Then log in with the heroku CLI, as {invitation.email} with that password:

  HEROKU_HOST={api_url} heroku login --interactive
"""
    return Letter(invitation.email, subject, body)


def accept_letter(
    api_url: str, inviter: Account, invitation: Invitation, token: str, team: Team
) -> Letter:
    """For someone who has an account: accepting while logged in joins the team."""
    body = f"""{_inviter(inviter)} invited you to join the team {team.name} on Tenku
as {invitation.role}.

Your invitation token: {token}
{_validity(invitation)}

To accept, logged in as {invitation.email}: POST /teams/invitations/{token}/accept

  curl -X POST {api_url}/teams/invitations/{token}/accept \\
    -H '{ACCEPT}' -H "Authorization: Bearer $HEROKU_API_KEY"

(GET {api_url}/teams/invitations/{token} shows the invitation.)
"""
    return Letter(invitation.email, f"Join {team.name} on Tenku", body)


def send_after_commit(request: Request, letter: Letter) -> None:
    """Mail `letter` once the request's transaction has committed (never before: a token
    must not reach anyone for an invitation that was rolled back)."""
    mailer = app_context(request).mailer

    async def send() -> None:
        await mailer.send(letter.to, letter.subject, letter.body)

    after_commit(request, send)
