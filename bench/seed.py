"""Bulk-insert apps for the API benchmark, straight into Tenku's database.

Creating an app through POST /apps (or the app service) costs a few milliseconds,
so the 11,000 apps the benchmark needs would take most of a quick run. This writes
the rows the app service writes for a new app (the app, its owner collaborator,
its default domain and release v1) with one multi-row INSERT per table and batch,
all in one transaction, while no server is running. On PostgreSQL it then runs
ANALYZE, as autovacuum eventually would.

Usage (the database is chosen the way `tenku` chooses it: TENKU_DATABASE_URL,
else the SQLite file in --data-dir):

    python bench/seed.py --data-dir DIR --apps EMAIL PREFIX COUNT [--apps ...]

Apps are named PREFIX-00000, PREFIX-00001, ... and owned by the account EMAIL,
which must exist (`tenku users create`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings, load_settings
from tenku.db.engine import Database
from tenku.db.models import Account, App, Collaborator, Domain, Release
from tenku.resources.account.service import find_account
from tenku.resources.app.service import default_hostname
from tenku.resources.region.catalog import DEFAULT_REGION
from tenku.resources.stack.catalog import DEFAULT_STACK

# Keeps each multi-row INSERT well under SQLite's bound-parameter limit.
BATCH = 500


@dataclass(frozen=True)
class Plan:
    email: str
    prefix: str
    count: int


def app_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


async def insert_apps(
    session: AsyncSession, owner: Account, names: list[str], settings: Settings
) -> None:
    now = datetime.now(UTC)
    apps: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "name": name,
            "owner_id": owner.id,
            "region": DEFAULT_REGION,
            "stack": DEFAULT_STACK,
            "build_stack": DEFAULT_STACK,
            "maintenance": False,
            "locked": False,
            "acm": False,
            "release_seq": 1,
            "released_at": now,
        }
        for name in names
    ]
    await session.execute(insert(App), apps)
    await session.execute(
        insert(Collaborator),
        [
            {"app_id": a["id"], "account_id": owner.id, "role": "owner", "permissions": []}
            for a in apps
        ],
    )
    await session.execute(
        insert(Domain),
        [
            {
                "app_id": a["id"],
                "hostname": default_hostname(a["name"], settings),
                "kind": "heroku",
            }
            for a in apps
        ],
    )
    await session.execute(
        insert(Release),
        [
            {
                "app_id": a["id"],
                "version": 1,
                "description": "Initial release",
                "status": "succeeded",
                "user_id": owner.id,
                "user_email": owner.email,
                "config": {},
                "addon_plan_names": [],
            }
            for a in apps
        ],
    )


async def seed(settings: Settings, plans: list[Plan]) -> None:
    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as session, session.begin():
            for plan in plans:
                owner = await find_account(session, plan.email)
                if owner is None:
                    raise SystemExit(f"seed: no such account: {plan.email}")
                names = app_names(plan.prefix, plan.count)
                for start in range(0, len(names), BATCH):
                    await insert_apps(session, owner, names[start : start + BATCH], settings)
        if not db.is_sqlite:
            # Autovacuum would have analyzed these tables long before an account reached
            # this size; right after a bulk insert there are no statistics, and the plans
            # PostgreSQL then makes for the list queries are not the ones it would use.
            async with db.session(write=True) as session, session.begin():
                await session.execute(text("ANALYZE"))
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--apps",
        nargs=3,
        action="append",
        metavar=("EMAIL", "PREFIX", "COUNT"),
        required=True,
        help="give COUNT new apps named PREFIX-NNNNN to the account EMAIL",
    )
    args = parser.parse_args(argv)
    plans = [Plan(email, prefix, int(count)) for email, prefix, count in args.apps]
    asyncio.run(seed(load_settings(data_dir=args.data_dir), plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
