from __future__ import annotations

from fastapi import APIRouter

from tenku.web.deps import TransactionRoute

# The Data API is not the Platform API: /schema and /openapi.json leave it out.
router = APIRouter(route_class=TransactionRoute, include_in_schema=False)
