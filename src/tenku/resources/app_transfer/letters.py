"""The mail a transfer sends: the offer to its recipient, and the answer to its sender."""

from __future__ import annotations

from tenku.db.models import Account, AppTransfer
from tenku.resources.invitation.letters import ACCEPT, Letter


def _who(account: Account) -> str:
    return f"{account.name} ({account.email})" if account.name else account.email


def offer_letter(
    api_url: str, sender: Account, recipient: Account, app_name: str, transfer: AppTransfer
) -> Letter:
    """To the recipient: what is offered, and how to accept or decline it."""
    url = f"{api_url}/account/app-transfers/{transfer.id}"

    def command(state: str) -> str:
        return (
            f"  curl -X PATCH {url} \\\n"
            f"    -H '{ACCEPT}' -H 'Content-Type: application/json' \\\n"
            f'    -H "Authorization: Bearer $HEROKU_API_KEY" -d \'{{"state": "{state}"}}\''
        )

    body = f"""{_who(sender)} wants to transfer the app {app_name} to you on Tenku.

If you accept, {app_name} becomes yours: you own it, its add-ons and their billing
go with it, and {sender.email} stays on it as a collaborator.

The transfer: {transfer.id}

To accept it, logged in as {recipient.email}: PATCH /account/app-transfers/{transfer.id}
with the state "accepted":

{command("accepted")}

To decline it, the same with "declined":

{command("declined")}

(GET {url} shows the transfer; GET {api_url}/account/app-transfers lists yours.)
"""
    return Letter(recipient.email, f"{sender.email} wants to transfer {app_name} to you", body)


def answer_letter(sender: Account, recipient: Account, app_name: str, state: str) -> Letter:
    """To the sender: the recipient accepted or declined."""
    if state == "accepted":
        body = (
            f"{_who(recipient)} accepted your transfer of {app_name}: the app is theirs now,\n"
            "with its add-ons and their billing, and you stay on it as a collaborator.\n"
        )
    else:
        body = f"{_who(recipient)} declined your transfer of {app_name}: the app is still yours.\n"
    return Letter(sender.email, f"{recipient.email} {state} the transfer of {app_name}", body)
