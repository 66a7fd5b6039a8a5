from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from tenku.db.models import Pipeline
from tenku.resources.common import In, Out
from tenku.resources.pipeline.access import NAME
from tenku.web.render import Timestamp

PipelineName = Annotated[str, Field(pattern=NAME.pattern)]


class PipelineOwner(Out):
    """Today's API says whose a pipeline is (the CLI's `pipelines:info` shows it)."""

    id: uuid.UUID
    type: Literal["user", "team"]


class PipelineOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    name: str
    owner: PipelineOwner | None = None
    updated_at: Timestamp

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineOut:
        if pipeline.team_id is not None:
            owner = PipelineOwner(id=pipeline.team_id, type="team")
        else:
            assert pipeline.owner_id is not None
            owner = PipelineOwner(id=pipeline.owner_id, type="user")
        return cls(
            created_at=pipeline.created_at,
            id=pipeline.id,
            name=pipeline.name,
            owner=owner,
            updated_at=pipeline.updated_at,
        )


class OwnerIn(In):
    # An account's id (or `~`, or its email) for a user; a team's id or name.
    id: str = Field(min_length=1, max_length=254)
    type: Literal["user", "team"]


class PipelineCreate(In):
    name: PipelineName
    # Without one the pipeline is the caller's. The CLI also sends `generation`, which
    # Tenku has one of (its apps all run alike): it is ignored.
    owner: OwnerIn | None = None


class PipelineUpdate(In):
    name: PipelineName | None = None
