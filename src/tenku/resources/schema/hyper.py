"""`GET /schema`: the API as a JSON hyper-schema, laid out as Heroku's own.

Resources are keyed by the reference's ids; each holds its attributes (the properties of
the model its links answer with), an `identity`, and its links, whose hrefs name their
parameters with Heroku's `{(%23%2Fdefinitions%2Fapp%2Fdefinitions%2Fidentity)}`.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from tenku.resources.schema.links import Link, Param, is_list, item_of, notes

SCHEMA = "http://interagent.github.io/interagent-hyper-schema"
RESOURCE_SCHEMA = "http://json-schema.org/draft-04/hyper-schema"
DESCRIPTION = (
    "The platform API empowers developers to automate, extend and combine Heroku with other "
    "services. Tenku serves the resources below; send "
    "`Accept: application/vnd.heroku+json; version=3`."
)
# Resources Tenku serves beyond the reference: its own, and liable to change.
OWN_STABILITY = "development"
SELF = {
    "description": "implicit reference to the account the credentials belong to",
    "enum": ["~"],
    "type": ["string"],
}

Describe = Callable[[str], dict[str, Any]]


def pointer(resource: str, name: str) -> str:
    return f"#/definitions/{resource}/definitions/{name}"


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with every `$ref` into `$defs` replaced by what it names."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            # A model's docstring speaks of the class, not of the attribute that holds it.
            target = {
                k: v for k, v in defs[ref.removeprefix("#/$defs/")].items() if k != "description"
            }
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return _resolve({**target, **rest}, defs)
        return {k: _resolve(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_resolve(v, defs) for v in schema]
    return schema


def json_schema(annotation: Any, mode: str) -> dict[str, Any]:
    """Pydantic's JSON schema of `annotation`, with its definitions inlined."""
    raw = TypeAdapter(annotation).json_schema(
        mode="validation" if mode == "validation" else "serialization"
    )
    resolved: dict[str, Any] = _resolve(raw, raw.get("$defs", {}))
    return resolved


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return list(kind)
    return [kind] if isinstance(kind, str) else []


def draft4(schema: dict[str, Any], describe: Describe, path: str = "") -> dict[str, Any]:
    """A 2020-12 schema as Heroku's schemas write it: type lists, `strictProperties`,
    `patternProperties` for open mappings, descriptions from the reference."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        nullable = any(o.get("type") == "null" for o in options)
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1 and "type" in rest[0]:
            single = draft4(rest[0], describe, path)
            if nullable:
                single["type"] = [*single["type"], "null"]
            return {**_notes(schema, describe, path), **single}
        converted = [draft4(o, describe, path) for o in rest]
        if nullable:
            converted.append({"type": ["null"]})
        return {**_notes(schema, describe, path), "anyOf": converted}
    out: dict[str, Any] = _notes(schema, describe, path)
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key in ("enum", "format", "pattern", "minLength", "maxLength", "minimum", "maximum"):
        if key in schema:
            out[key] = schema[key]
    types = _types(schema)
    if types:
        out["type"] = types
    if "properties" in schema:
        prefix = f"{path}:" if path else ""
        out["properties"] = {
            name: draft4(prop, describe, prefix + name)
            for name, prop in schema["properties"].items()
        }
        if schema.get("required"):
            out["required"] = list(schema["required"])
    extra = schema.get("additionalProperties")
    if extra is False:
        out["strictProperties"] = True
        out["additionalProperties"] = False
    elif isinstance(extra, dict):
        value = draft4(extra, lambda _: {}, path)
        pattern = schema.get("propertyNames", {}).get("pattern", "^.*$")
        out["patternProperties"] = {pattern: value}
    for pattern, value in schema.get("patternProperties", {}).items():
        out.setdefault("patternProperties", {})[pattern] = draft4(value, lambda _: {}, path)
    if "items" in schema:
        out["items"] = draft4(schema["items"], describe, f"{path}/" if path else "")
    return out


def _notes(schema: dict[str, Any], describe: Describe, path: str) -> dict[str, Any]:
    out = describe(path) if path else {}
    if "description" not in out and schema.get("description"):
        out = {**out, "description": schema["description"]}
    return dict(out)


def _attribute_notes(resource: str) -> Describe:
    attributes = notes().get(resource, {}).get("attributes", {})

    def describe(path: str) -> dict[str, Any]:
        found: dict[str, Any] = attributes.get(path.rstrip("/"), {})
        return {k: v for k, v in found.items() if k in ("description", "example")}

    return describe


def _primary(links: list[Link]) -> type[BaseModel] | None:
    """The model a resource's links answer with most: its attributes."""
    counted: Counter[type[BaseModel]] = Counter()
    for link in links:
        model = item_of(link.response)
        if isinstance(model, type) and issubclass(model, BaseModel) and model.model_fields:
            counted[model] += 2 if link.documented else 1
    return counted.most_common(1)[0][0] if counted else None


Identities = dict[str, tuple[str, ...]]


