"""Dynos as the API sees them: one-off runs, and restart and stop requests.

The API never touches a process. A one-off is a row in state `starting` that the
runtime picks up; restarts and stops are the `restart_requested` / `stop_requested`
flags on rows, which the runtime clears once it has acted on them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings, url_host
from tenku.db.models import Account, App, Dyno, Formation
from tenku.db.models.dyno import COMPLETE, STARTING
from tenku.ids import as_uuid
from tenku.logs import store as logs
from tenku.resources.dyno.schemas import DynoCreate
from tenku.resources.formation.service import get_formation
from tenku.resources.formation.sizes import DEFAULT_SIZE
from tenku.resources.release.service import current_release
from tenku.web.errors import Conflict, InvalidParams, NotFound
from tenku.web.lists import sorting

# `ps` groups dynos by name, so names are the natural order.
SORT = sorting(Dyno.id, Dyno.name, default="name")
# One-off names are `<type>.<N>` with N in this range, as on Heroku (`run.7364`).
FIRST_NUMBER = 1000
LAST_NUMBER = 9999
# Attempts at a free name when concurrent requests race for the same one.
NAME_ATTEMPTS = 5


def dynos_of(app_id: uuid.UUID) -> Select[Dyno]:
    """The app's dynos; one-offs that ended are gone, as on Heroku."""
    return select(Dyno).where(Dyno.app_id == app_id, Dyno.state != COMPLETE)


async def find_dyno(db: AsyncSession, app_id: uuid.UUID, ident: str) -> Dyno | None:
    uid = as_uuid(ident)
    stmt = dynos_of(app_id).where(Dyno.id == uid if uid is not None else Dyno.name == ident)
    return (await db.execute(stmt)).scalar_one_or_none()


def _not_found(ident: str) -> NotFound:
    return NotFound("dyno", f"Couldn't find that dyno ({ident}).")


async def get_dyno(db: AsyncSession, app: App, ident: str) -> Dyno:
    dyno = await find_dyno(db, app.id, ident)
    if dyno is None:
        raise _not_found(ident)
    return dyno


@dataclass
class Created:
    dyno: Dyno
    # Only in the create answer: the row keeps a digest of the secret, never the secret.
    attach_url: str | None


def attach_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def attach_url(settings: Settings, secret: str) -> str:
    return f"rendezvous://{url_host(settings.public_host)}:{settings.rendezvous_port}/{secret}"


async def _free_name(db: AsyncSession, app_id: uuid.UUID, kind: str) -> str:
    prefix = f"{kind}."
    used = set(
        (
            await db.execute(
                select(Dyno.name).where(
                    Dyno.app_id == app_id, Dyno.name.startswith(prefix, autoescape=True)
                )
            )
        ).scalars()
    )
    for _ in range(20):
        name = f"{prefix}{FIRST_NUMBER + secrets.randbelow(LAST_NUMBER - FIRST_NUMBER + 1)}"
        if name not in used:
            return name
    free = [
        name for n in range(FIRST_NUMBER, LAST_NUMBER + 1) if (name := f"{prefix}{n}") not in used
    ]
    if not free:
        raise InvalidParams(f"Too many {kind} dynos are running; stop some and try again.")
    return secrets.choice(free)


async def create_dyno(
    db: AsyncSession, settings: Settings, app: App, user: Account, params: DynoCreate
) -> Created:
    """A one-off dyno on the current release, for the runtime to start."""
    release = await current_release(db, app.id)
    if release is None or release.slug_id is None:
        raise InvalidParams("This app has no release to run; deploy it first.")
    for _ in range(NAME_ATTEMPTS):
        secret = secrets.token_urlsafe(32) if params.attach else None
        dyno = Dyno(
            app_id=app.id,
            name=await _free_name(db, app.id, params.type),
            type=params.type,
            size=params.size or DEFAULT_SIZE,
            command=params.command,
            release_id=release.id,
            release_version=release.version,
            state=STARTING,
            oneoff=True,
            attach=params.attach,
            attach_digest=attach_digest(secret) if secret is not None else None,
            tty=not params.force_no_tty,
            env=params.env,
            time_to_live=params.time_to_live,
        )
        try:
            # A concurrent request may take the same name first: only this insert is undone.
            async with db.begin_nested():
                db.add(dyno)
                await db.flush()
        except IntegrityError:
            continue
        break
    else:
        raise Conflict("Could not name the new dyno; please retry.")
    await logs.append(
        db,
        app.id,
        "heroku",
        "api",
        f"Starting process with command `{params.command}` by {user.email}",
    )
    return Created(dyno, attach_url(settings, secret) if secret is not None else None)


async def _flag(db: AsyncSession, *where: ColumnElement[bool], **flags: Any) -> None:
    # A request is not a change of state: updated_at (shown by `ps`) stays as it was.
    await db.execute(
        update(Dyno)
        .where(*where)
        .values(**flags, updated_at=Dyno.updated_at)
        .execution_options(synchronize_session=False)
    )


def _formation_dynos(app: App, kind: str | None = None) -> list[ColumnElement[bool]]:
    where = [Dyno.app_id == app.id, Dyno.oneoff.is_(False)]
    if kind is not None:
        where.append(Dyno.type == kind)
    return where


async def restart_all(db: AsyncSession, app: App) -> None:
    """Every formation dyno; one-off dynos are never restarted."""
    await _flag(db, *_formation_dynos(app), restart_requested=True)


async def _type_of_formation(db: AsyncSession, app: App, kind: str) -> str | None:
    return (
        await db.execute(
            select(Formation.type).where(Formation.app_id == app.id, Formation.type == kind)
        )
    ).scalar_one_or_none()


async def restart(db: AsyncSession, app: App, ident: str) -> None:
    """One dyno by id or name, else every dyno of a process type (`ps:restart web`).

    A one-off is stopped instead: it would not survive a restart on Heroku either.
    """
    dyno = await find_dyno(db, app.id, ident)
    if dyno is not None:
        flag = "stop_requested" if dyno.oneoff else "restart_requested"
        await _flag(db, Dyno.id == dyno.id, **{flag: True})
        return
    kind = await _type_of_formation(db, app, ident)
    if kind is None:
        raise _not_found(ident)
    await _flag(db, *_formation_dynos(app, kind), restart_requested=True)


async def stop(db: AsyncSession, app: App, ident: str) -> None:
    """One dyno by id or name, else every dyno of a process type (older `ps:stop worker`).

    The runtime brings a stopped formation dyno back, as Heroku does.
    """
    dyno = await find_dyno(db, app.id, ident)
    if dyno is not None:
        await _flag(db, Dyno.id == dyno.id, stop_requested=True)
        return
    kind = await _type_of_formation(db, app, ident)
    if kind is None:
        raise _not_found(ident)
    await _flag(db, *_formation_dynos(app, kind), stop_requested=True)


async def restart_formation(db: AsyncSession, app: App, ident: str) -> None:
    row = await get_formation(db, app, ident)
    await _flag(db, *_formation_dynos(app, row.type), restart_requested=True)


async def stop_formation(db: AsyncSession, app: App, ident: str) -> None:
    row = await get_formation(db, app, ident)
    await _flag(db, *_formation_dynos(app, row.type), stop_requested=True)
