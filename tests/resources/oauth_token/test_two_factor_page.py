"""The approval page asks accounts with two-factor on for their code, as every password
login does (one check: `tenku.web.login.password_login`)."""

from __future__ import annotations

from tests.conftest import ApiClient, User
from tests.resources.oauth_token.flow import decide, make_client, open_page, redirected
from tests.two_factor import STEP, T0, enable, fix_clock, totp


async def test_the_page_takes_the_second_factor(api: ApiClient, alice: User, bob: User) -> None:
    fix_clock(api)
    seed = await enable(api, alice)
    client = await make_client(bob)
    page = await open_page(api, client["id"], state="s1")

    # The right password alone is not enough: the page asks for the code.
    asked = await decide(api, page, email=alice.email)
    assert asked.status_code == 401
    assert "location" not in asked.headers
    assert "Enter the code from your authenticator app" in asked.text

    wrong = await decide(api, asked.text, email=alice.email, code="000000")
    assert wrong.status_code == 401
    assert "Invalid two-factor code." in wrong.text

    fix_clock(api, T0 + STEP)
    back = redirected(await decide(api, wrong.text, email=alice.email, code=totp(seed, T0 + STEP)))
    assert back["state"] == "s1"
    assert back["code"]
    # The code was good once: the same one again is refused.
    again = await decide(
        api, await open_page(api, client["id"]), email=alice.email, code=totp(seed, T0 + STEP)
    )
    assert again.status_code == 401
    assert "Invalid two-factor code." in again.text


async def test_accounts_without_two_factor_ignore_the_field(
    api: ApiClient, alice: User, bob: User
) -> None:
    client = await make_client(bob)
    page = await open_page(api, client["id"], state="s2")
    back = redirected(await decide(api, page, email=alice.email, code=""))
    assert back["state"] == "s2"
