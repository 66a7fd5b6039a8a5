"""The Platform API reference (docs/platform-api-reference.md), parsed for tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "platform-api-reference.md"
_RESOURCE = re.compile(r'^## <a name="resource-([^"]+)">(.*)</a>')
_ENDPOINT = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) (/\S*)$")
_ATTR = re.compile(
    r"^\| \*\*(?:\[)?([^*\]]+)(?:\]\([^)]*\))?\*\* \| \*([^*]+)\* \| (.*?) \| (.*) \|$"
)
_STATUS = re.compile(r"^HTTP/1\.1 (\d{3})")
_STABILITY = re.compile(r"^Stability: `([^`]+)`")
_EXAMPLE = re.compile(r"`([^`]*)`")


@dataclass
class Doc:
    """What the reference says of one attribute or parameter."""

    type: str
    description: str
    example: Any = None


@dataclass
class Endpoint:
    resource: str
    title: str
    method: str
    path: str
    status: int | None = None
    example: Any = None
    description: str = ""
    required: dict[str, Doc] = field(default_factory=dict)
    optional: dict[str, Doc] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(self.path))
        self.pattern = re.compile(f"^{regex}$")


@dataclass
class Resource:
    id: str
    title: str
    attributes: dict[str, str] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    stability: str = ""
    description: str = ""
    docs: dict[str, Doc] = field(default_factory=dict)


def _doc(kind: str, description: str, example: str) -> Doc:
    # Descriptions carry notes after a line break (`**pattern:**`, `**one of:**`): the
    # first line is the description; examples may offer alternatives ("`a` or `b`").
    text = description.split("<br/>", maxsplit=1)[0].strip()
    m = _EXAMPLE.search(example)
    value: Any = None
    if m:
        try:
            value = json.loads(m.group(1))
        except ValueError:
            value = None
    return Doc(kind, text, value)


@cache
def resources() -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    current: Resource | None = None
    endpoint: Endpoint | None = None
    section = ""
    title = ""
    prose = ""
    lines = REFERENCE.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _RESOURCE.match(line)
        if m:
            current = found[m.group(1)] = Resource(m.group(1), m.group(2))
            endpoint, section, prose = None, "", ""
        elif line.startswith("### "):
            section = title = line[4:].strip()
            endpoint, prose = None, ""
        elif line.startswith("#### "):
            section = line[5:].strip()
        elif current is not None and (m := _STABILITY.match(line)):
            current.stability = m.group(1)
        elif current is not None and (m := _ENDPOINT.match(line)):
            endpoint = Endpoint(current.id, title, m.group(1), m.group(2), description=prose)
            current.endpoints.append(endpoint)
        elif current is not None and section == "Attributes" and (m := _ATTR.match(line)):
            current.attributes[m.group(1)] = m.group(2)
            current.docs[m.group(1)] = _doc(m.group(2), m.group(3), m.group(4))
        elif endpoint is not None and section.endswith(" Parameters") and (m := _ATTR.match(line)):
            params = endpoint.required if section.startswith("Required") else endpoint.optional
            params[m.group(1)] = _doc(m.group(2), m.group(3), m.group(4))
        elif current is not None and line.strip() and not line.startswith(("```", "|")):
            # The first paragraph under a resource or endpoint heading describes it.
            if section == "" and not current.description:
                current.description = line.strip()
            elif section == title and endpoint is None and not prose:
                prose = line.strip()
        elif endpoint is not None and (m := _STATUS.match(line)):
            endpoint.status = int(m.group(1))
        elif endpoint is not None and section == "Response Example" and line == "```json":
            j = lines.index("```", i + 1)
            endpoint.example = json.loads("\n".join(lines[i + 1 : j]))
            i = j
        i += 1
    return found


def endpoints() -> list[Endpoint]:
    return [e for r in resources().values() for e in r.endpoints]


def match(method: str, path: str) -> Endpoint | None:
    """The documented endpoint a concrete request path belongs to (most literal wins)."""
    candidates = [e for e in endpoints() if e.method == method and e.pattern.match(path)]
    if not candidates:
        return None
    return max(candidates, key=lambda e: len(re.sub(r"\{[^}]+\}", "", e.path)))


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "uuid":
        return isinstance(value, str) and bool(_UUID.match(value))
    if kind == "date-time":
        return isinstance(value, str) and bool(_DATE_TIME.match(value))
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "email":
        return isinstance(value, str) and "@" in value
    if kind == "uri":
        # The reference types some hostnames (domain.hostname) as uri too.
        return isinstance(value, str) and bool(value.strip())
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    raise AssertionError(f"unknown reference type {kind!r}")


def _check_items(resource: Resource, obj: dict[str, Any], name: str, kind: str) -> list[str]:
    """`items/attr`: `attr` of every element of the array `items` (when there is one)."""
    head, _, rest = name.partition("/")
    if head not in obj:
        return [f"{resource.id}: missing attribute {head}"]
    items = obj[head]
    if items is None and resource.attributes.get(head, "").startswith("nullable"):
        return []
    if not isinstance(items, list):
        return [f"{resource.id}: {head}={items!r} is not an array"]
    element = Resource(resource.id, resource.title, {rest: kind})
    return [p for item in items for p in check_object(element, item)]


def check_object(resource: Resource, obj: Any) -> list[str]:
    """Every documented attribute is present with its documented type."""
    if not isinstance(obj, dict):
        return [f"{resource.id}: expected an object, got {type(obj).__name__}"]
    problems: list[str] = []
    for name, kind in resource.attributes.items():
        if "/" in name:
            problems += _check_items(resource, obj, name, kind)
            continue
        path = name.split(":")
        value: Any = obj
        missing: bool | None = False
        for depth, part in enumerate(path):
            if not isinstance(value, dict):
                # A parent documented as nullable object may be null.
                parent_kind = resource.attributes.get(":".join(path[:depth]), "")
                missing = None if value is None and parent_kind.startswith("nullable") else True
                break
            if part not in value:
                missing = True
                break
            value = value[part]
        if missing is None:
            continue
        if missing:
            problems.append(f"{resource.id}: missing attribute {name}")
            continue
        nullable = kind.startswith("nullable ")
        base = kind.removeprefix("nullable ")
        if value is None:
            if not nullable:
                problems.append(f"{resource.id}: {name} is null but documented as {kind}")
        elif not _type_ok(base, value):
            problems.append(f"{resource.id}: {name}={value!r} is not a {kind}")
    return problems


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Check a JSON body the suite received against the documented attributes."""
    endpoint = match(method, path)
    if endpoint is None or status >= 300 or status == 202:
        return []
    resource = resources()[endpoint.resource]
    if not resource.attributes:
        return []
    items = body if isinstance(body, list) else [body]
    return [p for item in items for p in check_object(resource, item)]


