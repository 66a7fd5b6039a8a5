"""App setups: the request creates the app and records the setup; the runtime does the rest.

`POST /app-setups` commits the new app and a `pending` setup at step `fetch` in one
transaction, and the commit nudges the runtime (`runtime/setups.py`), which fetches the
tarball, reads app.json, sets the config vars, provisions the add-ons, builds, scales and
runs the postdeploy script, recording each step as it completes. A setup that fails
leaves its message, and its app is deleted with every add-on it had, as on Heroku.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, AppSetup
from tenku.ids import as_uuid
from tenku.resources.app.access import permitted
from tenku.resources.app_setup.schemas import (
    AppSetupCreate,
    AppSetupOut,
    PostdeployOut,
    SetupAppIn,
    SetupBuildOut,
    SetupSourceIn,
)
from tenku.resources.build.service import stream_path
from tenku.resources.common import Ref
from tenku.resources.organization_app import service as team_apps
from tenku.resources.organization_app.schemas import OrganizationAppCreate
from tenku.storage.checksums import sha256_hex
from tenku.storage.signing import Signer
from tenku.web.errors import InvalidParams, NotFound

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"

# The steps, in the order the runtime performs them.
FETCH = "fetch"
CONFIG = "config"
ADDONS = "addons"
BUILD = "build"
FORMATION = "formation"
POSTDEPLOY = "postdeploy"
# A failed setup whose add-ons and app are being removed; then, and once it succeeded:
CLEANUP = "cleanup"
DONE = "done"


def _check_source(blob: SetupSourceIn) -> None:
    scheme = urlsplit(blob.url).scheme.lower()
    if scheme not in ("http", "https", "file") or any(c.isspace() for c in blob.url):
        raise InvalidParams("Invalid source_blob.url provided: it must be an http(s) or file URL.")
    if blob.checksum is not None and sha256_hex(blob.checksum) is None:
        raise InvalidParams(
            "Invalid source_blob.checksum provided: expected SHA256:<64 hex digits>."
        )


async def create_setup(
    db: AsyncSession, caller: Account, params: AppSetupCreate, settings: Settings
) -> AppSetup:
    """The app (as `POST /organizations/apps` would make it) and its pending setup."""
    _check_source(params.source_blob)
    wanted = params.app or SetupAppIn()
    app = await team_apps.create(
        db, caller, OrganizationAppCreate.model_validate(wanted.model_dump()), settings
    )
    env = params.overrides.env if params.overrides is not None else {}
    setup = AppSetup(
        app_id=app.id,
        app_name=app.name,
        user_id=caller.id,
        status=PENDING,
        step=FETCH,
        manifest_errors=[],
        source_url=params.source_blob.url,
        source_checksum=params.source_blob.checksum,
        source_version=params.source_blob.version,
        overrides={str(k): str(v) for k, v in env.items()},
        addon_ids=[],
    )
    db.add(setup)
    await db.flush()
    return setup


async def get_setup(db: AsyncSession, caller: Account, ident: str) -> AppSetup:
    """A setup its creator may read, as may anyone who may view its app while it exists."""
    uid = as_uuid(ident)
    setup = await db.get(AppSetup, uid) if uid is not None else None
    if setup is None or (
        setup.user_id != caller.id and not await permitted(db, setup.app_id, caller.id, "app:view")
    ):
        raise NotFound("app-setup", "Couldn't find that app setup.")
    return setup


def render(setup: AppSetup, base_url: str, signer: Signer, reader: uuid.UUID) -> AppSetupOut:
    build = None
    if setup.build_id is not None:
        build = SetupBuildOut(
            id=setup.build_id,
            output_stream_url=base_url + stream_path(signer, setup.build_id, reader),
            status=setup.build_status or PENDING,
        )
    postdeploy = None
    if setup.postdeploy_exit_code is not None:
        postdeploy = PostdeployOut(
            exit_code=setup.postdeploy_exit_code, output=setup.postdeploy_output or ""
        )
    return AppSetupOut(
        app=Ref(id=setup.app_id, name=setup.app_name),
        build=build,
        created_at=setup.created_at,
        failure_message=setup.failure_message,
        id=setup.id,
        manifest_errors=list(setup.manifest_errors or []),
        postdeploy=postdeploy,
        resolved_success_url=setup.resolved_success_url,
        status=setup.status,
        updated_at=setup.updated_at,
    )
