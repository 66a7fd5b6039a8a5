"""The add-on catalogue and providers of this API process, as route parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from tenku.addons.catalog import Catalog, CatalogError, ServiceSpec
from tenku.addons.registry import AddonRegistry
from tenku.web.deps import app_context
from tenku.web.errors import NotFound, ServiceUnavailable


def registry(request: Request) -> AddonRegistry:
    return app_context(request).addons


def catalog(request: Request) -> Catalog:
    try:
        return registry(request).catalog
    except CatalogError as exc:
        raise ServiceUnavailable(f"The add-on catalogue is misconfigured: {exc}") from exc


def addon_service(cat: Catalog, ident: str) -> ServiceSpec:
    """`{addon_service_id_or_name}` in the catalogue."""
    spec = cat.service(ident)
    if spec is None:
        raise NotFound("addon-service", "Couldn't find that add-on service.")
    return spec


# Declare these after the caller's parameter: a broken catalogue must not answer
# an anonymous request before its 401.
Registry = Annotated[AddonRegistry, Depends(registry)]
AddonCatalog = Annotated[Catalog, Depends(catalog)]
