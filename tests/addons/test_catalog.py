"""Manifest loading: Heroku's kensa checks, Tenku's plan extension, operator files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tenku.addons.catalog import CatalogError, load_catalog, parse_manifest

PARTNER: dict[str, Any] = {
    "id": "errorbucket",
    "name": "Errorbucket",
    "api": {
        "config_vars": ["ERRORBUCKET_URL"],
        "password": "0123456789abcdef0123456789abcdef",
        "sso_salt": "salt",
        "regions": ["us"],
        "requires": ["syslog_drain"],
        "production": {
            "base_url": "https://errorbucket.example.com",
            "sso_url": "https://errorbucket.example.com/sso/login",
        },
        "test": {"base_url": "http://localhost:4567/heroku/resources"},
        "version": "3",
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(PARTNER)
    target = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return data


def test_a_real_partner_manifest_loads_unchanged() -> None:
    spec = parse_manifest(PARTNER, "test")
    assert spec.slug == "errorbucket"
    assert spec.config_vars_prefix == "ERRORBUCKET"
    assert spec.partner is not None
    assert spec.partner.base_url == "https://errorbucket.example.com/heroku/resources"
    assert spec.partner.client_secret == PARTNER["api"]["password"]
    assert spec.first_attachment == spec.color_base == "ERRORBUCKET"
    [plan] = spec.plans
    assert (plan.name, plan.default, plan.price_cents) == ("errorbucket:test", True, 0)
    assert spec.available_in("us")
    assert not spec.available_in("eu")
    assert not spec.supports_sharing
    assert not spec.supports_multiple_installations


def test_prefix_defaults_from_the_id() -> None:
    data = _with("id", "fast-db")
    data["api"]["config_vars"] = ["FAST_DB_URL"]
    assert parse_manifest(data, "test").config_vars_prefix == "FAST_DB"


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        ("id", ..., "`id`"),
        ("id", 12, "`id`"),
        ("id", "Error Bucket", "lowercase"),
        ("api", "nope", "`api`"),
        ("api.username", "x", "deprecated"),
        ("api.password", "", "`password`"),
        ("api.production", ..., "`api.production`"),
        ("api.production", {"base_url": "http://errorbucket.example.com"}, "https"),
        ("api.config_vars", ["errorbucket_url"], "upper case"),
        ("api.config_vars", ["OTHER_URL"], "ERRORBUCKET_"),
        ("api.config_vars", "ERRORBUCKET_URL", "array"),
        ("api.regions", [], "at least one"),
        ("api.requires", ["teleport"], "teleport"),
        ("plans", [{"name": "a", "default": True}, {"name": "b", "default": True}], "one plan"),
        ("plans", [{"name": "a"}, {"name": "a"}], "unique"),
        ("plans", [{"name": "a", "price": {"cents": -1}}], "cents"),
        ("plans", [{"name": "a", "price": {"cents": 1, "unit": "year"}}], "unit"),
        ("plans", [{"name": "Big Plan"}], "lowercase"),
        ("provider", "mongodb", "`provider`"),
        ("state", "launched", "`state`"),
        ("attachments", {"first": "lower"}, "attachment name"),
    ],
)
def test_bad_manifests_are_refused(path: str, value: Any, complaint: str) -> None:
    with pytest.raises(CatalogError, match=complaint):
        parse_manifest(_with(path, value), "file.json")


def test_loopback_http_is_allowed_for_local_partners() -> None:
    data = _with("api.production", {"base_url": "http://127.0.0.1:4567/heroku/resources/"})
    spec = parse_manifest(data, "test")
    assert spec.partner is not None
    assert spec.partner.base_url == "http://127.0.0.1:4567/heroku/resources"
    legacy = parse_manifest(_with("api.production", "https://eb.example.com"), "test")
    assert legacy.partner is not None
    assert legacy.partner.base_url.endswith("/heroku/resources")


def test_plans_extension() -> None:
    data = _with(
        "plans",
        [
            {"name": "errorbucket:free", "human_name": "Free"},
            {
                "name": "pro",
                "description": "For teams",
                "price": {"cents": 2500, "unit": "month", "contract": True},
                "default": True,
                "state": "beta",
            },
        ],
    )
    spec = parse_manifest(data, "test")
    free, pro = spec.plans
    assert (free.slug, free.default, free.description) == ("free", False, "Errorbucket Free")
    assert (pro.default, pro.price_cents, pro.contract, pro.state) == (True, 2500, True, "beta")
    assert spec.default_plan is pro
    assert spec.plan("errorbucket:pro") is pro
    assert spec.plan(str(pro.id)) is pro


def test_operator_files(tmp_path: Path) -> None:
    folder = tmp_path / "addons"
    folder.mkdir()
    (folder / "one.json").write_text(json.dumps(PARTNER))
    second = _with("id", "queue")
    second["api"]["config_vars"] = ["QUEUE_URL"]
    third = _with("id", "mailer")
    third["api"]["config_vars"] = ["MAILER_URL"]
    (folder / "many.json").write_text(json.dumps({"services": [second, third]}))
    (folder / "notes.txt").write_text("ignored")
    catalog = load_catalog(folder)
    assert {"heroku-postgresql", "heroku-redis", "errorbucket", "queue", "mailer"} == set(
        catalog.services
    )
    assert catalog.find_plan("queue").name == "queue:test"  # type: ignore[union-attr]
    assert catalog.find_plan("heroku-postgresql").slug == "hobby-dev"  # type: ignore[union-attr]
    assert catalog.find_plan("heroku-redis:premium-1") is not None
    assert catalog.find_plan("heroku-redis:nope") is None
    assert catalog.find_plan("nope") is None
    assert load_catalog(folder / "one.json").services.keys() >= {"errorbucket"}
    assert set(load_catalog(tmp_path / "missing").services) == {"heroku-postgresql", "heroku-redis"}


def test_broken_files_name_themselves(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"x\.json"):
        load_catalog(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps([PARTNER, PARTNER]))
    with pytest.raises(CatalogError, match="defined twice"):
        load_catalog(tmp_path)
