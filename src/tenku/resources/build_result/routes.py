from __future__ import annotations

from fastapi import APIRouter

from tenku.web.deps import TransactionRoute

router = APIRouter(route_class=TransactionRoute)
