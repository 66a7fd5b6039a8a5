"""SMS numbers: set, confirmed with a texted code, then texted recovery codes."""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from tenku.cli import main
from tenku.config import Settings
from tenku.sms import Outbox, Webhook, sender
from tests.conftest import ApiClient, User
from tests.two_factor import CODE, STEP, basic, ctx_of, enable, fix_clock, login, totp

NUMBER = "+1 (555) 123-4567"
MASKED = "+1 ***-***-4567"
CONFIRM = "/users/~/sms-number/actions/confirm"
RECOVER = "/users/~/sms-number/actions/recover"


def texts(settings: Settings) -> list[dict[str, Any]]:
    return Outbox(settings.data_dir / "sms").messages()


def last_code(settings: Settings) -> str:
    found = re.search(r"\b(\d{8})\b", texts(settings)[-1]["body"])
    assert found is not None
    return found.group(1)


async def set_number(user: User, settings: Settings, **headers: str) -> None:
    r = await user.patch(
        "/account", json={"sms_number": NUMBER, "password": user.password}, headers=headers
    )
    assert r.status_code == 200, r.text
    r = await user.post(CONFIRM, json={"code": last_code(settings)})
    assert r.status_code == 200, r.text
    assert r.json() == {"sms_number": MASKED}


async def test_a_new_number_counts_once_confirmed(alice: User, settings: Settings) -> None:
    assert (await alice.get("/users/~/sms-number")).json() == {"sms_number": None}
    r = await alice.patch("/account", json={"sms_number": NUMBER})
    assert r.status_code == 422
    r = await alice.patch("/account", json={"sms_number": "555", "password": alice.password})
    assert r.status_code == 422
    assert "international" in r.json()["message"]
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200
    assert r.json()["sms_number"] is None
    [sent] = texts(settings)
    assert sent["to"] == "+15551234567"
    code = last_code(settings)
    # Texts are kept for Tenku alone.
    for path in (settings.data_dir / "sms").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = await alice.post(CONFIRM, json={"code": "00000000" if code != "00000000" else "1"})
    assert r.status_code == 422
    r = await alice.post(CONFIRM, json={"code": code})
    assert r.status_code == 200
    assert r.json() == {"sms_number": MASKED}
    assert (await alice.get("/account")).json()["sms_number"] == MASKED
    assert (await alice.get(f"/users/{alice.email}/sms-number")).json()["sms_number"] == MASKED
    # The code is used up.
    assert (await alice.post(CONFIRM, json={"code": code})).status_code == 422


async def test_others_numbers_are_not_visible(alice: User, bob: User) -> None:
    assert (await alice.get(f"/users/{bob.email}/sms-number")).status_code == 404
    assert (await alice.post(f"/users/{bob.id}/sms-number/actions/recover")).status_code == 404


async def test_other_countries_are_masked_too(alice: User, settings: Settings) -> None:
    r = await alice.patch(
        "/account", json={"sms_number": "0044 20 7946 0958", "password": alice.password}
    )
    assert r.status_code == 200
    assert texts(settings)[-1]["to"] == "+442079460958"
    r = await alice.post(CONFIRM, json={"code": last_code(settings)})
    assert r.json() == {"sms_number": "+********0958"}


async def test_confirmation_codes_expire(api: ApiClient, alice: User, settings: Settings) -> None:
    ctx = fix_clock(api)
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200
    ctx.clock.advance(timedelta(minutes=10))
    r = await alice.post(CONFIRM, json={"code": last_code(settings)})
    assert r.status_code == 422


async def test_a_texted_recovery_code_is_a_second_factor_once(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    ctx = fix_clock(api)
    await set_number(alice, settings)
    r = await alice.post(RECOVER)
    assert r.status_code == 422  # two-factor is not on
    seed = await enable(api, alice)
    # The way in for someone who has the password but not the device: no second factor.
    r = await api.request("POST", RECOVER, headers=basic(alice.email, alice.password))
    assert r.status_code == 200, r.text
    assert r.json() == {"sms_number": MASKED}
    assert texts(settings)[-1]["to"] == "+15551234567"
    code = last_code(settings)
    r = await api.request("POST", RECOVER, headers=basic(alice.email, "wrong"))
    assert r.status_code == 401
    # A password login is no login elsewhere without the second factor.
    r = await api.request("GET", "/users/~/sms-number", headers=basic(alice.email, alice.password))
    assert r.status_code == 401
    assert (await login(api, alice, code)).status_code == 201
    assert (await login(api, alice, code)).status_code == 401
    # A later code replaces an earlier one; and they last ten minutes.
    await alice.post(RECOVER)
    first = last_code(settings)
    await alice.post(RECOVER)
    second = last_code(settings)
    assert (await login(api, alice, first)).status_code == 401
    ctx.clock.advance(timedelta(minutes=10))
    assert (await login(api, alice, second)).status_code == 401
    # Changing the number takes the second factor when two-factor is on.
    r = await alice.patch("/account", json={"sms_number": None, "password": alice.password})
    assert r.status_code == 403
    assert r.json()["id"] == "two_factor"
    ctx.clock.advance(STEP)
    r = await alice.patch(
        "/account",
        json={"sms_number": None, "password": alice.password},
        headers={CODE: totp(seed, ctx.clock())},
    )
    assert r.status_code == 200
    assert r.json()["sms_number"] is None


async def test_texts_to_one_account_are_limited(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    ctx = fix_clock(api)
    for _ in range(5):
        r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
        assert r.status_code == 200
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 429
    assert "text messages" in r.json()["message"]
    assert len(texts(settings)) == 5
    ctx.clock.advance(timedelta(hours=1))
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200


async def test_wrong_confirmation_codes_lock_like_second_factors(
    api: ApiClient, alice: User, settings: Settings
) -> None:
    fix_clock(api)
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200
    code = last_code(settings)
    wrong = "11111111" if code != "11111111" else "22222222"
    for _ in range(5):
        assert (await alice.post(CONFIRM, json={"code": wrong})).status_code == 422
    assert (await alice.post(CONFIRM, json={"code": code})).status_code == 429


class Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 204

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[Gateway]]]:
    handler = type("Handler", (Gateway,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_webhook_gets_the_texts_when_configured(
    api: ApiClient, alice: User, settings: Settings, gateway: tuple[str, type[Gateway]]
) -> None:
    url, handler = gateway
    assert isinstance(sender(settings), Outbox)
    configured = sender(replace(settings, sms_webhook_url=url))
    assert configured == Webhook(url)
    ctx_of(api).sms = configured
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200
    [sent] = handler.received
    assert sent["to"] == "+15551234567"
    code = re.search(r"\b(\d{8})\b", sent["body"])
    assert code is not None
    assert not (settings.data_dir / "sms").exists()
    assert (await alice.post(CONFIRM, json={"code": code.group(1)})).status_code == 200
    # A gateway that refuses: the caller hears that the text did not go.
    handler.status = 500
    r = await alice.patch(
        "/account", json={"sms_number": "+15550000000", "password": alice.password}
    )
    assert r.status_code == 503
    assert r.json()["id"] == "service_unavailable"


async def test_operators_list_the_outbox(alice: User, settings: Settings) -> None:
    r = await alice.patch("/account", json={"sms_number": NUMBER, "password": alice.password})
    assert r.status_code == 200
    result = CliRunner().invoke(
        main, ["sms", "list", "--data-dir", str(settings.data_dir)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    when, to, body = line.split("\t")
    assert to == "+15551234567"
    assert last_code(settings) in body
    assert datetime.fromisoformat(when).tzinfo is not None
