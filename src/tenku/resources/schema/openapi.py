"""`GET /openapi.json`: the same links as an OpenAPI 3.1 document, for testing tools."""

from __future__ import annotations

import re
from typing import Any

from fastapi.utils import deep_dict_update
from pydantic import TypeAdapter

from tenku.resources.schema.links import Link, notes
from tenku.web.lists import RANGES

VERSION = "3.1.0"
DESCRIPTION = (
    "Tenku speaks the Heroku Platform API v3. Every call outside `/blobs/`, `/streams/`, "
    "the git URLs, `/oauth/token`, the `/oauth/authorize` page and this document must send "
    "`Accept: application/vnd.heroku+json; version=3` (a 400 `missing_version` otherwise). "
    'Errors answer with `{"id", "message"}`. Lists page with the `Range` header and '
    "answer 206 with `Next-Range` while more remain."
)
REF = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "description": "Every error: a machine-readable id and a message for people.",
    "properties": {
        "id": {"type": "string", "examples": ["not_found"]},
        "message": {"type": "string"},
        "resource": {"type": "string"},
        "url": {"type": "string"},
    },
    "required": ["id", "message"],
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key or OAuth access token (`heroku auth:token`).",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "Any user name (by custom the account's email) with the token as the password; "
            "creating an authorization also takes the email and the account's password."
        ),
    },
}
CREDENTIALS: list[dict[str, list[str]]] = [{"bearer": []}, {"basic": []}]
RANGE_DESCRIPTION = (
    "Heroku's Range: `<field> [start]..[end][; max=<n>][, order=<asc|desc>]`, e.g. "
    "`{first} ..; max=10`, or a `Next-Range` this list answered with. Fields: {fields}. "
    "Pages hold 200 items unless `max` says otherwise (at most 1000)."
)
HEADERS = {
    "Request-Id": {
        "description": "This request's id, then the ids the caller sent in `Request-Id`.",
        "schema": {"type": "string"},
    },
}
RANGE_HEADERS = {
    "Accept-Ranges": {
        "description": "The fields `Range` may sort by.",
        "schema": {"type": "string"},
    },
    "Content-Range": {"description": "The range of this page.", "schema": {"type": "string"}},
}
NEXT_RANGE = {
    "Next-Range": {"description": "The `Range` of the next page.", "schema": {"type": "string"}}
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _Schemas:
    """Every body's schema as a reference into `components/schemas`, made in one pass."""

    def __init__(self, links: list[Link]) -> None:
        inputs: list[tuple[str, Any, TypeAdapter[Any]]] = []
        seen: set[str] = set()
        for link in links:
            typed = [(link.request, "validation"), (link.response, "serialization")]
            typed += [(r.get("model"), "serialization") for r in link.responses.values()]
            for annotation, mode in typed:
                key = f"{mode}:{annotation!r}"
                if annotation is not None and key not in seen:
                    seen.add(key)
                    inputs.append((key, mode, TypeAdapter(annotation)))
        made, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF)
        self.by_key = {key: schema for (key, _), schema in made.items()}
        self.components: dict[str, Any] = dict(definitions.get("$defs", {}))
        self.components["Error"] = ERROR

    def of(self, annotation: Any, mode: str) -> dict[str, Any]:
        found: dict[str, Any] = self.by_key[f"{mode}:{annotation!r}"]
        return found


def _parameters(link: Link) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for param in link.params:
        names = " or ".join("`~` (the caller)" if a == "self" else a for a in param.alternatives)
        params.append(
            {
                "name": param.name,
                "in": "path",
                "required": True,
                "description": f"{names} of the {param.resource.replace('-', ' ')}",
                "schema": {"type": "string", "minLength": 1},
            }
        )
    if link.ranges:
        params.append(
            {
                "name": "Range",
                "in": "header",
                "required": False,
                "description": RANGE_DESCRIPTION.format(
                    first=link.ranges[0], fields=", ".join(link.ranges)
                ),
                "schema": {"type": "string"},
            }
        )
    return params


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


def _responses(link: Link, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if link.response is not None:
        schema = schemas.of(link.response, "serialization")
        if link.ranges:
            ranged = {**HEADERS, **RANGE_HEADERS}
            responses[str(link.status)] = _json(schema, "The whole list, or its last page.", ranged)
            responses["206"] = _json(schema, "A page; more remain.", {**ranged, **NEXT_RANGE})
        else:
            responses[str(link.status)] = _json(schema, link.description or "Done.", HEADERS)
    for status, answer in link.responses.items():
        model = answer.get("model")
        description = answer.get("description", "")
        if model is not None:
            responses[str(status)] = _json(schemas.of(model, "serialization"), description, HEADERS)
        else:
            responses[str(status)] = {"description": description}
    responses["default"] = _json(
        {"$ref": REF.format(model="Error")}, "An error, as Heroku answers them.", HEADERS
    )
    return responses


def _operation(link: Link, schemas: _Schemas, operation_id: str) -> dict[str, Any]:
    note = notes().get(link.resource)
    resource_title = note["title"] if note else link.resource.replace("-", " ").title()
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": f"{resource_title}: {link.title}",
        "description": link.description,
        "tags": [link.resource],
        "parameters": _parameters(link),
        "responses": _responses(link, schemas),
        "security": CREDENTIALS if link.credentials is not None else [],
    }
    if link.ranges:
        op[RANGES] = link.ranges
    if link.request is not None:
        schema = schemas.of(link.request, "validation")
        required = bool(link.request.model_json_schema().get("required"))
        op["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    # A route's `openapi_extra` has the last word, as in FastAPI's own documents.
    deep_dict_update(op, link.extra)
    return op


def openapi(links: list[Link], base_url: str) -> dict[str, Any]:
    schemas = _Schemas(links)
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for link in links:
        base = f"{link.resource}-{_slug(link.title)}"
        operation_id, n = base, 1
        while operation_id in used:
            n += 1
            operation_id = f"{base}-{n}"
        used.add(operation_id)
        operations = paths.setdefault(link.path, {})
        method = link.method.lower()
        if method in operations:
            # One route behind two of the reference's links (release create and rollback).
            operations[method]["description"] += " " + link.description
            continue
        operations[method] = _operation(link, schemas, operation_id)
    tags = sorted({link.resource for link in links})
    return {
        "openapi": VERSION,
        "info": {"title": "Tenku Platform API", "version": "3", "description": DESCRIPTION},
        "servers": [{"url": base_url}],
        "tags": [
            {"name": tag, "description": notes().get(tag, {}).get("description", "")}
            for tag in tags
        ],
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": SECURITY_SCHEMES},
    }
