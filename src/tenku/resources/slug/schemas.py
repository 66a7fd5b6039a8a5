from __future__ import annotations

import re
import uuid

from pydantic import Field, field_validator

from tenku.db.models import Slug
from tenku.resources.common import In, Out, Ref
from tenku.resources.stack.catalog import stack_named
from tenku.storage.checksums import sha256_hex
from tenku.web.render import Timestamp

PROCESS_TYPE_RE = re.compile(r"^[-\w]{1,128}$")


class BlobOut(Out):
    method: str
    url: str


class SlugOut(Out):
    blob: BlobOut
    buildpack_provided_description: str | None
    checksum: str | None
    commit: str | None
    commit_description: str | None
    created_at: Timestamp
    id: uuid.UUID
    process_types: dict[str, str]
    size: int | None
    stack: Ref
    updated_at: Timestamp

    @classmethod
    def of(cls, slug: Slug, method: str, url: str) -> SlugOut:
        stack = stack_named(slug.stack)
        return cls(
            blob=BlobOut(method=method, url=url),
            buildpack_provided_description=slug.buildpack_provided_description,
            checksum=slug.checksum,
            commit=slug.commit,
            commit_description=slug.commit_description,
            created_at=slug.created_at,
            id=slug.id,
            process_types=dict(slug.process_types),
            size=slug.size,
            stack=Ref.of(stack),
            updated_at=slug.updated_at,
        )


class SlugCreate(In):
    process_types: dict[str, str]
    buildpack_provided_description: str | None = Field(default=None, max_length=4096)
    checksum: str | None = None
    commit: str | None = Field(default=None, max_length=255)
    commit_description: str | None = Field(default=None, max_length=65536)
    stack: str | None = None

    @field_validator("process_types")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for name, command in value.items():
            if not PROCESS_TYPE_RE.match(name):
                raise ValueError(
                    f"process type {name!r} must be 1 to 128 letters, digits, '_' or '-'"
                )
            # No process could be started with it: exec refuses a NUL in an argument.
            if "\0" in command:
                raise ValueError(f"the command of process type {name!r} holds a NUL byte")
        return value

    @field_validator("checksum")
    @classmethod
    def _checksum(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digest = sha256_hex(value.strip())
        if digest is None:
            raise ValueError("checksum must look like SHA256:<64 hexadecimal digits>")
        return f"SHA256:{digest}"


def expected_digest(checksum: str | None) -> str | None:
    """The hex SHA-256 a slug's tarball must have, when its checksum names one."""
    if checksum is None:
        return None
    return sha256_hex(checksum)
