from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from tenku.db.models import Pipeline, PipelineCoupling
from tenku.resources.common import IdRef, In, Out
from tenku.web.render import Timestamp

# Today's API adds `test` (Heroku CI) to the reference's stages.
Stage = Literal["test", "review", "development", "staging", "production"]


class PipelineRef(Out):
    """`{id}` as the reference has it, and the name the CLI's `pipelines:promote` prints."""

    id: uuid.UUID
    name: str | None = None


class CouplingOut(Out):
    app: IdRef
    created_at: Timestamp
    id: uuid.UUID
    pipeline: PipelineRef
    stage: Stage
    updated_at: Timestamp

    @classmethod
    def of(cls, coupling: PipelineCoupling, pipeline: Pipeline) -> CouplingOut:
        return cls(
            app=IdRef(id=coupling.app_id),
            created_at=coupling.created_at,
            id=coupling.id,
            pipeline=PipelineRef(id=pipeline.id, name=pipeline.name),
            stage=coupling.stage,
            updated_at=coupling.updated_at,
        )


class CouplingCreate(In):
    app: str = Field(min_length=1, max_length=64)
    # The reference's is the pipeline's id; its name does too, when only one is so named.
    pipeline: str = Field(min_length=1, max_length=64)
    stage: Stage


class CouplingUpdate(In):
    stage: Stage | None = None
