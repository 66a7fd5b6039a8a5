"""The authorization-code flow in a real browser: a small relying party on loopback sends
Chromium to Tenku's approval page, the user logs in and allows (or denies), and the relying
party exchanges the code with its secret and calls the API with the token it got.

Chromium is Debian's (`scripts/install-system dev` installs it), driven by Playwright's
Python package; Playwright never downloads a browser here. A failing test leaves a
screenshot of the page in its own output directory.
"""

from __future__ import annotations

import contextlib
import html
import os
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.e2e.conftest import REPO, V3, Account, LiveServer, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed now if it is missing and this machine allows it."""
    if not CHROMIUM.exists():
        done = subprocess.run(
            [str(REPO / "scripts" / "install-system"), "dev"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if not CHROMIUM.exists():
            problem = (
                f"Chromium is not at {CHROMIUM} and `scripts/install-system dev` could not "
                f"install it (it needs root and apt-get): {done.stderr.strip()[-300:]}"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(problem)
            pytest.skip(problem)
    return CHROMIUM


@dataclass
class RelyingParty:
    """A web application that signs its users in with Tenku (the code flow, server side)."""

    tenku: str
    client_id: str = ""
    secret: str = ""
    port: int = field(default_factory=free_port)
    states: set[str] = field(default_factory=set)
    # What each callback got: the account it read with its token, or the error.
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/callback"

    def login_url(self, scope: str) -> str:
        state = secrets.token_urlsafe(16)
        self.states.add(state)
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
        return f"{self.tenku}/oauth/authorize?{urlencode(query)}"

    def callback(self, query: dict[str, str]) -> str:
        if query.get("state") not in self.states:
            raise AssertionError(f"unknown state in {query}")
        self.states.discard(query["state"])
        if "error" in query:
            self.results.append({"error": query["error"]})
            return f"Not signed in: {query['error']}"
        with httpx.Client(base_url=self.tenku, headers={"Accept": V3}, trust_env=False) as http:
            grant = {"code": query["code"], "type": "authorization_code"}
            r = http.post("/oauth/tokens", json={"client": {"secret": self.secret}, "grant": grant})
            r.raise_for_status()
            tokens = r.json()
            bearer = {"Authorization": f"Bearer {tokens['access_token']['token']}"}
            account = http.get("/account", headers=bearer).json()
            apps = http.get("/apps", headers=bearer)
            # Later, the access token is renewed with the refresh token and the secret.
            renewed = http.post(
                "/oauth/tokens",
                json={
                    "client": {"secret": self.secret},
                    "grant": {"type": "refresh_token"},
                    "refresh_token": {"token": tokens["refresh_token"]["token"]},
                },
            )
            renewed.raise_for_status()
            again = {"Authorization": f"Bearer {renewed.json()['access_token']['token']}"}
            self.results.append(
                {
                    "email": account["email"],
                    "apps_status": apps.status_code,
                    "old_token_status": http.get("/account", headers=bearer).status_code,
                    "renewed_status": http.get("/account", headers=again).status_code,
                    "tokens": tokens,
                }
            )
        return f"Signed in as {account['email']}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        party = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/login":
                    self.send_response(302)
                    self.send_header("Location", party.login_url(query.get("scope", "identity")))
                    self.end_headers()
                    return
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                try:
                    text = party.callback(query)
                except Exception as exc:
                    party.results.append({"failure": repr(exc)})
                    text = f"Relying party failed: {exc!r}"
                body = f"<!DOCTYPE html><title>RP</title><p id=result>{html.escape(text)}</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=10)


@pytest.fixture
def party(server: LiveServer, api: httpx.Client) -> Iterator[RelyingParty]:
    rp = RelyingParty(tenku=server.url)
    r = api.post("/oauth/clients", json={"name": "Loopback RP", "redirect_uri": rp.redirect_uri})
    assert r.status_code == 201, r.text
    rp.client_id, rp.secret = r.json()["id"], r.json()["secret"]
    with rp.serving():
        yield rp
    api.delete(f"/oauth/clients/{rp.client_id}")


@pytest.fixture
async def browser(chromium: Path, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            await context.close()


@contextlib.asynccontextmanager
async def screenshot_on_failure(page: Page, out: Path) -> AsyncIterator[None]:
    try:
        yield
    except BaseException:
        shot = out / "failure.png"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot} ({page.url})")
        raise


async def test_sign_in_with_tenku(
    browser: BrowserContext, party: RelyingParty, owner: Account, tmp_path: Path
) -> None:
    page = await browser.new_page()
    async with screenshot_on_failure(page, tmp_path):
        await page.goto(f"{party.url}/login?scope=identity,read")
        assert page.url.startswith(f"{party.tenku}/oauth/authorize?")
        assert await page.title() == "Authorize Loopback RP · Tenku"
        scopes = await page.locator(".scopes li").all_inner_texts()
        assert [s.split(":")[0] for s in scopes] == ["identity", "read"]
        await page.screenshot(path=str(tmp_path / "approval-page.png"))

        # A wrong password shows the page again, with the email kept.
        await page.fill("#email", owner.email)
        await page.fill("#password", "not the password")
        await page.click("button.approve")
        await page.wait_for_selector(".error")
        assert "Invalid email or password." in await page.inner_text(".error")
        assert await page.input_value("#email") == owner.email
        assert party.results == []

        await page.fill("#password", owner.password)
        async with page.expect_navigation(url=f"{party.redirect_uri}?*"):
            await page.click("button.approve")
        assert await page.inner_text("#result") == f"Signed in as {owner.email}"
        [result] = party.results
        assert result["email"] == owner.email
        assert result["apps_status"] == 200
        # The refresh gave a new access token and retired the old one.
        assert (result["old_token_status"], result["renewed_status"]) == (401, 200)
        assert result["tokens"]["access_token"]["expires_in"] > 28000


async def test_deny(browser: BrowserContext, party: RelyingParty, tmp_path: Path) -> None:
    page = await browser.new_page()
    async with screenshot_on_failure(page, tmp_path):
        await page.goto(f"{party.url}/login")
        async with page.expect_navigation(url=f"{party.redirect_uri}?*"):
            await page.click("button.deny")
        assert await page.inner_text("#result") == "Not signed in: access_denied"
        assert party.results == [{"error": "access_denied"}]
        assert "code=" not in page.url
