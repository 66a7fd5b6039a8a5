from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import Row

from tenku.config import Settings
from tenku.db.models import App
from tenku.resources.app.schemas import AppOut, SpaceRef, check_name
from tenku.resources.common import AccountRef, In, Out, Ref
from tenku.web.render import Timestamp


class TeamRef(Out):
    """`{id, name}` of a team (the reference's examples show the name alone)."""

    id: uuid.UUID | None = None
    name: str


class OrganizationAppOut(Out):
    """An app as seen from its team: the app's attributes, and whether the caller joined it.

    Served under the reference's /organizations paths and the CLI's /teams ones alike,
    so it carries both `organization` and `team` (the same team), as the app does.
    """

    archived_at: Timestamp | None
    buildpack_provided_description: str | None
    build_stack: Ref | None = None
    created_at: Timestamp
    git_url: str
    id: uuid.UUID
    internal_routing: bool | None = None
    joined: bool
    locked: bool
    maintenance: bool
    name: str
    organization: TeamRef | None
    owner: AccountRef | None
    region: Ref
    released_at: Timestamp | None
    repo_size: int | None
    slug_size: int | None
    space: SpaceRef | None
    stack: Ref
    team: TeamRef | None = None
    updated_at: Timestamp
    web_url: str

    @classmethod
    def of(
        cls,
        app: App | Row[Any],
        owner: AccountRef,
        settings: Settings,
        team: Ref | None,
        joined: bool,
    ) -> OrganizationAppOut:
        base = AppOut.of(app, owner, settings, team)
        ref = None if team is None else TeamRef.trusted(id=team.id, name=team.name)
        return cls.trusted(
            archived_at=base.archived_at,
            buildpack_provided_description=base.buildpack_provided_description,
            build_stack=base.build_stack,
            created_at=base.created_at,
            git_url=base.git_url,
            id=base.id,
            internal_routing=base.internal_routing,
            joined=joined,
            locked=base.locked,
            maintenance=base.maintenance,
            name=base.name,
            organization=ref,
            owner=base.owner,
            region=base.region,
            released_at=base.released_at,
            repo_size=base.repo_size,
            slug_size=base.slug_size,
            space=None,
            stack=base.stack,
            team=ref,
            updated_at=base.updated_at,
            web_url=base.web_url,
        )


class OrganizationAppCreate(In):
    locked: bool | None = None
    name: str | None = None
    organization: str | None = Field(default=None, min_length=1, max_length=254)
    personal: bool | None = None
    region: str | None = None
    # Tenku has no private spaces; a space given is refused, not ignored.
    space: str | None = None
    stack: str | None = None
    team: str | None = Field(
        default=None,
        min_length=1,
        max_length=254,
        description="unique name or identifier of team (the CLI's name for `organization`)",
    )

    _name = field_validator("name")(check_name)


class OrganizationAppUpdate(In):
    locked: bool | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=254)
