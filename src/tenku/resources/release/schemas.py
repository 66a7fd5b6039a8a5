from __future__ import annotations

import uuid

from pydantic import model_validator

from tenku.db.models import App, Release
from tenku.resources.common import AccountRef, IdRef, In, Out, Ref
from tenku.web.render import Timestamp


class ReleaseOut(Out):
    # addon_plan_names, eligible_for_rollback and output_stream_url are read by the CLI
    # though the reference lacks them.
    addon_plan_names: list[str] = []
    app: Ref
    created_at: Timestamp
    description: str
    id: uuid.UUID
    updated_at: Timestamp
    slug: IdRef | None
    status: str
    user: AccountRef
    version: int
    current: bool
    eligible_for_rollback: bool = False
    output_stream_url: str | None = None

    @classmethod
    def of(cls, release: Release, app: App, current_version: int | None) -> ReleaseOut:
        return cls(
            addon_plan_names=list(release.addon_plan_names),
            app=Ref.of(app),
            created_at=release.created_at,
            description=release.description,
            id=release.id,
            updated_at=release.updated_at,
            slug=IdRef(id=release.slug_id) if release.slug_id else None,
            status=release.status,
            user=AccountRef(
                email=release.user_email,
                id=release.user_id or uuid.UUID(int=0),
            ),
            version=release.version,
            current=release.version == current_version,
            eligible_for_rollback=release.status == "succeeded",
            output_stream_url=release.output_stream_url,
        )


class ReleaseCreate(In):
    slug: str | None = None
    release: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def one_of(self) -> ReleaseCreate:
        if self.slug is None and self.release is None:
            raise ValueError("either slug or release is required")
        if self.slug is not None and self.release is not None:
            # A bad slug must not be ignored in favour of a rollback (nor the other way).
            raise ValueError("give either slug (a deploy) or release (a rollback), not both")
        return self
