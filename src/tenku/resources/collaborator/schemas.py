from __future__ import annotations

import uuid

from pydantic import Field

from tenku.db.models import Account, App, Collaborator
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp

# What each app permission allows, in the words of Heroku's app permissions page (the
# matrix itself is tenku.resources.app.permissions).
DESCRIPTIONS = {
    "view": "View an app: its settings, activity, add-ons, dynos, logs and who has access.",
    "deploy": (
        "Deploy an app: push and fetch its code, change its config vars and add-ons, "
        "run one-off dynos and roll back releases."
    ),
    "operate": (
        "Operate an app: scale and restart its dynos, roll back releases, switch "
        "maintenance mode and manage log drains."
    ),
    "manage": (
        "Manage an app: its domains, features and config, who has access to it, and "
        "renaming, transferring and deleting it."
    ),
}


class PermissionOut(Out):
    name: str
    description: str | None = None

    @classmethod
    def named(cls, name: str) -> PermissionOut:
        return cls(name=name, description=DESCRIPTIONS.get(name))


class CollaboratorUser(Out):
    email: str
    federated: bool = False
    id: uuid.UUID


class CollaboratorOut(Out):
    app: Ref
    created_at: Timestamp
    id: uuid.UUID
    permissions: list[PermissionOut] = []
    role: str | None = None
    updated_at: Timestamp
    user: CollaboratorUser

    @classmethod
    def of(
        cls,
        collaborator: Collaborator,
        account: Account,
        app: App,
        team_role: str | None = None,
    ) -> CollaboratorOut:
        """On a team app `role` is the user's role in the team, as Heroku shows it."""
        return cls(
            app=Ref.of(app),
            created_at=collaborator.created_at,
            id=collaborator.id,
            permissions=permissions_of(collaborator),
            role=team_role if app.organization_id is not None and team_role else collaborator.role,
            updated_at=collaborator.updated_at,
            user=CollaboratorUser(email=account.email, id=account.id),
        )


def permissions_of(collaborator: Collaborator) -> list[PermissionOut]:
    """A team grant always includes view; a personal app's rows list none (the role says)."""
    names = collaborator.permissions
    if names and "view" not in names:
        names = ["view", *names]
    return [PermissionOut.named(name) for name in sorted(names)]


class CollaboratorCreate(In):
    user: str = Field(min_length=1, max_length=254)
    # Tenku sends no invitation emails, so there is nothing to silence.
    silent: bool = False
