"""The add-on runtime of this API process (catalogue and providers), created on first use."""

from __future__ import annotations

from starlette.requests import Request

from tenku.addons.catalog import Catalog, CatalogError
from tenku.addons.runtime import AddonRuntime
from tenku.addons.settings import AddonSettings
from tenku.web.deps import app_context
from tenku.web.errors import ServiceUnavailable


def runtime(request: Request) -> AddonRuntime:
    state = request.app.state
    found: AddonRuntime | None = getattr(state, "addon_runtime", None)
    if found is None:
        found = AddonRuntime(AddonSettings.of(app_context(request).settings))
        state.addon_runtime = found
    return found


def catalog(request: Request) -> Catalog:
    try:
        return runtime(request).catalog
    except CatalogError as exc:
        raise ServiceUnavailable(f"The add-on catalogue is misconfigured: {exc}") from exc
