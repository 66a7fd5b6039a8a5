"""Shared by the backup tests: apps with real databases, and the runtime's transfer runner
on the in-process API's database and blob store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from tenku.config import Settings
from tenku.db.models import PgTransfer
from tenku.runtime.pg_transfers import TransferRunner
from tests.addons.support import config_of, create_addon
from tests.conftest import ApiClient, User


@dataclass
class Db:
    """A Heroku Postgres add-on of an app: its id, name, attachment and URL."""

    app: str
    id: str
    name: str
    attachment: str
    url: str

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, args or None)
            return cur.fetchall() if cur.description else []


async def app_with_databases(
    owner: User, count: int = 1, plan: str = "heroku-postgresql"
) -> list[Db]:
    app = (await owner.create_app(f"b{uuid.uuid4().hex[:10]}"))["name"]
    found = []
    for _ in range(count):
        addon = await create_addon(owner, app, plan)
        r = await owner.get(f"/addons/{addon['id']}/addon-attachments")
        names = sorted((a["name"] for a in r.json()), key=len)
        config = await config_of(owner, app)
        found.append(Db(app, addon["id"], addon["name"], names[0], config[f"{names[0]}_URL"]))
    return found


def runner_for(api: ApiClient, settings: Settings, **changes: Any) -> TransferRunner:
    ctx = api.app.state.ctx
    return TransferRunner(
        replace(settings, **changes), api.database, ctx.blobs, ctx.addons, "test-runtime"
    )


async def settle(runner: TransferRunner) -> None:
    """Run every waiting transfer to its end."""
    while True:
        await runner.claim()
        if not runner._tasks:
            return
        await runner.wait_idle()


async def transfer(user: User, app: str, ident: object, verbose: bool = True) -> dict[str, Any]:
    suffix = "?verbose=true" if verbose else ""
    r = await user.get(f"/client/v11/apps/{app}/transfers/{ident}{suffix}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def capture(user: User, db: Db) -> dict[str, Any]:
    r = await user.post(f"/client/v11/databases/{db.id}/backups")
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def dump_key(api: ApiClient, data: dict[str, Any]) -> str:
    """Where a backup's dump is (or would be) in the blob store."""
    async with api.database.session(write=False) as db:
        row = await db.get(PgTransfer, uuid.UUID(data["uuid"]))
    assert row is not None
    assert row.blob_key is not None
    return row.blob_key
