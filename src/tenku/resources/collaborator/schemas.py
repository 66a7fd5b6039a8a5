from __future__ import annotations

import uuid

from pydantic import Field

from tenku.db.models import Account, App, Collaborator
from tenku.resources.common import In, Out, Ref
from tenku.web.render import Timestamp


class PermissionOut(Out):
    name: str


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
    def of(cls, collaborator: Collaborator, account: Account, app: App) -> CollaboratorOut:
        return cls(
            app=Ref.of(app),
            created_at=collaborator.created_at,
            id=collaborator.id,
            permissions=[PermissionOut(name=name) for name in collaborator.permissions],
            role=collaborator.role,
            updated_at=collaborator.updated_at,
            user=CollaboratorUser(email=account.email, id=account.id),
        )


class CollaboratorCreate(In):
    user: str = Field(min_length=1, max_length=254)
    # Tenku sends no invitation emails, so there is nothing to silence.
    silent: bool = False