def _href(link: Link, identities: Identities) -> str:
    href = link.path
    for param in link.params:
        target = quote(pointer(param.resource, definition_of(param, identities)), safe="")
        href = href.replace("{" + param.name + "}", "{(" + target + ")}")
    return href


def definition_of(param: Param, identities: Identities) -> str:
    """`identity` when the parameter takes any of the resource's keys, else the one key."""
    if len(param.alternatives) > 1 or param.alternatives == identities.get(param.resource):
        return "identity"
    return param.alternatives[0]


def identities_of(links: list[Link]) -> Identities:
    """Each resource's identity: the most keys any path parameter names it by."""
    found: Identities = {}
    for link in links:
        for param in link.params:
            if len(param.alternatives) > len(found.get(param.resource, ())):
                found[param.resource] = param.alternatives
    return found


def _target(link: Link, primary: type[BaseModel] | None) -> dict[str, Any] | None:
    if link.response is None:
        return None
    ref = {"$ref": f"#/definitions/{link.resource}"}
    if primary is not None and link.response is primary:
        return ref
    if primary is not None and is_list(link.response) and item_of(link.response) is primary:
        return {"items": ref, "type": ["array"]}
    return draft4(json_schema(link.response, "serialization"), _attribute_notes(link.resource))


def _request(link: Link) -> dict[str, Any] | None:
    if link.request is None:
        return None
    params = link.body_notes
    attributes = _attribute_notes(link.resource)

    def describe(path: str) -> dict[str, Any]:
        found = params.get(path) or {}
        picked = {k: v for k, v in found.items() if k in ("description", "example")}
        return picked or attributes(path)

    schema = draft4(json_schema(link.request, "validation"), describe)
    schema.pop("description", None)
    return schema


def _link(link: Link, primary: type[BaseModel] | None, identities: Identities) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": link.description,
        "href": _href(link, identities),
        "method": link.method,
        "rel": link.rel,
        "title": link.title,
    }
    if link.ranges:
        out["ranges"] = link.ranges
    request = _request(link)
    if request is not None:
        out["schema"] = request
    target = _target(link, primary)
    if target is not None:
        out["targetSchema"] = target
    return out


def _module_doc(links: list[Link]) -> str:
    for link in links:
        doc = sys.modules[link.module].__doc__ if link.module in sys.modules else None
        if doc:
            return " ".join(doc.strip().split("\n\n")[0].split())
    return ""


def _resource(
    resource: str, links: list[Link], wanted: set[tuple[str, ...]], identities: Identities
) -> dict[str, Any]:
    note = notes().get(resource)
    primary = _primary(links)
    describe = _attribute_notes(resource)
    definitions: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    if primary is not None:
        schema = json_schema(primary, "serialization")
        for name, prop in schema.get("properties", {}).items():
            definitions[name] = {**draft4(prop, describe, name), "readOnly": True}
            properties[name] = {"$ref": pointer(resource, name)}
    names = {name for alternatives in wanted for name in alternatives}
    for name in sorted(names - definitions.keys()):
        if name == "self":
            definitions[name] = dict(SELF)
        else:
            definitions[name] = {**describe(name), "type": ["string"]}
            definitions[name].setdefault("description", f"{name} of the {resource}")
    identity = identities.get(resource)
    if identity:
        definitions["identity"] = {"anyOf": [{"$ref": pointer(resource, n)} for n in identity]}
    title = note["title"] if note else resource.replace("-", " ").title()
    out: dict[str, Any] = {
        "$schema": RESOURCE_SCHEMA,
        "description": note["description"] if note else _module_doc(links),
        "stability": note["stability"] if note else OWN_STABILITY,
        "strictProperties": True,
        "title": f"Heroku Platform API - {title}",
        "type": ["object"],
        "definitions": definitions,
        "links": [_link(link, primary, identities) for link in links],
    }
    if properties:
        out["properties"] = properties
    return out


def hyper_schema(links: list[Link], base_url: str) -> dict[str, Any]:
    identities = identities_of(links)
    by_resource: dict[str, list[Link]] = {}
    wanted: dict[str, set[tuple[str, ...]]] = {}
    for link in links:
        by_resource.setdefault(link.resource, []).append(link)
        for param in link.params:
            wanted.setdefault(param.resource, set()).add(param.alternatives)
    names = sorted(set(by_resource) | set(wanted))
    definitions = {
        name: _resource(name, by_resource.get(name, []), wanted.get(name, set()), identities)
        for name in names
    }
    return {
        "$schema": SCHEMA,
        "type": ["object"],
        "definitions": definitions,
        "properties": {name: {"$ref": f"#/definitions/{name}"} for name in names},
        "description": DESCRIPTION,
        "id": f"{base_url}/schema#",
        "links": [
            {"href": base_url, "rel": "self"},
            {
                "href": "/schema",
                "method": "GET",
                "rel": "self",
                "targetSchema": {"additionalProperties": True},
            },
        ],
        "title": "Heroku Platform API",
    }
