"""GET /schema and GET /openapi.json describe exactly the routes the application serves."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import schemathesis

from tenku.app import create_app
from tenku.config import Settings
from tenku.resources.schema.links import notes
from tests.conftest import V3
from tests.contract import reference
from tests.contract.test_routes import BUILT, ROUTES
from tests.web.test_auth_first import ANONYMOUS

NOTES = Path(__file__).resolve().parents[2] / "src/tenku/resources/schema/reference.json"
_PLACEHOLDER = re.compile(r"\{\(([^)]*)\)\}")
HEROKU_STYLE = {"description", "href", "method", "rel", "title"}


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    data_dir = Path(tempfile.mkdtemp(prefix="tenku-schema-"))
    app = create_app(Settings(data_dir=data_dir, database_url="sqlite+aiosqlite://"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as c:
        yield c


@pytest.fixture(scope="module")
async def hyper(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/schema", headers={"Accept": V3})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture(scope="module")
async def openapi(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/openapi.json")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", _PLACEHOLDER.sub("{}", path))


def _links(hyper: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in hyper["definitions"].items():
        for link in resource.get("links", []):
            yield name, link


def _pointer(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_schema_needs_no_credentials_and_speaks_v3(http: httpx.AsyncClient) -> None:
    r = await http.get("/schema", headers={"Accept": V3})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["request-id"]
    assert r.headers["etag"]
    again = await http.get("/schema", headers={"Accept": V3, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    missing = await http.get("/schema")
    assert missing.status_code == 400
    assert missing.json()["id"] == "missing_version"
    other = await http.get("/schema", headers={"Accept": "application/vnd.heroku+json; version=4"})
    assert other.status_code == 406


async def test_openapi_needs_neither_credentials_nor_the_version(http: httpx.AsyncClient) -> None:
    r = await http.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.1")
    assert r.headers["request-id"]


def test_hyper_schema_layout(hyper: dict[str, Any]) -> None:
    assert hyper["$schema"] == "http://interagent.github.io/interagent-hyper-schema"
    assert hyper["type"] == ["object"]
    assert set(hyper["properties"]) == set(hyper["definitions"])
    for name, resource in hyper["definitions"].items():
        assert hyper["properties"][name] == {"$ref": f"#/definitions/{name}"}
        assert resource["title"].startswith("Heroku Platform API - "), name
        assert resource["description"], name
        assert resource["stability"] in {"production", "development", "prototype", "deprecation"}
        assert resource["strictProperties"] is True
        assert resource["type"] == ["object"]
        for link in resource.get("links", []):
            assert set(link) >= HEROKU_STYLE, (name, link)
            assert link["description"], (name, link)
            assert link["title"], (name, link)
    app = hyper["definitions"]["app"]
    assert app["definitions"]["identity"] == {
        "anyOf": [
            {"$ref": "#/definitions/app/definitions/id"},
            {"$ref": "#/definitions/app/definitions/name"},
        ]
    }
    info = next(link for link in app["links"] if link["title"] == "Info")
    assert info["href"] == "/apps/{(%23%2Fdefinitions%2Fapp%2Fdefinitions%2Fidentity)}"
    assert info["targetSchema"] == {"$ref": "#/definitions/app"}
    assert app["properties"]["name"] == {"$ref": "#/definitions/app/definitions/name"}
    assert app["definitions"]["name"]["description"] == "name of app"
    create = next(link for link in app["links"] if link["title"] == "Create")
    assert create["schema"]["properties"]["name"]["description"] == "name of app"
    [listing] = [link for link in app["links"] if link["title"] == "List"]
    assert listing["rel"] == "instances"
    assert listing["ranges"] == ["id", "name", "updated_at"]
    assert listing["targetSchema"] == {"items": {"$ref": "#/definitions/app"}, "type": ["array"]}


def test_every_reference_and_href_resolves(hyper: dict[str, Any]) -> None:
    for ref in _refs(hyper):
        _pointer(hyper, ref)
    for _, link in _links(hyper):
        for encoded in _PLACEHOLDER.findall(link["href"]):
            _pointer(hyper, unquote(encoded))


def test_openapi_is_valid_openapi_3_1(openapi: dict[str, Any]) -> None:
    schemathesis.openapi.from_dict(openapi).validate()
    for ref in _refs(openapi):
        _pointer(openapi, ref)


def test_both_documents_describe_exactly_the_routes(
    hyper: dict[str, Any], openapi: dict[str, Any]
) -> None:
    in_schema = [(link["method"], _shape(link["href"])) for _, link in _links(hyper)]
    assert set(in_schema) == ROUTES
    # A route is one link, or as many as the reference documents for it.
    documented = Counter((e.method, _shape(e.path)) for e in reference.endpoints())
    for key, count in Counter(in_schema).items():
        assert count == 1 or count == documented[key], key
    in_openapi = {
        (method.upper(), _shape(path))
        for path, operations in openapi["paths"].items()
        for method in operations
    }
    assert in_openapi == ROUTES


def test_documents_agree_on_bodies_and_lists(
    hyper: dict[str, Any], openapi: dict[str, Any]
) -> None:
    ops = {
        (method.upper(), _shape(path)): op
        for path, operations in openapi["paths"].items()
        for method, op in operations.items()
    }
    for name, link in _links(hyper):
        op = ops[(link["method"], _shape(link["href"]))]
        assert op["tags"] == [name]
        json_body = "application/json" in op.get("requestBody", {}).get("content", {})
        assert ("schema" in link) == json_body, link
        assert link.get("ranges") == op.get("x-ranges"), link
        headers = [p["name"] for p in op["parameters"] if p["in"] == "header"]
        assert ("Range" in headers) == ("ranges" in link) or link["href"].startswith(
            ("/blobs/", "/streams/")
        ), link
        if "targetSchema" in link:
            assert any(
                "application/json" in answer.get("content", {})
                for status, answer in op["responses"].items()
                if status != "default"
            ), link


def test_credentials_are_documented(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["basic"]["scheme"] == "basic"
    paths = openapi["paths"]
    assert paths["/apps"]["get"]["security"] == [{"bearer": []}, {"basic": []}]
    assert paths["/schema"]["get"]["security"] == []
    assert paths["/blobs/{token}"]["put"]["security"] == []
    assert paths["/{app_name}.git/info/refs"]["get"]["security"] == [{"basic": []}]
    app_params = paths["/apps/{app_id_or_name}"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in app_params] == [
        ("app_id_or_name", "path", True)
    ]


def test_routes_documented_without_credentials_are_the_anonymous_ones(
    openapi: dict[str, Any],
) -> None:
    anonymous = {
        (method.upper(), _shape(path))
        for path, operations in openapi["paths"].items()
        for method, op in operations.items()
        if op["security"] == []
    }
    # /oauth/token takes the partner's client secret in its body.
    assert anonymous == set(ANONYMOUS) | {("POST", "/oauth/token")}


def test_each_implemented_reference_resource_is_present(hyper: dict[str, Any]) -> None:
    served = {(method, path) for method, path in ROUTES}
    implemented = {
        e.resource
        for e in reference.endpoints()
        if (e.method, re.sub(r"\{[^}]+\}", "{}", e.path)) in served
    }
    # Some resources of the reference have attributes only (add-on actions live in add-ons).
    assert {r for r in BUILT if reference.resources()[r].endpoints} <= implemented
    for name in implemented:
        resource = hyper["definitions"][name]
        note = reference.resources()[name]
        assert resource["title"] == f"Heroku Platform API - {note.title}"
        assert resource["stability"] == note.stability
        assert resource["description"] == note.description
        for endpoint in note.endpoints:
            key = (endpoint.method, re.sub(r"\{[^}]+\}", "{}", endpoint.path))
            if key not in served:
                continue
            described = {
                (link["title"], link["description"])
                for link in resource["links"]
                if (link["method"], _shape(link["href"])) == key
            }
            title = endpoint.title.removeprefix(note.title).strip()
            assert (title, endpoint.description) in described


def test_reference_notes_are_current() -> None:
    """reference.json is docs/platform-api-reference.md as /schema reads it; after changing
    the reference: `.venv/bin/python -m tests.contract.reference > <that file>`."""
    assert json.loads(NOTES.read_text()) == reference.notes()
    assert notes() == reference.notes()
