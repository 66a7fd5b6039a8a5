"""Entry point for uvicorn workers: `uvicorn --factory tenku.asgi:create`."""

from __future__ import annotations

from fastapi import FastAPI

from tenku.app import create_app
from tenku.config import load_settings


def create() -> FastAPI:
    return create_app(load_settings())
