"""App setups, performed: app.json read from the tarball, then the app set up as it says.

`POST /app-setups` commits the app and a `pending` setup at step `fetch` (the in-flight
mark of docs/architecture.md) and nudges; the one runtime of the installation claims it
(`runner`) and performs the steps in order, each recorded as done in the transaction that
does it, or, for work outside the database, right after it:

1. fetch: the tarball (egress rules and checksum as for builds), app.json read from its
   root and checked; the tarball is kept in the blob store for the build;
2. config: the config vars (overrides, values, generated secrets) and the buildpacks;
3. addons: each add-on recorded with its provider call in flight, the provider called,
   the answer stored (a partner that answers later is waited for);
4. build: a build of the kept tarball, waited for;
5. formation: the quantities and sizes app.json asks for;
6. postdeploy: the script in a one-off dyno, its output and exit status read back from
   the app's log stream once it has exited.

A runtime that comes back after a restart (or a crash) takes the setups its predecessor
left pending and resumes each at its recorded step: a fetch or a database step is done
again; a provider call that was cut off is undone and made again; a build the restart
killed is started again; a postdeploy script the restart killed cannot be run twice
safely, so that setup fails saying so. A setup that fails (a manifest error, a provider
that refuses, a failed build, a postdeploy script that exits non-zero) is `failed` at
once with its message; then, as on Heroku, its app is deleted, every add-on of the app
deprovisioned first, so that nothing half-made is left (a provider that refuses is asked
again later; the setup's step stays `cleanup` until it lets go).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import shutil
import tarfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.catalog import Catalog, CatalogError
from tenku.addons.provider import ProviderError
from tenku.addons.registry import AddonRegistry
from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import Account, Addon, App, AppSetup, Build, Dyno, LogLine
from tenku.loops import WAKE_GAP, Passes, wait_event
from tenku.resources.addon import service as addons
from tenku.resources.addon.schemas import AddonCreate, AttachmentIn
from tenku.resources.app_setup import manifest as app_json
from tenku.resources.app_setup.service import (
    ADDONS,
    BUILD,
    CLEANUP,
    CONFIG,
    DONE,
    FAILED,
    FETCH,
    FORMATION,
    PENDING,
    POSTDEPLOY,
    SUCCEEDED,
)
from tenku.resources.build.schemas import BuildCreate, SourceBlobIn
from tenku.resources.build.service import create_build
from tenku.resources.buildpack_installation.service import replace as replace_buildpacks
from tenku.resources.config_var.service import update_config
from tenku.resources.dyno.schemas import DynoCreate
from tenku.resources.dyno.service import create_dyno
from tenku.resources.formation.schemas import FormationChange
from tenku.resources.formation.service import update_formation
from tenku.runtime import sources
from tenku.storage.blobs import CHUNK, BlobStore
from tenku.storage.signing import Signer
from tenku.web.errors import ApiError

log = logging.getLogger("tenku.runtime.setups")

POLL = 1.0
# A failed setup whose cleanup a provider refused is tried again this long after.
CLEANUP_RETRY = timedelta(seconds=60)
# A postdeploy dyno's exit line is written just after its row goes; past this, it never ran
# to the end (a restart killed it).
EXIT_LINE_GRACE = 10.0
# What the setup keeps of a postdeploy script's output: its last characters.
MAX_OUTPUT = 256 * 1024
# Setups performed at once (each fetches a tarball of up to 1 GB, then mostly waits).
MAX_ACTIVE = 16
# How long a postdeploy script may run (Heroku's limit for the script is an hour).
POSTDEPLOY_TTL = 3600
POSTDEPLOY_TYPE = "postdeploy"
EXITED = re.compile(r"^Process exited with status (\d+)$")
EXITED_PREFIX = "Process exited with status "

APP_GONE = "The app was deleted before its setup finished."
INTERNAL = "The setup failed: an internal error occurred in Tenku."


class SetupFailed(Exception):
    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Outcome(enum.Enum):
    WAITING = "waiting"  # for a build, an add-on or a dyno: ask again later
    OVER = "over"  # succeeded, or failed and cleaned up
    LATER = "later"  # failed; a provider refused to let go: let go of it, retry later


# --- app.json in the tarball ------------------------------------------------------------


def read_app_json(tarball: Path, limits: tuple[int, int]) -> str | None:
    """The text of app.json at the app's root: the tarball's root, or the lone top-level
    directory's (GitHub tarballs). Only the one member is read, never written anywhere;
    the tarball is walked within the limits its unpacking has."""
    max_bytes, max_members = limits
    at_root: str | None = None
    nested: tuple[str, str] | None = None
    tops: set[str] = set()
    members = total = 0
    try:
        with tarfile.open(tarball, mode="r|*") as tar:
            for member in tar:
                members += 1
                total += member.size if member.isreg() else 0
                if members > max_members or total > max_bytes:
                    raise SetupFailed("The source is too large to unpack.")
                parts = [p for p in PurePosixPath(member.name).parts if p not in ("", ".")]
                if not parts or ".." in parts or member.name.startswith("/"):
                    continue
                tops.add(parts[0])
                if not member.isreg() or parts[-1] != "app.json" or len(parts) > 2:
                    continue
                if len(parts) == 2 and nested is not None:
                    continue
                if member.size > app_json.MAX_MANIFEST:
                    raise SetupFailed("invalid app.json", ["app.json is larger than 1 MB"])
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise SetupFailed("invalid app.json", ["app.json is not UTF-8 text"]) from None
                if len(parts) == 1:
                    at_root = text
                else:
                    nested = (parts[0], text)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise SetupFailed(f"The source is not a readable gzipped tarball: {exc}") from exc
    except OSError as exc:
        # Its text would name a path on this machine.
        raise SetupFailed("The source is not a readable gzipped tarball.") from exc
    if at_root is not None:
        return at_root
    if nested is not None and tops == {nested[0]}:
        return nested[1]
    return None


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


# --- one setup's steps ------------------------------------------------------------------


class SetupPerformer:
    """Performs setups' steps; `advance` goes as far as it can without waiting."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        registry: AddonRegistry,
        *,
        wake_builds: Callable[[], None] = lambda: None,
        wake_dynos: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.registry = registry
        self.wake_builds = wake_builds
        self.wake_dynos = wake_dynos
        # When each postdeploy dyno was first found gone without its exit line.
        self._gone_since: dict[uuid.UUID, float] = {}

    async def advance(self, setup_id: uuid.UUID) -> Outcome:
        """Perform the setup's steps until one waits for something (WAITING) or the setup
        is over; a step that fails fails the setup, whose cleanup follows."""
        steps = {
            FETCH: self._fetch,
            CONFIG: self._config,
            ADDONS: self._addons,
            BUILD: self._build,
            FORMATION: self._formation,
            POSTDEPLOY: self._postdeploy,
        }
        while True:
            async with self.db.session(write=False) as db:
                setup = await db.get(AppSetup, setup_id)
            if setup is None or setup.step == DONE:
                self._gone_since.pop(setup_id, None)
                return Outcome.OVER
            if setup.status == FAILED or setup.step == CLEANUP:
                return Outcome.OVER if await self._cleanup(setup) else Outcome.LATER
            try:
                moved = await steps[setup.step](setup)
            except asyncio.CancelledError:
                raise
            except SetupFailed as exc:
                await self._fail(setup_id, exc)
                continue
            except Exception:
                log.exception("app setup %s: step %s failed unexpectedly", setup_id, setup.step)
                await self._fail(setup_id, SetupFailed(INTERNAL))
                continue
            if not moved:
                return Outcome.WAITING

    # --- helpers ------------------------------------------------------------------------

    async def _locked(self, db: AsyncSession, setup_id: uuid.UUID, step: str) -> AppSetup | None:
        """The setup, locked, if it is still pending at `step` (else someone moved it)."""
        stmt = select(AppSetup).where(AppSetup.id == setup_id).with_for_update()
        setup = (await db.execute(stmt)).scalar_one_or_none()
        if setup is None or setup.status != PENDING or setup.step != step:
            return None
        return setup

    async def _app_and_user(self, db: AsyncSession, setup: AppSetup) -> tuple[App, Account]:
        app = await db.get(App, setup.app_id)
        if app is None:
            raise SetupFailed(APP_GONE)
        user = await db.get(Account, setup.user_id) if setup.user_id is not None else None
        if user is None:
            raise SetupFailed("The account that asked for this setup no longer exists.")
        return app, user

    def _catalog(self) -> Catalog:
        try:
            return self.registry.catalog
        except CatalogError as exc:
            raise SetupFailed(f"The add-on catalogue is misconfigured: {exc}") from exc

    @staticmethod
    def _manifest(setup: AppSetup) -> app_json.Manifest:
        return app_json.Manifest.model_validate(setup.manifest or {})

    # --- 1. fetch -----------------------------------------------------------------------

    async def _fetch(self, setup: AppSetup) -> bool:
        work = self.settings.data_dir / "setups" / str(setup.id)
        await asyncio.to_thread(shutil.rmtree, work, True)
        await asyncio.to_thread(work.mkdir, mode=0o700, parents=True)
        try:
            try:
                tarball, _ = await sources.fetch(
                    url=setup.source_url,
                    blob_key=None,
                    checksum=setup.source_checksum,
                    dest=work / "source.tgz",
                    settings=self.settings,
                    blobs=self.blobs,
                    signer=self.signer,
                )
            except sources.SourceError as exc:
                raise SetupFailed(str(exc)) from exc
            text = await asyncio.to_thread(read_app_json, tarball, self.settings.source_limits)
            if text is None:
                raise SetupFailed("app.json not found")
            try:
                manifest = app_json.parse(text)
                errors = app_json.check(
                    manifest, dict(setup.overrides or {}), self._catalog(), self.settings
                )
            except app_json.ManifestError as exc:
                errors = exc.errors
            if errors:
                raise SetupFailed("invalid app.json", errors)
            key = f"sources/{uuid.uuid4()}.tgz"
            await self.blobs.put(key, _chunks(tarball))
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, FETCH)
            if found is None:
                await self.blobs.delete(key)
                return True
            found.manifest = manifest.model_dump(mode="json", by_alias=True)
            found.source_blob_key = key
            found.step = CONFIG
            await db.commit()
        return True

    # --- 2. config vars and buildpacks ----------------------------------------------------

    async def _config(self, setup: AppSetup) -> bool:
        manifest = self._manifest(setup)
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, CONFIG)
            if found is None:
                return True
            app, user = await self._app_and_user(db, found)
            overrides = {str(k): str(v) for k, v in (found.overrides or {}).items()}
            try:
                values = app_json.config_vars(manifest, overrides)
                if values:
                    await update_config(db, app, user, dict(values))
                packs = app_json.buildpack_specs(manifest, overrides)
                if packs:
                    await replace_buildpacks(db, self.settings, app, packs)
            except ApiError as exc:
                raise SetupFailed(exc.message) from exc
            # The overrides are in the config vars now; nothing else needs them.
            found.overrides = {}
            found.step = ADDONS
            await db.commit()
        return True

    # --- 3. add-ons ---------------------------------------------------------------------

    async def _addons(self, setup: AppSetup) -> bool:
        wanted = self._manifest(setup).addons
        ids: list[str | None] = list(setup.addon_ids or [])
        ids += [None] * (len(wanted) - len(ids))
        for i, entry in enumerate(wanted):
            made = ids[i]
            if made is not None:
                async with self.db.session(write=False) as db:
                    addon = await db.get(Addon, uuid.UUID(made))
                if addon is not None and addon.provider_call == addons.PROVISION:
                    # The runtime that called the provider died before the answer was
                    # stored: take the add-on back, then make it again.
                    await self._undo(addon.id)
                    addon = None
                if addon is not None and addon.state == "provisioned":
                    continue
                if addon is not None and (
                    addon.state == "provisioning" or addon.provider_call == addons.DEPROVISION
                ):
                    # A partner that finishes later, by calling back; or a cut-off add-on
                    # the add-on sweeper is taking back, to be made again once it is gone.
                    return False
                if addon is not None:
                    raise SetupFailed(
                        f"The add-on {entry.plan} could not be provisioned: "
                        "its provider gave up on it."
                    )
                await self._record_ids(setup.id, i, None)
            await self._provision(setup, i, entry)
            return True
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, ADDONS)
            if found is not None:
                found.step = BUILD
                await db.commit()
        return True

    async def _record_ids(self, setup_id: uuid.UUID, i: int, addon_id: uuid.UUID | None) -> None:
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup_id, ADDONS)
            if found is not None:
                self._set_id(found, i, addon_id)
                await db.commit()

    @staticmethod
    def _set_id(setup: AppSetup, i: int, addon_id: uuid.UUID | None) -> None:
        ids: list[str | None] = list(setup.addon_ids or [])
        ids += [None] * (i + 1 - len(ids))
        ids[i] = str(addon_id) if addon_id is not None else None
        setup.addon_ids = ids

    async def _provision(self, setup: AppSetup, i: int, entry: app_json.AddonEntry) -> None:
        catalog = self._catalog()
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, ADDONS)
            if found is None:
                return
            app, user = await self._app_and_user(db, found)
            params = AddonCreate(
                plan=entry.plan,
                config=dict(entry.options),
                attachment=AttachmentIn(name=entry.as_) if entry.as_ else None,
                # app.json's add-ons take their names over from config vars it set.
                confirm=app.name,
            )
            try:
                pending = await addons.begin_create(
                    db, catalog, app, user, params, self.registry.settings
                )
            except ApiError as exc:
                raise SetupFailed(
                    f"The add-on {entry.plan} could not be provisioned: {exc}"
                ) from exc
            addon_id = pending.request.uuid
            self._set_id(found, i, addon_id)
            await db.commit()
        provider = self.registry.provider(pending.spec)
        try:
            result = await provider.provision(pending.spec, pending.request)
        except ProviderError as exc:
            async with self.db.session(write=True) as db:
                await addons.discard(db, addon_id)
                await db.commit()
            await self._record_ids(setup.id, i, None)
            raise SetupFailed(
                f"The add-on {entry.plan} could not be provisioned: {exc.message}"
            ) from exc
        async with self.db.session(write=True) as db:
            addon = await addons.record_provision(db, addon_id, result)
            await db.commit()
        if addon is None:
            # The add-on went while the provider made it: nobody wants what it made.
            await self._let_go(pending.spec.slug, addon_id, result.provider_id)
            raise SetupFailed(f"The add-on {entry.plan} was removed while it was provisioned.")

    async def _undo(self, addon_id: uuid.UUID) -> None:
        """A provisioning that was cut off: deprovisioned (idempotent whether or not the
        provider made it), then forgotten; as the add-on sweeper does, under the row lock."""
        async with self.db.session(write=True) as db:
            addon = await addons.locked(db, addon_id)
            if addon is None or addon.provider_call != addons.PROVISION:
                return
            addon.state = "deprovisioned"
            addon.provider_call = addons.DEPROVISION
            addon.provider_call_at = utcnow()
            service, provider_id = addon.service, addon.provider_id
            await db.commit()
        await self._let_go(service, addon_id, provider_id)

    async def _let_go(self, service: str, addon_id: uuid.UUID, provider_id: str) -> None:
        spec = self._catalog().services.get(service)
        if spec is not None:
            try:
                await self.registry.provider(spec).deprovision(
                    spec, addon_id, provider_id or str(addon_id)
                )
            except ProviderError as exc:
                raise SetupFailed(
                    f"An add-on that was cut off could not be removed: {exc.message}"
                ) from exc
        async with self.db.session(write=True) as db:
            addon = await addons.locked(db, addon_id)
            if addon is not None:
                await addons.discard(db, addon_id)
            await db.commit()

    # --- 4. build -----------------------------------------------------------------------

    async def _build(self, setup: AppSetup) -> bool:
        if setup.build_id is None:
            async with self.db.session(write=True) as db:
                found = await self._locked(db, setup.id, BUILD)
                if found is None or found.build_id is not None:
                    return True
                app, user = await self._app_and_user(db, found)
                params = BuildCreate(
                    source_blob=SourceBlobIn(
                        url=found.source_url,
                        checksum=found.source_checksum,
                        version=found.source_version,
                    )
                )
                try:
                    made = await create_build(
                        db, self.settings, app, user, params, blob_key=found.source_blob_key
                    )
                except ApiError as exc:
                    raise SetupFailed(exc.message) from exc
                found.build_id = made.id
                found.build_status = PENDING
                await db.commit()
            self.wake_builds()
            return True
        async with self.db.session(write=False) as db:
            build = await db.get(Build, setup.build_id)
        if build is None:
            raise SetupFailed(APP_GONE)
        if build.status == PENDING:
            return False
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, BUILD)
            if found is None or found.build_id != build.id:
                return True
            found.build_status = build.status
            if build.status == SUCCEEDED:
                found.step = FORMATION
            await db.commit()
        if build.status != SUCCEEDED:
            raise SetupFailed("The build failed; its output says why.")
        return True

    # --- 5. formation -------------------------------------------------------------------

    async def _formation(self, setup: AppSetup) -> bool:
        manifest = self._manifest(setup)
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, FORMATION)
            if found is None:
                return True
            app, user = await self._app_and_user(db, found)
            changes = [
                FormationChange.model_validate(
                    {"type": kind, "quantity": process.quantity, "size": process.size}
                )
                for kind, process in manifest.formation.items()
            ]
            if changes:
                try:
                    await update_formation(db, app, user, changes)
                except ApiError as exc:
                    raise SetupFailed(f"Scaling the app failed: {exc.message}") from exc
            script = manifest.scripts.postdeploy
            if script is None:
                self._succeed(found, app, manifest)
            else:
                found.step = POSTDEPLOY
            await db.commit()
        self.wake_dynos()
        return True

    def _succeed(self, setup: AppSetup, app: App, manifest: app_json.Manifest) -> None:
        setup.status = SUCCEEDED
        setup.step = DONE
        setup.app_name = app.name
        setup.resolved_success_url = app_json.success_url(
            manifest, self.settings.app_web_url(app.name)
        )
        setup.runner = None

    # --- 6. postdeploy ------------------------------------------------------------------

    async def _postdeploy(self, setup: AppSetup) -> bool:
        manifest = self._manifest(setup)
        script = manifest.scripts.postdeploy
        assert script is not None
        if setup.postdeploy_dyno is None:
            async with self.db.session(write=True) as db:
                found = await self._locked(db, setup.id, POSTDEPLOY)
                if found is None or found.postdeploy_dyno is not None:
                    return True
                app, user = await self._app_and_user(db, found)
                params = DynoCreate(
                    command=script.command,
                    type=POSTDEPLOY_TYPE,
                    size=script.size,
                    time_to_live=POSTDEPLOY_TTL,
                )
                try:
                    created = await create_dyno(db, self.settings, app, user, params)
                except ApiError as exc:
                    raise SetupFailed(f"The postdeploy script could not start: {exc}") from exc
                found.postdeploy_dyno = created.dyno.name
                await db.commit()
            self.wake_dynos()
            return True
        name = setup.postdeploy_dyno
        async with self.db.session(write=False) as db:
            if await db.get(App, setup.app_id) is None:
                raise SetupFailed(APP_GONE)
            running = (
                await db.execute(
                    select(Dyno.id).where(Dyno.app_id == setup.app_id, Dyno.name == name)
                )
            ).first()
            exit_line = (
                await db.execute(
                    select(LogLine.message)
                    .where(
                        LogLine.app_id == setup.app_id,
                        LogLine.dyno == name,
                        LogLine.source == "heroku",
                        LogLine.message.startswith(EXITED_PREFIX),
                    )
                    .order_by(LogLine.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            output = ""
            if exit_line is not None:
                output = await self._output(db, setup.app_id, name)
        matched = EXITED.match(exit_line or "")
        if matched is None:
            if running is not None:
                self._gone_since.pop(setup.id, None)
                return False
            since = self._gone_since.setdefault(setup.id, time.monotonic())
            if time.monotonic() - since < EXIT_LINE_GRACE:
                return False
            self._gone_since.pop(setup.id, None)
            raise SetupFailed(
                "The postdeploy script did not run to the end: its dyno stopped before the "
                "script exited (the platform restarted meanwhile)."
            )
        self._gone_since.pop(setup.id, None)
        code = int(matched.group(1))
        async with self.db.session(write=True) as db:
            found = await self._locked(db, setup.id, POSTDEPLOY)
            if found is None:
                return True
            found.postdeploy_exit_code = code
            found.postdeploy_output = output
            if code == 0:
                app, _ = await self._app_and_user(db, found)
                self._succeed(found, app, manifest)
            await db.commit()
        if code != 0:
            raise SetupFailed(f"The postdeploy script exited with status {code}.")
        return True

    @staticmethod
    async def _output(db: AsyncSession, app_id: uuid.UUID, dyno: str) -> str:
        rows = await db.execute(
            select(LogLine.message)
            .where(LogLine.app_id == app_id, LogLine.dyno == dyno, LogLine.source == "app")
            .order_by(LogLine.seq)
        )
        text = "".join(f"{line}\n" for line in rows.scalars())
        return text[-MAX_OUTPUT:]

    # --- failure and cleanup --------------------------------------------------------------

    async def _fail(self, setup_id: uuid.UUID, failure: SetupFailed) -> None:
        async with self.db.session(write=True) as db:
            stmt = select(AppSetup).where(AppSetup.id == setup_id).with_for_update()
            setup = (await db.execute(stmt)).scalar_one_or_none()
            if setup is None or setup.status != PENDING:
                return
            setup.status = FAILED
            setup.failure_message = failure.message
            setup.manifest_errors = list(failure.errors)
            # The caller's values (secrets, often) are kept no longer than needed.
            setup.overrides = {}
            setup.step = CLEANUP
            await db.commit()
        self._gone_since.pop(setup_id, None)
        log.warning("app setup %s failed: %s", setup_id, failure.message)

    async def _cleanup(self, setup: AppSetup) -> bool:
        """Deprovision every add-on of the failed setup's app, then delete the app; False
        when a provider refused (asked again later)."""
        async with self.db.session(write=False) as db:
            ids = list(
                (await db.execute(select(Addon.id).where(Addon.app_id == setup.app_id))).scalars()
            )
        refused = False
        for addon_id in ids:
            if not await self._deprovision(addon_id, setup.app_id):
                refused = True
        if refused:
            return False
        async with self.db.session(write=True) as db:
            found = await db.get(AppSetup, setup.id)
            if found is None:
                return True
            app = await db.get(App, setup.app_id)
            if app is not None:
                await db.delete(app)
            found.step = DONE
            found.runner = None
            await db.commit()
        log.info("app setup %s: removed its app %s", setup.id, setup.app_name)
        return True

    async def _deprovision(self, addon_id: uuid.UUID, app_id: uuid.UUID) -> bool:
        async with self.db.session(write=True) as db:
            addon = await addons.locked(db, addon_id)
            if addon is None:
                return True
            # Recorded first: should this runtime die now, the add-on sweeper finishes it.
            addon.provider_call = addons.DEPROVISION
            addon.provider_call_at = utcnow()
            if addon.state == "provisioning":
                addon.state = "deprovisioned"
            service, provider_id = addon.service, addon.provider_id
            await db.commit()
        try:
            spec = self.registry.catalog.services.get(service)
        except CatalogError:
            return False
        if spec is None:
            log.warning("add-on %s of a failed setup: %s is no longer offered", addon_id, service)
        else:
            try:
                await self.registry.provider(spec).deprovision(
                    spec, addon_id, provider_id or str(addon_id)
                )
            except ProviderError as exc:
                log.warning("add-on %s of a failed setup not removed yet: %s", addon_id, exc)
                return False
        async with self.db.session(write=True) as db:
            addon = await addons.locked(db, addon_id)
            if addon is not None:
                await addons.detach_elsewhere(db, addon, app_id)
                await addons.discard(db, addon_id)
            await db.commit()
        return True


# --- the runner -------------------------------------------------------------------------


class SetupRunner:
    """Claims pending setups and performs each in a task of its own, until it is over."""

    def __init__(
        self,
        performer: SetupPerformer,
        runner_id: str,
        *,
        poll_interval: float = POLL,
    ) -> None:
        self.performer = performer
        self.db = performer.db
        self.runner_id = runner_id
        self.poll = min(poll_interval, POLL)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._tick = asyncio.Event()
        self._passes = Passes(
            "tenku-app-setups",
            self._claim,
            poll_interval,
            logger=log,
            failure="could not claim app setups",
            gap=WAKE_GAP,
        )

    def start(self) -> None:
        self._passes.start()

    def wake(self) -> None:
        self._passes.wake()
        # Every waiting setup looks again at once.
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def recover(self) -> None:
        """Take over the setups an earlier runtime left: each resumes at its step. Those
        waiting on a build that runtime was running build again (its build is failed by
        `Runtime.recover`)."""
        # Nothing runs yet: whatever a fetch left on disk is debris.
        await asyncio.to_thread(shutil.rmtree, self.performer.settings.data_dir / "setups", True)
        async with self.db.session(write=True) as db:
            stale_builds = select(Build.id).where(
                Build.status == PENDING, Build.runner.is_not(None), Build.runner != self.runner_id
            )
            await self._rebuild(db, stale_builds)
            await db.execute(
                update(AppSetup)
                .where(AppSetup.runner.is_not(None), AppSetup.runner != self.runner_id)
                .values(runner=None, updated_at=AppSetup.updated_at)
                .execution_options(synchronize_session=False)
            )
            await db.commit()

    @staticmethod
    async def _rebuild(db: AsyncSession, builds: Select[Any]) -> None:
        await db.execute(
            update(AppSetup)
            .where(
                AppSetup.status == PENDING,
                AppSetup.step == BUILD,
                AppSetup.build_id.in_(builds),
            )
            .values(build_id=None, build_status=None)
            .execution_options(synchronize_session=False)
        )

    async def stop(self) -> None:
        """Stop performing; call before the runtime's builds are stopped, so that setups
        waiting on one of them build again when the runtime is back."""
        await self._passes.stop()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self.db.session(write=True) as db:
                running = select(Build.id).where(
                    Build.status == PENDING, Build.runner == self.runner_id
                )
                await self._rebuild(db, running)
                await db.execute(
                    update(AppSetup)
                    .where(AppSetup.runner == self.runner_id)
                    .values(runner=None, updated_at=AppSetup.updated_at)
                    .execution_options(synchronize_session=False)
                )
                await db.commit()
        except Exception:
            # The next runtime's recovery does the same.
            log.exception("could not hand back the app setups being performed")

    async def _claim(self) -> None:
        free = MAX_ACTIVE - len(self._tasks)
        if free <= 0:
            return
        retry = utcnow() - CLEANUP_RETRY
        async with self.db.session(write=False) as db:
            waiting = list(
                (
                    await db.execute(
                        select(AppSetup.id)
                        .where(
                            AppSetup.runner.is_(None),
                            (AppSetup.status == PENDING)
                            | ((AppSetup.step == CLEANUP) & (AppSetup.updated_at < retry)),
                        )
                        .order_by(AppSetup.created_at)
                        .limit(100)
                    )
                ).scalars()
            )
        if not waiting:
            return
        claimed: list[uuid.UUID] = []
        async with self.db.session(write=True) as db:
            for setup_id in waiting:
                if len(claimed) >= free:
                    break
                if setup_id in self._tasks:
                    continue
                result = await db.execute(
                    update(AppSetup)
                    .where(AppSetup.id == setup_id, AppSetup.runner.is_(None))
                    .values(runner=self.runner_id, updated_at=AppSetup.updated_at)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(setup_id)
            await db.commit()
        for setup_id in claimed:
            self._tasks[setup_id] = asyncio.create_task(
                self._run(setup_id), name=f"app-setup-{setup_id}"
            )

    async def _run(self, setup_id: uuid.UUID) -> None:
        try:
            while True:
                try:
                    outcome = await self.performer.advance(setup_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The database is away, say: the claim goes, the next pass tries again.
                    log.exception("app setup %s could not go on", setup_id)
                    outcome = Outcome.LATER
                if outcome is Outcome.OVER:
                    return
                if outcome is Outcome.LATER:
                    await self._release(setup_id)
                    return
                await wait_event(self._tick, self.poll)
        finally:
            self._tasks.pop(setup_id, None)

    async def _release(self, setup_id: uuid.UUID) -> None:
        async with self.db.session(write=True) as db:
            await db.execute(
                update(AppSetup)
                .where(AppSetup.id == setup_id, AppSetup.runner == self.runner_id)
                .values(runner=None)
                .execution_options(synchronize_session=False)
            )
            await db.commit()
