"""What one pass of the runtime's dyno manager costs as the number of apps grows.

    .venv/bin/python bench/reconcile_bench.py [--quick] [--database-url URL]

The runtime reads the desired state of every app on each nudge and at least once a
second. For 10, 100 and 1,000 apps (`--quick`: 10 and 300), seeded in bulk with
bench/seed.py's rows (app, owner, default domain, release v1) in a throwaway database,
it times, in the same run and taking turns:

- a full pass, which builds and applies every app's state (what every pass did before
  passes became incremental, and what every FULL_EVERY-th pass still does);
- a quiet pass, where nothing changed;
- a pass after one app's config changed (a new release).

The scheduler is a stand-in that runs nothing, so the figures are the manager's own
reading and bookkeeping. It only prints: ms per pass, and each pass as a ratio to the
full pass of the same app count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, select

from seed import insert_apps
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.db.migrate import upgrade
from tenku.db.models import App
from tenku.resources.account.service import create_account, find_account
from tenku.resources.config_var.service import update_config
from tenku.router import Backend
from tenku.runtime.dynos import DynoManager
from tenku.runtime.rendezvous import Attachment
from tenku.runtime.scheduler import AppState
from tenku.storage.blobs import DirectoryBlobStore

EMAIL = "bench@example.com"
PREFIX = "bench"
FULL_COUNTS = (10, 100, 1000)
QUICK_COUNTS = (10, 300)


class NullScheduler:
    """Runs nothing; counts the states it is given."""

    def __init__(self, manager: DynoManager) -> None:
        self.known: set[uuid.UUID] = set()

    async def recover(self) -> None:
        pass

    async def apply(self, state: AppState) -> None:
        self.known.add(state.app_id)

    async def remove(self, app_id: uuid.UUID) -> None:
        self.known.discard(app_id)

    def apps(self) -> set[uuid.UUID]:
        return set(self.known)

    def backends(self, app_id: uuid.UUID) -> tuple[Backend, ...]:
        return ()

    def web_state(self, app_id: uuid.UUID) -> str:
        return "none"

    async def attachment(self, app_id: uuid.UUID, dyno_id: uuid.UUID) -> Attachment | None:
        return None

    async def close(self) -> None:
        pass


async def timed(step: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await step()
    return time.perf_counter() - start


async def measure(settings: Settings, db: Database, count: int, rounds: int) -> None:
    """Time passes over `count` apps (the apps of earlier, smaller counts included)."""
    async with db.session(write=True) as session:
        owner = await find_account(session, EMAIL)
        assert owner is not None
        have = (await session.execute(select(func.count()).select_from(App))).scalar_one()
        names = [f"{PREFIX}-{i:05d}" for i in range(have, count)]
        await insert_apps(session, owner, names, settings)
        await session.commit()
        target_id = (
            await session.execute(select(App.id).where(App.name == f"{PREFIX}-00000"))
        ).scalar_one()
    manager = DynoManager(
        settings, db, DirectoryBlobStore(settings.data_dir / "blobs"), NullScheduler, "bench"
    )
    await manager.reconcile(full=True)  # warm: release specs read, state seen

    full: list[float] = []
    quiet: list[float] = []
    one: list[float] = []
    for _ in range(rounds):
        full.append(await timed(lambda: manager.reconcile(full=True)))
        quiet.append(await timed(manager.reconcile))
        # The config write is not the pass: time only the pass that picks it up.
        async with db.session(write=True) as session:
            app = await session.get(App, target_id)
            assert app is not None
            await update_config(session, app, owner, {"BENCH": uuid.uuid4().hex})
            await session.commit()
        one.append(await timed(manager.reconcile))
    base = statistics.median(full)
    print(f"{count:>6} apps  full pass {base * 1000:8.1f} ms (1.00x)", end="")
    for label, values in (("quiet", quiet), ("one changed", one)):
        value = statistics.median(values)
        print(f"  {label} {value * 1000:7.1f} ms ({value / base:.2f}x)", end="")
    print()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tenku-reconcile-") as tmp:
        data = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{data / 'tenku.db'}"
        settings = Settings(data_dir=data, database_url=url, port=5000)
        upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            async with db.session(write=True) as session:
                await create_account(session, EMAIL, "bench-password-1")
                await session.commit()
            counts = QUICK_COUNTS if args.quick else FULL_COUNTS
            rounds = 5 if args.quick else 15
            print(f"dyno manager passes, median of {rounds} rounds ({url.split(':')[0]})")
            for count in counts:
                await measure(settings, db, count, rounds)
        finally:
            await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database (default: SQLite in a temp dir)"
    )
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
