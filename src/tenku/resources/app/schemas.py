from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from pydantic import field_validator
from sqlalchemy import Row

from tenku.config import Settings
from tenku.db.models import App
from tenku.ids import stable_id
from tenku.resources.common import AccountRef, In, Out, Ref
from tenku.resources.region.catalog import find_region
from tenku.resources.stack.catalog import stack_named
from tenku.web.render import Columns, WholeTimestamp, whole

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,29}$")


def check_name(value: str | None) -> str | None:
    if value is not None and not NAME_RE.match(value):
        raise ValueError(
            "Name must start with a letter, end with a letter or digit and can only contain "
            "lowercase letters, digits, and dashes, and be between 3 and 30 characters"
        )
    return value


# What an app body is made from: the app, a row of its columns (lists read those), or
# that row's columns as attributes (cheaper to read on long pages).
AppLike = App | Row[Any] | Columns


class SpaceRef(Out):
    id: uuid.UUID
    name: str
    shield: bool = False


CEDAR = Ref(id=stable_id("generation", "cedar"), name="cedar")


class AppOut(Out):
    # Fields after the reference's (acm, create_status, generation, ...) are read by
    # today's CLI; their defaults let the reference's own examples parse.
    acm: bool = False
    archived_at: WholeTimestamp | None
    buildpack_provided_description: str | None
    build_stack: Ref
    created_at: WholeTimestamp
    create_status: str = "complete"
    generation: Ref = CEDAR
    git_url: str
    id: uuid.UUID
    internal_routing: bool | None = None
    locked: bool = False
    maintenance: bool
    name: str
    organization: Ref | None
    owner: AccountRef
    process_tier: str = "production"
    region: Ref
    released_at: WholeTimestamp | None
    repo_size: int | None
    slug_size: int | None
    space: SpaceRef | None
    stack: Ref
    team: Ref | None = None
    updated_at: WholeTimestamp
    web_url: str

    @classmethod
    def of(
        cls, app: AppLike, owner: AccountRef, settings: Settings, team: Ref | None = None
    ) -> AppOut:
        """From an app, or a row of its columns (lists read those). Built from trusted rows:
        no validation, which dominated long app lists; timestamps made whole here."""
        return cls.trusted(
            acm=app.acm,
            archived_at=None if app.archived_at is None else whole(app.archived_at),
            buildpack_provided_description=app.buildpack_provided_description,
            build_stack=stack_ref(app.build_stack),
            created_at=whole(app.created_at),
            generation=CEDAR,
            git_url=f"https://{settings.git_host}/{app.name}.git",
            id=app.id,
            internal_routing=app.internal_routing,
            locked=app.locked,
            maintenance=app.maintenance,
            name=app.name,
            organization=team,
            owner=owner,
            process_tier="production",
            region=region_ref(app.region),
            released_at=None if app.released_at is None else whole(app.released_at),
            repo_size=app.repo_size,
            slug_size=app.slug_size,
            space=None,
            stack=stack_ref(app.stack),
            team=team,
            updated_at=whole(app.updated_at),
            web_url=settings.app_web_url(app.name),
        )


# A page of apps shares a few regions and stacks: one Ref each, shared (they are never
# changed once made).
@functools.lru_cache(maxsize=64)
def region_ref(name: str) -> Ref:
    region = find_region(name)
    return Ref(id=region.id if region else stable_id("region", name), name=name)


@functools.lru_cache(maxsize=64)
def stack_ref(name: str) -> Ref:
    return Ref.of(stack_named(name))


class AppCreate(In):
    name: str | None = None
    region: str | None = None
    stack: str | None = None

    _name = field_validator("name")(check_name)


class AppUpdate(In):
    build_stack: str | None = None
    maintenance: bool | None = None
    name: str | None = None

    _name = field_validator("name")(check_name)
