"""Two-factor accounts through the real CLI: `heroku 2fa` and `heroku login --interactive`."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pexpect
import pyotp
import pytest

from tests.e2e.conftest import CLI_TIMEOUT, V3, Account, Heroku, LiveServer, json_of, plain
from tests.e2e.test_auth import netrc_entries

pytestmark = pytest.mark.e2e
CODE = "Heroku-Two-Factor-Code"


def two_factor_account(server: LiveServer) -> tuple[Account, str]:
    """A new account with two-factor on, turned on over the API: (account, seed)."""
    account = server.create_user(f"twofa-{uuid.uuid4().hex[:8]}@example.com")
    with httpx.Client(
        base_url=server.url,
        headers={"Accept": V3, "Authorization": f"Bearer {account.key}"},
        timeout=30,
        trust_env=False,
    ) as api:
        url = json_of(api.post("/account/otp-secret"))["url"]
        seed = parse_qs(urlsplit(url).query)["secret"][0]
        r = api.patch(
            "/account",
            json={"two_factor_authentication": True, "password": account.password},
            headers={CODE: pyotp.TOTP(seed).now()},
        )
        assert r.status_code == 200, r.text
    return account, seed


def next_code(seed: str) -> str:
    # The next step's code: the server takes one step of drift, and the current step's
    # code may be the one that turned two-factor on (each step is good once).
    return pyotp.TOTP(seed).at(time.time() + 30)


def login(heroku: Heroku, account: Account, code: str) -> tuple[int, str]:
    """`heroku login --interactive` on a pseudo-terminal, answering the code prompt."""
    env = heroku.env({"HEROKU_API_KEY": None, "TERM": "dumb"})
    child = pexpect.spawn(
        str(heroku.binary),
        ["login", "--interactive"],
        env=env,
        cwd=str(heroku.home),
        encoding="utf-8",
        timeout=CLI_TIMEOUT,
        dimensions=(40, 200),
    )
    try:
        child.expect("Email")
        child.sendline(account.email)
        child.expect("Password")
        child.sendline(account.password)
        # The server's 403 two_factor is what makes the CLI ask.
        child.expect("Two-factor code")
        child.sendline(code)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    transcript = plain(str(child.before or ""))
    return int(child.exitstatus if child.exitstatus is not None else -1), transcript


def test_2fa_status(heroku_bin: Path, server: LiveServer, tmp_path: Path) -> None:
    plain_account = server.create_user(f"plain-{uuid.uuid4().hex[:8]}@example.com")
    _, out, _ = Heroku(heroku_bin, server, plain_account.key, tmp_path / "a")("2fa")
    assert out.strip() == "Two-factor authentication is not enabled"
    account, _ = two_factor_account(server)
    _, out, _ = Heroku(heroku_bin, server, account.key, tmp_path / "b")("2fa")
    assert out.strip() == "Two-factor authentication is enabled"


def test_login_interactive_asks_for_the_code(
    heroku_bin: Path, server: LiveServer, tmp_path: Path
) -> None:
    account, seed = two_factor_account(server)
    heroku = Heroku(heroku_bin, server, None, tmp_path / "home")
    code, transcript = login(heroku, account, next_code(seed))
    assert code == 0, transcript
    assert f"Logged in as {account.email}" in transcript
    login_, token = netrc_entries(heroku.home)[f"127.0.0.1:{server.port}"]
    assert login_ == account.email
    assert token
    assert token != account.key
    _, out, _ = heroku("auth:whoami", env_extra={"HEROKU_API_KEY": None})
    assert out == account.email + "\n"


def test_login_interactive_with_a_wrong_code(
    heroku_bin: Path, server: LiveServer, tmp_path: Path
) -> None:
    account, seed = two_factor_account(server)
    heroku = Heroku(heroku_bin, server, None, tmp_path / "home")
    wrong = "000000" if next_code(seed) != "000000" else "111111"
    code, transcript = login(heroku, account, wrong)
    assert code != 0, transcript
    assert "Invalid two-factor code" in transcript
    assert netrc_entries(heroku.home) == {}
