from __future__ import annotations

import re
import uuid

from pydantic import Field, field_validator

from tenku.db.models import App, Dyno
from tenku.resources.common import In, Out, Ref, ReleaseRef
from tenku.resources.formation.schemas import check_size
from tenku.resources.formation.sizes import canonical_size
from tenku.web.render import Timestamp

# The reference's pattern for a process type, in ASCII as JSON Schema reads it.
TYPE_RE = re.compile(r"^[-\w]{1,128}$", re.ASCII)
# Room left in a dyno name (64 characters) for "." and a four-digit number.
MAX_TYPE = 59
# The column is a 32-bit integer.
MAX_TTL = 2**31 - 1
MAX_COMMAND = 65536


class DynoOut(Out):
    app: Ref
    attach_url: str | None
    command: str
    created_at: Timestamp
    id: uuid.UUID
    name: str
    release: ReleaseRef | None
    size: str
    state: str
    type: str
    updated_at: Timestamp

    @classmethod
    def of(
        cls, row: Dyno, app: App, live: frozenset[str], attach_url: str | None = None
    ) -> DynoOut:
        release = None
        if row.release_id is not None and row.release_version is not None:
            release = ReleaseRef(id=row.release_id, version=row.release_version)
        return cls(
            app=Ref.of(app),
            attach_url=attach_url,
            command=row.command,
            created_at=row.created_at,
            id=row.id,
            name=row.name,
            release=release,
            size=canonical_size(row.size) or row.size,
            state=row.shown_state(live),
            type=row.type,
            updated_at=row.updated_at,
        )


def _env_value(value: object) -> str | None:
    """A value as the dyno's environment holds it; clients send COLUMNS and LINES as numbers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    raise ValueError("values must be strings, numbers or booleans")


def check_env(value: object) -> dict[str, str]:
    """String values kept, numbers and booleans spelled out, nulls left out."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    env: dict[str, str] = {}
    for key, raw in value.items():
        if not key or "=" in key or "\x00" in key:
            raise ValueError(f"{key!r} is not a valid variable name")
        text = _env_value(raw)
        if text is None:
            continue
        if "\x00" in text:
            raise ValueError(f"the value of {key} holds a NUL character")
        env[key] = text
    return env


class DynoCreate(In):
    command: str = Field(max_length=MAX_COMMAND)
    attach: bool = False
    env: dict[str, str] = {}
    force_no_tty: bool | None = None
    size: str | None = None
    time_to_live: int | None = None
    type: str = "run"

    _env = field_validator("env", mode="before")(check_env)
    _size = field_validator("size", mode="before")(check_size)

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if "\x00" in value:
            raise ValueError("must not hold a NUL character")
        return value

    @field_validator("attach", mode="before")
    @classmethod
    def _attach(cls, value: object) -> object:
        return False if value is None else value

    @field_validator("time_to_live", mode="before")
    @classmethod
    def _ttl_type(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a whole number of seconds")
        return value

    @field_validator("time_to_live")
    @classmethod
    def _ttl(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value <= MAX_TTL:
            raise ValueError(f"must be between 1 and {MAX_TTL} seconds")
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: object) -> object:
        if value is None:
            return "run"
        if not isinstance(value, str) or not TYPE_RE.match(value):
            raise ValueError(r"must match ^[-\w]{1,128}$")
        if len(value) > MAX_TYPE:
            raise ValueError(f"must be at most {MAX_TYPE} characters")
        return value
