from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tenku.resources.collaborator.schemas import DESCRIPTIONS, CollaboratorOut
from tenku.resources.common import In, Out

PermissionName = Annotated[str, Field(min_length=1, max_length=32)]
PermissionNames = Annotated[list[PermissionName], Field(max_length=16)]


class OrganizationAppCollaboratorOut(CollaboratorOut):
    """A collaborator on a team app: `role` is their role in the team, `permissions` what
    they hold on the app."""


class OrganizationAppCollaboratorCreate(In):
    # The permissions the CLI's `access:add --permissions` sends (view is always added).
    permissions: PermissionNames | None = None
    # Tenku sends no invitation emails, so there is nothing to silence.
    silent: bool = False
    user: str = Field(min_length=1, max_length=254)


class OrganizationAppCollaboratorUpdate(In):
    permissions: PermissionNames


class TeamAppPermissionOut(Out):
    """An app permission a team app's collaborator may hold."""

    description: str
    name: str


PERMISSION_LIST = [TeamAppPermissionOut(name=n, description=d) for n, d in DESCRIPTIONS.items()]
