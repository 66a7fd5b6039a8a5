"""Heroku Postgres transfers as the API records them: backups, restores, copies, schedules.

A request only records a transfer (pending) and commits; the runtime carries it out
(tenku.runtime.pg_transfers). Transfers belong to the app that is billed for the database
they write, or, for a backup, read: that app numbers them (b001, r002, c003...).

Rights (tenku.data_api.access and the app matrix):

* listing an app's transfers and reading one: `addons:view` on the app;
* a backup's download URL, and restoring a backup (both reveal its data): `addons:config`
  on the backup's app, as the database's credentials take;
* capturing a backup: the database's credentials (`config`), as reading it all would;
* restoring into a database, copying into one, scheduling its backups: `edit` on it (the
  database is overwritten, or backups are made and expired on its billing app's behalf);
* cancelling or deleting a transfer: `addons:edit` on its app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.addons.catalog import Catalog
from tenku.addons.postgres import PostgresProvider, names_for
from tenku.config import Settings
from tenku.data_api.access import Database, Need, find_database
from tenku.data_api.backups.retention import Retention
from tenku.data_api.backups.schedule import zone
from tenku.db.base import utcnow
from tenku.db.models import Addon, AddonAttachment, App, PgTransfer, PgTransferSchedule
from tenku.ids import as_uuid
from tenku.resources.addon.lookup import visible_addons
from tenku.resources.addon.render import plan_of
from tenku.resources.app.access import resolve_app
from tenku.resources.release.service import lock_app
from tenku.storage.signing import Signer
from tenku.storage.urls import PREFIX as BLOB_PREFIX
from tenku.storage.urls import blob_url, is_ours
from tenku.web.context import AppContext
from tenku.web.deps import Principal
from tenku.web.errors import InvalidParams, NotFound

BACKUP, RESTORE, COPY = "backup", "restore", "copy"
# Heroku's endpoint types (the CLI tells backups, restores and copies apart by them).
PG_DUMP, PG_RESTORE, GOF3R, HTCAT = "pg_dump", "pg_restore", "gof3r", "htcat"
POSTGRES = ("postgresql",)
BACKUP_KEYS = "backups/"
# A backup's download URL works this long.
URL_TTL = 600
MAX_URL = 2048
MAX_NAME = 255
# `[schema.]extension`, as `pg:backups:restore --extensions` takes them.
EXTENSION = re.compile(r"^(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_-]{0,62}$")
MAX_EXTENSIONS = 32
# `/client/v11/apps/{app}/transfers/{transfer}`: a backup's `to_url`.
TRANSFER_PATH = re.compile(r"^/client/v11/apps/([^/]+)/transfers/([^/]+)$")


def transfer_not_found() -> NotFound:
    return NotFound("transfer", "Couldn't find that transfer.")


def is_pending(transfer: PgTransfer) -> bool:
    return transfer.finished_at is None


def backup_key(app_id: uuid.UUID, transfer_id: uuid.UUID) -> str:
    return f"{BACKUP_KEYS}{app_id}/{transfer_id}.dump"


def name_of(transfer: PgTransfer) -> str:
    """What the CLI calls it: b001 (a backup), a001 (a scheduled one), r002, c003."""
    if transfer.from_type == PG_DUMP:
        if transfer.to_type == PG_RESTORE:
            prefix = "c"
        else:
            prefix = "a" if transfer.schedule_id is not None else "b"
    else:
        prefix = "r" if transfer.to_type == PG_RESTORE else "b"
    return f"{prefix}{transfer.num:03d}"


def shown_url(url: str) -> str:
    """A URL the user gave, without what may be a credential in it (userinfo, query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def transfer_url(settings: Settings, app_id: uuid.UUID, transfer_id: uuid.UUID) -> str:
    """A backup's `to_url`: where the API describes it. It grants nothing by itself; the
    CLI hands it back to restore the backup, with the caller's own rights."""
    return f"{settings.public_api_url}/client/v11/apps/{app_id}/transfers/{transfer_id}"


# --- reading ------------------------------------------------------------------------------


def _live(app_id: uuid.UUID) -> Select[PgTransfer]:
    return select(PgTransfer).where(PgTransfer.app_id == app_id, PgTransfer.deleted_at.is_(None))


async def transfers_of(db: AsyncSession, app: App) -> list[PgTransfer]:
    return list((await db.execute(_live(app.id).order_by(PgTransfer.num))).scalars())


async def find_transfer(db: AsyncSession, app: App, ident: str) -> PgTransfer:
    """By uuid, number (`7`) or the CLI's name (`b007`)."""
    stmt = _live(app.id)
    uid = as_uuid(ident)
    if uid is not None:
        stmt = stmt.where(PgTransfer.id == uid)
    else:
        m = re.fullmatch(r"[abcr]?0*(\d{1,9})", ident)
        if m is None:
            raise transfer_not_found()
        stmt = stmt.where(PgTransfer.num == int(m.group(1)))
    found = (await db.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise transfer_not_found()
    return found


async def retention_of(
    db: AsyncSession, catalog: Catalog, addon_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, Retention]:
    """What each database's plan keeps."""
    ids = {i for i in addon_ids if i is not None}
    if not ids:
        return {}
    addons = (await db.execute(select(Addon).where(Addon.id.in_(ids)))).scalars()
    return {a.id: Retention.of(plan_of(catalog, a).settings) for a in addons}


# --- recording new transfers --------------------------------------------------------------


async def _number(db: AsyncSession, app: App) -> int:
    # The app's row lock serialises numbering; deleted transfers keep their numbers.
    await lock_app(db, app)
    last = (
        await db.execute(select(func.max(PgTransfer.num)).where(PgTransfer.app_id == app.id))
    ).scalar_one()
    return int(last or 0) + 1


async def attachment_name(db: AsyncSession, addon: Addon) -> str:
    """How the add-on's billing app names it (DATABASE), else its own name."""
    name = (
        await db.execute(
            select(AddonAttachment.name)
            .where(AddonAttachment.addon_id == addon.id, AddonAttachment.app_id == addon.app_id)
            .order_by(AddonAttachment.created_at, AddonAttachment.name)
            .limit(1)
        )
    ).scalar_one_or_none()
    return name or addon.name


async def record(db: AsyncSession, app: App, **fields: object) -> PgTransfer:
    fields.setdefault("id", uuid.uuid4())
    transfer = PgTransfer(app_id=app.id, num=await _number(db, app), **fields)
    db.add(transfer)
    await db.flush()
    return transfer


async def capture(
    db: AsyncSession, addon: Addon, app: App, schedule: PgTransferSchedule | None = None
) -> PgTransfer:
    """A backup of the add-on's database, recorded on its billing app `app`."""
    transfer_id = uuid.uuid4()
    return await record(
        db,
        app,
        id=transfer_id,
        kind=BACKUP,
        from_type=PG_DUMP,
        to_type=GOF3R,
        from_name=await attachment_name(db, addon),
        to_name="BACKUP",
        from_addon_id=addon.id,
        blob_key=backup_key(app.id, transfer_id),
        schedule_id=schedule.id if schedule is not None else None,
        options={},
    )


def _extensions(raw: Sequence[str] | None) -> list[str]:
    names = sorted({e.strip().lower() for e in raw or () if e.strip()})
    if len(names) > MAX_EXTENSIONS:
        raise InvalidParams(f"At most {MAX_EXTENSIONS} extensions may be installed.")
    for name in names:
        if not EXTENSION.match(name):
            raise InvalidParams(f"{name!r} is not an extension name ([schema.]name).")
    return names


async def _backup_at(
    db: AsyncSession, ctx: AppContext, caller: Principal, url: str
) -> tuple[PgTransfer, App]:
    """The backup one of this installation's URLs names, if the caller may read it."""
    path = urlsplit(url).path
    if path.startswith(BLOB_PREFIX):
        # A download URL: its signature is the credential, as for any blob URL.
        key = ctx.signer.verify(path[len(BLOB_PREFIX) :], "GET")
        transfer = None
        if key is not None and key.startswith(BACKUP_KEYS):
            transfer = (
                await db.execute(
                    select(PgTransfer).where(
                        PgTransfer.blob_key == key, PgTransfer.deleted_at.is_(None)
                    )
                )
            ).scalar_one_or_none()
        if transfer is None:
            raise InvalidParams("The backup URL is invalid or has expired.")
        app = await db.get(App, transfer.app_id)
        assert app is not None
        return transfer, app
    m = TRANSFER_PATH.match(path)
    if m is None:
        raise InvalidParams(f"{shown_url(url)} names no backup.")
    app, _ = await resolve_app(db, caller, m.group(1), "addons:config")
    return await find_transfer(db, app, m.group(2)), app


async def restore(
    db: AsyncSession,
    ctx: AppContext,
    caller: Principal,
    target: Database,
    backup_url: str,
    extensions: Sequence[str] | None,
) -> PgTransfer:
    """A restore into `target` of a backup (by one of its URLs) or of a dump at a URL."""
    target.require_ready()
    url = backup_url.strip()
    if not url or len(url) > MAX_URL or urlsplit(url).scheme not in ("http", "https"):
        raise InvalidParams("backup_url must be an http or https URL.")
    fields: dict[str, object] = {}
    if is_ours(ctx.settings, url):
        backup, app = await _backup_at(db, ctx, caller, url)
        if backup.kind != BACKUP or not backup.succeeded or backup.blob_key is None:
            raise InvalidParams(f"Backup {name_of(backup)} did not complete successfully.")
        shown = name_of(backup) if app.id == target.app.id else f"{app.name}::{name_of(backup)}"
        fields.update(from_type=GOF3R, from_name=shown, source_key=backup.blob_key)
        fields.update(source_bytes=backup.processed_bytes)
    else:
        # Fetched by the runtime under the egress policy, like a build's source URL.
        fields.update(from_type=HTCAT, from_name=shown_url(url), source_url=url)
    return await record(
        db,
        target.app,
        kind=RESTORE,
        to_type=PG_RESTORE,
        to_name=await attachment_name(db, target.addon),
        to_addon_id=target.addon.id,
        options={"extensions": _extensions(extensions)} if extensions else {},
        **fields,
    )


def _database_of(url: str | None, provider: PostgresProvider) -> str | None:
    """The database a connection URL names, if it is on `provider`'s server."""
    if not url:
        return None
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return None
    host = str(params.get("host") or "").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    if (host, port) != (provider.host, provider.port):
        return None
    name = params.get("dbname")
    return str(name) if name else None


async def _ours_named(
    db: AsyncSession, ctx: AppContext, caller: Principal, url: str | None, need: Need
) -> Database | None:
    """The caller's database (with `need` on it) that a copy's URL names."""
    spec_ids = [
        slug for slug, spec in ctx.addons.catalog.services.items() if spec.provider == "postgresql"
    ]
    candidates = (
        await db.execute(
            visible_addons(caller.account.id).where(
                Addon.service.in_(spec_ids), Addon.state == "provisioned"
            )
        )
    ).scalars()
    for addon in candidates:
        spec = ctx.addons.catalog.services[addon.service]
        provider = ctx.addons.provider(spec)
        if not isinstance(provider, PostgresProvider):
            continue
        if _database_of(url, provider) == names_for(addon.id)[0]:
            return await find_database(db, ctx, caller, str(addon.id), POSTGRES, need)
    return None


def _not_ours(side: str, url: str | None, may: str) -> InvalidParams:
    what = shown_url(url) if url and "://" in url else "it"
    return InvalidParams(
        f"The copy's {side} must be one of this platform's Heroku Postgres databases that "
        f"you may {may}; {what} is not."
    )


async def copy(
    db: AsyncSession,
    ctx: AppContext,
    caller: Principal,
    named: Database,
    from_name: str | None,
    from_url: str | None,
    to_name: str | None,
    to_url: str | None,
) -> PgTransfer:
    """`pg:copy`: the source database dumped straight into the target, both Tenku's. The
    path names either; the URLs say which is which."""
    if from_url and from_url == to_url:
        raise InvalidParams("Cannot copy a database onto itself.")
    target = await _ours_named(db, ctx, caller, to_url, "edit")
    if target is None:
        raise _not_ours("target", to_url, "write")
    source = await _ours_named(db, ctx, caller, from_url, "config")
    if source is None:
        raise _not_ours("source", from_url, "read")
    if named.addon.id not in (source.addon.id, target.addon.id):
        raise InvalidParams(f"{named.addon.name} is neither the copy's source nor its target.")
    if source.addon.id == target.addon.id:
        raise InvalidParams("Cannot copy a database onto itself.")
    return await record(
        db,
        target.app,
        kind=COPY,
        from_type=PG_DUMP,
        to_type=PG_RESTORE,
        from_name=(from_name or await attachment_name(db, source.addon))[:MAX_NAME],
        to_name=(to_name or await attachment_name(db, target.addon))[:MAX_NAME],
        from_addon_id=source.addon.id,
        to_addon_id=target.addon.id,
        options={},
    )


# --- acting on recorded ones --------------------------------------------------------------


def cancel(transfer: PgTransfer, now: datetime | None = None) -> None:
    """Asks the runtime to stop it; one that has not started yet ends at once."""
    if not is_pending(transfer):
        raise InvalidParams(f"{name_of(transfer)} has already finished.")
    now = now or utcnow()
    transfer.canceled_at = transfer.canceled_at or now
    if transfer.runner is None:
        transfer.finished_at = now
        transfer.succeeded = False
        transfer.logs = [*transfer.logs, log_line("Canceled before it started.", now)]


def remove(transfer: PgTransfer, now: datetime | None = None) -> str | None:
    """Marks it deleted; the dump key to remove once that commits."""
    if is_pending(transfer):
        raise InvalidParams(
            f"{name_of(transfer)} is still running: cancel it first (heroku pg:backups:cancel)."
        )
    transfer.deleted_at = now or utcnow()
    return transfer.blob_key


def public_url(
    settings: Settings,
    signer: Signer,
    transfer: PgTransfer,
    request: Request | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    if transfer.kind != BACKUP or not transfer.succeeded or transfer.blob_key is None:
        raise InvalidParams(f"{name_of(transfer)} is not a completed backup.")
    expires = (now or utcnow()) + timedelta(seconds=URL_TTL)
    url = blob_url(settings, signer, transfer.blob_key, "GET", URL_TTL, request)
    return url, expires


def heroku_time(value: datetime) -> str:
    """Timestamps as Heroku's transfer service writes them."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def log_line(message: str, at: datetime | None = None, level: str = "info") -> dict[str, str]:
    return {"created_at": heroku_time(at or utcnow()), "level": level, "message": message}


# --- schedules ----------------------------------------------------------------------------


async def schedules_of(db: AsyncSession, addon: Addon) -> list[PgTransferSchedule]:
    stmt = select(PgTransferSchedule).where(PgTransferSchedule.addon_id == addon.id)
    return list((await db.execute(stmt)).scalars())


def parse_hour(raw: object) -> int:
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, str) and re.fullmatch(r"\d{1,2}", raw.strip()):
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 0 <= raw <= 23:
        raise InvalidParams("hour must be a whole hour from 0 to 23.")
    return raw


async def set_schedule(
    db: AsyncSession, database: Database, hour: object, timezone: str | None, name: str | None
) -> PgTransferSchedule:
    """The database's daily backup, at `hour` in `timezone` (one per database: a new one
    replaces it)."""
    database.require_ready()
    zone_name = (timezone or "UTC").strip()
    if zone(zone_name) is None:
        raise InvalidParams(f"{zone_name!r} is not a time zone (use an IANA name).")
    at = parse_hour(hour)
    shown = (name or f"{await attachment_name(db, database.addon)}_URL").strip()[:MAX_NAME]
    found = await schedules_of(db, database.addon)
    schedule = found[0] if found else None
    if schedule is None:
        schedule = PgTransferSchedule(addon_id=database.addon.id)
        db.add(schedule)
    elif (schedule.hour, schedule.timezone) != (at, zone_name):
        # Due times of the old hour say nothing about the new one.
        schedule.last_due_at = None
        schedule.created_at = utcnow()
    schedule.name, schedule.hour, schedule.timezone = shown, at, zone_name
    await db.flush()
    return schedule


async def find_schedule(db: AsyncSession, addon: Addon, ident: str) -> PgTransferSchedule:
    for schedule in await schedules_of(db, addon):
        if str(schedule.id) == ident or schedule.name.lower() == ident.lower():
            return schedule
    raise NotFound("schedule", "Couldn't find that schedule.")
