from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from tenku.db.models import PipelinePromotion
from tenku.resources.common import IdRef, In, Out
from tenku.web.render import Timestamp

# More targets than any pipeline's stage holds in practice; a bound on one request's work.
MAX_TARGETS = 100


class PromotionSource(Out):
    app: IdRef
    release: IdRef | None


class PromotionOut(Out):
    created_at: Timestamp
    id: uuid.UUID
    pipeline: IdRef
    source: PromotionSource
    status: Literal["pending", "completed"]
    updated_at: Timestamp | None

    @classmethod
    def of(cls, promotion: PipelinePromotion) -> PromotionOut:
        release = promotion.source_release_id
        return cls(
            created_at=promotion.created_at,
            id=promotion.id,
            pipeline=IdRef(id=promotion.pipeline_id),
            source=PromotionSource(
                app=IdRef(id=promotion.source_app_id),
                release=IdRef(id=release) if release is not None else None,
            ),
            status=promotion.status,
            updated_at=promotion.updated_at,
        )


class IdIn(In):
    id: uuid.UUID


class AppIn(In):
    app: IdIn


class PromotionCreate(In):
    pipeline: IdIn
    source: AppIn
    targets: list[AppIn] = Field(min_length=1, max_length=MAX_TARGETS)
