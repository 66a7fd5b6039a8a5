"""`openapi_extra=` values for what a route's models cannot say: bodies that are not JSON,
headers it reads, credentials it checks itself. /openapi.json merges them into the route's
operation (as FastAPI does); /schema reads the success answer's media types from them."""

from __future__ import annotations

from typing import Any

from fastapi.utils import deep_dict_update

# Git sends HTTP Basic with any user name and the token as the password.
BASIC_CREDENTIALS: dict[str, Any] = {"security": [{"basic": []}]}


def answers(
    description: str, *media_types: str, status: int = 200, binary: bool = False
) -> dict[str, Any]:
    """A success answer whose body is not JSON (text, a stream, a tarball) or is empty."""
    body = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    answer: dict[str, Any] = {"description": description}
    if media_types:
        answer["content"] = {media: {"schema": body} for media in media_types}
    return {"responses": {str(status): answer}}


def header(name: str, description: str) -> dict[str, Any]:
    """A request header the route reads."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
        ]
    }


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        deep_dict_update(out, part)
    return out
