"""The Data API's Redis bodies, with the field names Heroku's CLI reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tenku.data_api.schemas import Aliased, InfoItem
from tenku.web.render import Timestamp


class RedisOut(BaseModel):
    """`GET /redis/v0/databases/{name}`: `redis:info`, `redis:cli`, `redis:credentials`."""

    name: str
    plan: str
    created_at: Timestamp
    version: str
    # With its password only for callers who may see the add-on's config vars.
    resource_url: str
    # `redis:cli` speaks TLS to the URL itself when this is true, plain TCP to a hobby
    # plan's URL otherwise (and TLS one port up to any other plan's: Heroku's stunnel).
    prefer_native_tls: bool
    info: list[InfoItem]


class WaitOut(Aliased):
    waiting: bool = Field(alias="waiting?")
    message: str


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxmemory_policy: str | None = None
    timeout: int | None = Field(default=None, ge=0)
    notify_keyspace_events: str | None = None


class Setting(BaseModel):
    value: str | int
    values: dict[str, str] | None = None


class ConfigOut(BaseModel):
    maxmemory_policy: Setting
    timeout: Setting
    notify_keyspace_events: Setting
