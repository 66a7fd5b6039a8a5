from __future__ import annotations

import uuid
from typing import Literal

from tenku.db.models import PipelinePromotionTarget
from tenku.resources.common import IdRef, Out


class PromotionTargetOut(Out):
    app: IdRef
    error_message: str | None
    id: uuid.UUID
    pipeline_promotion: IdRef
    release: IdRef | None
    status: Literal["pending", "succeeded", "failed"]

    @classmethod
    def of(cls, target: PipelinePromotionTarget) -> PromotionTargetOut:
        release = target.release_id
        return cls(
            app=IdRef(id=target.app_id),
            error_message=target.error_message,
            id=target.id,
            pipeline_promotion=IdRef(id=target.promotion_id),
            release=IdRef(id=release) if release is not None else None,
            status=target.status,
        )
