"""What the runtime asks of whatever runs dynos: the scheduler interface.

The runtime reads each app's whole desired state from the database (current release,
its config, the formation, features, pending restart and stop requests, one-off dynos)
and hands it to a `Scheduler`. A scheduler owns the processes (local ones by default; a
cluster engine could fill the same interface) and reports what happens to them through a
`Reporter`, which the runtime turns into dyno rows and log lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tenku.router import Backend

if TYPE_CHECKING:
    from tenku.runtime.rendezvous import Attachment


@dataclass(frozen=True)
class ReleaseSpec:
    id: uuid.UUID
    version: int
    created_at: datetime
    description: str
    # Local path of the slug tarball, or None for a release without a slug.
    slug_path: Path | None
    slug_id: uuid.UUID | None
    commit: str | None
    process_types: Mapping[str, str]
    config: Mapping[str, str]


@dataclass(frozen=True)
class ProcessSpec:
    type: str
    quantity: int
    size: str
    command: str


@dataclass(frozen=True)
class OneOffSpec:
    id: uuid.UUID
    name: str
    type: str
    size: str
    command: str
    env: Mapping[str, str]
    attach: bool
    tty: bool
    time_to_live: int | None
    stop: bool


@dataclass(frozen=True)
class AppState:
    """Everything a scheduler needs to run one app; applied as a whole, repeatedly."""

    app_id: uuid.UUID
    app_name: str
    release: ReleaseSpec | None
    formation: tuple[ProcessSpec, ...]
    oneoffs: tuple[OneOffSpec, ...] = ()
    preboot: bool = False
    # The `runtime-dyno-metadata` app feature: HEROKU_APP_ID and friends in the env.
    dyno_metadata: bool = False
    # The `log-runtime-metrics` app feature: each dyno's load and memory in the log.
    runtime_metrics: bool = False
    # Dyno names whose restart (or stop, which a formation brings back) was requested.
    restarts: frozenset[str] = field(default_factory=frozenset)
    # The row id of each formation dyno (`web.1`...), which the scheduler reports under.
    dyno_ids: Mapping[str, uuid.UUID] = field(default_factory=dict)
    default_domain: str | None = None


class Reporter(Protocol):
    """How a scheduler tells the platform what its dynos do."""

    async def dyno_state(
        self,
        app_id: uuid.UUID,
        dyno_id: uuid.UUID,
        name: str,
        state: str,
        *,
        port: int | None = None,
        pgid: int | None = None,
    ) -> None: ...

    async def dyno_gone(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> None: ...

    def log(self, app_id: uuid.UUID, source: str, dyno: str, message: str) -> None: ...

    def routing_changed(self, app_id: uuid.UUID) -> None:
        """The app's routable dynos or `web_state` changed (the router's other processes
        are told)."""


class Scheduler(Protocol):
    async def recover(self) -> None:
        """Before the first `apply`: end whatever dynos an earlier runtime left running."""

    async def apply(self, state: AppState) -> None:
        """Make the app's dynos match `state` (idempotent; called on every change)."""

    async def remove(self, app_id: uuid.UUID) -> None:
        """Stop every dyno of an app that no longer exists."""

    def apps(self) -> set[uuid.UUID]: ...

    def backends(self, app_id: uuid.UUID) -> tuple[Backend, ...]:
        """The app's routable web dynos, switched atomically (preboot)."""

    def web_state(self, app_id: uuid.UUID) -> str:
        """`up`, `starting`, `crashed` or `none`: why the router can or cannot route."""

    async def attachment(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> Attachment | None:
        """What an attached one-off runs once its client arrives (None: not startable)."""

    async def close(self) -> None:
        """Stop every dyno (the runtime is shutting down)."""