def _link_title(resource: Resource, heading: str) -> str:
    # Headings repeat the resource's title ("App Info"); the schema's link title is the rest.
    for prefix in (resource.title, resource.title.rstrip("s")):
        if heading.startswith(prefix + " "):
            return heading[len(prefix) + 1 :]
    return heading


def _note(doc: Doc, required: bool | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {"description": doc.description}
    if doc.example is not None:
        note["example"] = doc.example
    if required is not None:
        note["required"] = required
    return note


def notes() -> dict[str, Any]:
    """What /schema takes from the reference: titles, stability, descriptions, examples.

    Tenku ships this as src/tenku/resources/schema/reference.json; regenerate it with
    `.venv/bin/python -m tests.contract.reference > src/tenku/resources/schema/reference.json`.
    """
    out: dict[str, Any] = {}
    for r in resources().values():
        links = []
        for e in r.endpoints:
            params = {k: _note(d, True) for k, d in e.required.items()}
            params.update({k: _note(d, False) for k, d in e.optional.items()})
            link: dict[str, Any] = {
                "method": e.method,
                "href": e.path,
                "title": _link_title(r, e.title),
                "description": e.description,
            }
            if params:
                link["params"] = params
            links.append(link)
        out[r.id] = {
            "title": r.title,
            "stability": r.stability,
            "description": r.description,
            "attributes": {k: _note(d) for k, d in r.docs.items()},
            "links": links,
        }
    return out


if __name__ == "__main__":
    print(json.dumps(notes(), indent=1, sort_keys=True))
