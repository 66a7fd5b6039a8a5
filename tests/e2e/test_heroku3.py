"""A smoke test with heroku3, the Python client, against the live server.

heroku3 has no base-URL parameter; its instance attribute is set before the first request so
that nothing ever goes to the real API. It authenticates with Basic auth (empty user, key as
password), sends `version=3.cedar-acm` and a Range on every list, and addresses most
mutations by app UUID.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Account, LiveServer, json_of, unique_app_name

heroku3 = pytest.importorskip("heroku3")
requests = pytest.importorskip("requests")

pytestmark = [pytest.mark.e2e, pytest.mark.backend("postgresql")]


@pytest.fixture
def h3(server: LiveServer, owner: Account) -> Iterator[object]:
    session = requests.Session()
    session.trust_env = False
    client = heroku3.api.Heroku(session=session)
    client._heroku_url = server.url
    assert client.authenticate(owner.key) is True
    try:
        yield client
    finally:
        session.close()


def test_heroku3_smoke(h3: object, api: httpx.Client) -> None:
    client: heroku3.api.Heroku = h3  # type: ignore[assignment]
    assert client.account().email == "owner@example.com"

    name = unique_app_name("h3")
    app = client.create_app(name=name, region_id_or_name="us", stack_id_or_name="heroku-24")
    assert app.name == name
    assert name in [a.name for a in client.apps()]

    app.update_config({"FOO": "bar", "BAR": "x"})
    app.update_config({"BAR": None})
    assert json_of(api.get(f"/apps/{name}/config-vars")) == {"FOO": "bar"}
    assert [(r.version, r.description) for r in app.releases()] == [
        (1, "Initial release"),
        (2, "Set FOO, BAR config vars"),
        (3, "Remove BAR config vars"),
    ]

    app.enable_maintenance_mode()
    assert json_of(api.get(f"/apps/{name}"))["maintenance"] is True
    app.disable_maintenance_mode()
    assert client.app(name).maintenance is False

    renamed = unique_app_name("h3")
    app.rename(renamed)
    assert json_of(api.get(f"/apps/{renamed}"))["id"] == app.id

    app.delete()
    assert api.get(f"/apps/{renamed}").status_code == 404


def test_heroku3_create_app_with_its_default_stack(h3: object, api: httpx.Client) -> None:
    client: heroku3.api.Heroku = h3  # type: ignore[assignment]
    # heroku3 sends {"stack": "cedar"} unless told otherwise.
    app = client.create_app(name=unique_app_name("h3"))
    held = json_of(api.get(f"/apps/{app.name}"))
    assert held["id"] == app.id
    assert held["stack"]["name"] == app.stack.name
    app.delete()
