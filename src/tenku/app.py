"""create_app(): the API as one ASGI application."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tenku.addons.registry import AddonRegistry
from tenku.addons.settings import AddonSettings
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.mail import Mailer
from tenku.sms import sender
from tenku.storage.blobs import DirectoryBlobStore
from tenku.storage.sealing import Sealer
from tenku.storage.signing import Signer, load_secret
from tenku.web.context import AppContext
from tenku.web.errors import ApiError, BadRequest, InvalidParams, MethodNotAllowed, NotFound
from tenku.web.middleware import ConventionsMiddleware
from tenku.web.ratelimit import RateLimiter
from tenku.web.routing import index_routes
from tenku.web.throttle import Clock, Throttle
from tenku.web.tokens import TokenCache

log = logging.getLogger("tenku.api")

# One package per resource of the reference, each with a `routes.router`.
RESOURCES = (
    "account",
    "account_feature",
    "addon",
    "addon_attachment",
    "addon_config",
    "addon_region_capability",
    "addon_service",
    "app",
    "app_feature",
    "app_transfer",
    "app_setup",
    "blob",
    "build",
    "build_result",
    "buildpack_installation",
    "buildpack_registry",
    "collaborator",
    "config_var",
    "domain",
    "dyno",
    "filter_apps",
    "formation",
    "git",
    "invitation",
    "key",
    "log_drain",
    "log_session",
    "oauth_authorization",
    "oauth_client",
    "oauth_grant",
    "oauth_token",
    # Team paths take their name through the `team` converter, which never matches the
    # literal words after /organizations/ and /teams/ (apps, permissions, invitations),
    # so this order does not matter; the team-app packages come first all the same.
    "organization_app",
    "organization_app_collaborator",
    "organization",
    "organization_addon",
    "organization_member",
    "organization_preferences",
    "otp_secret",
    "password_reset",
    "pipeline",
    "pipeline_coupling",
    "pipeline_promotion",
    "pipeline_promotion_target",
    "plan",
    "rate_limit",
    "recovery_code",
    "region",
    "release",
    "schema",
    "slug",
    "sms_number",
    "sni_endpoint",
    "source",
    "stack",
    "team_feature",
    "team_invitation",
    "user_preferences",
    "whitelisted_addon_service",
)

# Heroku's Data API, served on the API host (tenku.data_api): one package each, with a
# `routes.router`.
DATA_API = ("postgres", "redis", "maintenances", "backups")


def render_error(err: ApiError) -> Response:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return render_error(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return render_error(NotFound("route", "Not found: no such endpoint."))
    if exc.status_code == 405:
        return render_error(MethodNotAllowed())
    return render_error(BadRequest(str(exc.detail)))


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    err = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid"}
    if err.get("type") == "json_invalid":
        return render_error(BadRequest("Request body wasn't valid JSON."))
    loc = ".".join(str(p) for p in err["loc"][1:]) or "params"
    return render_error(InvalidParams(f"Invalid {loc} provided: {err['msg']}."))


NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    db = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What is alive once the API has started (modules, routes, schemas) lives as long
        # as the process: set aside from the collector, whose full passes otherwise walk it
        # all again while a long list's thousands of objects are built (a quarter of a
        # 1,000-app page's time).
        gc.collect()
        gc.freeze()
        yield
        await api.state.ctx.ratelimiter.close()
        if database is None:
            await db.dispose()

    api = FastAPI(
        title="Tenku",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # Tenku configures no OpenTelemetry provider; FastAPI would still look for one, and
        # wrap every request and dependency for it.
        telemetry=NO_TELEMETRY,
    )
    secret = load_secret(settings.data_dir, settings.secret_key)
    clock = Clock()
    api.state.ctx = AppContext(
        settings=settings,
        db=db,
        ratelimiter=RateLimiter(db, settings.rate_limit_per_hour, settings.api_workers),
        blobs=DirectoryBlobStore(settings.data_dir / "blobs"),
        signer=Signer(secret),
        addons=AddonRegistry(AddonSettings.of(settings)),
        tokens=TokenCache(db),
        mailer=Mailer.of(settings),
        clock=clock,
        throttle=Throttle(db, clock),
        sealer=Sealer(secret),
        sms=sender(settings),
    )
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    for name in RESOURCES:
        module = importlib.import_module(f"tenku.resources.{name}.routes")
        api.include_router(module.router)
    for name in DATA_API:
        module = importlib.import_module(f"tenku.data_api.{name}.routes")
        api.include_router(module.router)
    index_routes(api.router.routes)
    api.add_middleware(ConventionsMiddleware)
    return api
