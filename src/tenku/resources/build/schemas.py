from __future__ import annotations

import uuid

from pydantic import Field, field_validator, model_validator

from tenku.db.models import Build
from tenku.resources.common import AccountRef, IdRef, In, Out
from tenku.web.render import Timestamp


class BuildpackOut(Out):
    url: str
    name: str | None = None


class SourceBlobOut(Out):
    checksum: str | None = None
    url: str
    version: str | None = None
    version_description: str | None = None


class StackRef(Out):
    id: uuid.UUID | None = None
    name: str


class BuildOut(Out):
    app: IdRef
    buildpacks: list[BuildpackOut] | None
    created_at: Timestamp
    id: uuid.UUID
    output_stream_url: str
    release: IdRef | None
    slug: IdRef | None
    source_blob: SourceBlobOut
    stack: str | None = None
    status: str
    updated_at: Timestamp
    user: AccountRef

    @classmethod
    def of(cls, build: Build, stream_url: str, live: frozenset[str]) -> BuildOut:
        return cls(
            app=IdRef(id=build.app_id),
            buildpacks=(
                [BuildpackOut(url=b["url"], name=b.get("name")) for b in build.buildpacks]
                if build.buildpacks
                else None
            ),
            created_at=build.created_at,
            id=build.id,
            output_stream_url=stream_url,
            release=IdRef(id=build.release_id) if build.release_id else None,
            slug=IdRef(id=build.slug_id) if build.slug_id else None,
            source_blob=SourceBlobOut(
                checksum=build.source_checksum,
                url=build.source_url,
                version=build.source_version,
                version_description=build.source_version_description,
            ),
            stack=build.stack,
            status=build.shown_status(live),
            updated_at=build.updated_at,
            user=AccountRef(email=build.user_email, id=build.user_id or uuid.UUID(int=0)),
        )


class SourceBlobIn(In):
    url: str = Field(min_length=1, max_length=4096)
    checksum: str | None = Field(default=None, max_length=128)
    version: str | None = Field(default=None, max_length=1024)
    version_description: str | None = Field(default=None, max_length=65536)


class BuildpackIn(In):
    url: str | None = Field(default=None, max_length=4096)
    name: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def one_of(self) -> BuildpackIn:
        if not (self.url or self.name):
            raise ValueError("each buildpack needs a url or a name")
        return self

    @property
    def spec(self) -> str:
        return self.url or self.name or ""


class BuildCreate(In):
    source_blob: SourceBlobIn
    buildpacks: list[BuildpackIn] | None = None

    @field_validator("buildpacks")
    @classmethod
    def not_too_many(cls, value: list[BuildpackIn] | None) -> list[BuildpackIn] | None:
        if value is not None and len(value) > 16:
            raise ValueError("at most 16 buildpacks")
        return value
