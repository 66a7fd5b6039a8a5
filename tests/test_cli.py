"""The operator's `tenku` command, run as a user would (in-process, on a fresh data dir)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.cli import main, run_db
from tenku.config import load_settings
from tenku.db.engine import Database
from tenku.db.models import Account, OtpSecret, Team, TeamMember
from tenku.resources.account.service import find_account
from tests.conftest import shell_exports


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TENKU_DATABASE_URL", raising=False)
    return tmp_path / "data"


def run(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_users_create_prints_only_the_key(data_dir: Path) -> None:
    out = run(data_dir, "users", "create", "Ops@Example.com", "--password", "pw")
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tku_")
    assert (data_dir / "tenku.db").exists()
    listed = run(data_dir, "users", "list")
    assert "ops@example.com" in listed


def test_duplicate_user_fails_cleanly(data_dir: Path) -> None:
    run(data_dir, "users", "create", "a@example.com", "--password", "pw")
    result = CliRunner().invoke(
        main, ["users", "create", "A@example.com", "--password", "x", "--data-dir", str(data_dir)]
    )
    assert result.exit_code != 0
    assert "already taken" in result.output


def test_tokens_mint_list_revoke(data_dir: Path) -> None:
    run(data_dir, "users", "create", "t@example.com", "--password", "pw")
    token = run(data_dir, "tokens", "create", "t@example.com", "--scope", "read,identity").strip()
    assert token.startswith("tku_")
    listed = run(data_dir, "tokens", "list", "t@example.com").splitlines()
    assert len(listed) == 2
    minted = next(line for line in listed if "read,identity" in line)
    assert token not in minted
    token_id = minted.split("\t")[0]
    run(data_dir, "tokens", "revoke", token_id)
    assert len(run(data_dir, "tokens", "list", "t@example.com").splitlines()) == 1


def test_bad_scope_is_refused(data_dir: Path) -> None:
    run(data_dir, "users", "create", "s@example.com", "--password", "pw")
    result = CliRunner().invoke(
        main,
        ["tokens", "create", "s@example.com", "--scope", "root", "--data-dir", str(data_dir)],
    )
    assert result.exit_code != 0
    assert "unknown scope" in result.output


def test_teams_create_makes_an_admin(data_dir: Path) -> None:
    run(data_dir, "users", "create", "ops@example.com", "--password", "pw")
    out = run(data_dir, "teams", "create", "acme", "--admin", "Ops@Example.com")
    team_id, name = out.strip().split("\t")
    assert name == "acme"

    async def membership(db: AsyncSession) -> list[tuple[str, str, str]]:
        rows = await db.execute(
            select(Team.id, Team.name, TeamMember.role, Account.email)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .join(Account, Account.id == TeamMember.account_id)
        )
        return [(str(r[0]), r[1], f"{r[3]}:{r[2]}") for r in rows]

    rows = run_db(load_settings(data_dir=data_dir), membership)
    assert rows == [(team_id, "acme", "ops@example.com:admin")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("acme", "--admin", "nobody@example.com"), "no such user"),
        (("Acme", "--admin", "ops@example.com"), "Invalid name"),
        (("apps", "--admin", "ops@example.com"), "reserved"),
        (("taken", "--admin", "ops@example.com"), "already taken"),
    ],
)
def test_teams_create_refuses_cleanly(data_dir: Path, args: tuple[str, ...], says: str) -> None:
    run(data_dir, "users", "create", "ops@example.com", "--password", "pw")
    run(data_dir, "teams", "create", "taken", "--admin", "ops@example.com")
    result = CliRunner().invoke(main, ["teams", "create", *args, "--data-dir", str(data_dir)])
    assert result.exit_code != 0
    assert says in result.output


def test_migrate_is_idempotent(data_dir: Path) -> None:
    CliRunner().invoke(main, ["migrate", "--data-dir", str(data_dir)], catch_exceptions=False)
    result = CliRunner().invoke(main, ["migrate", "--data-dir", str(data_dir)])
    assert result.exit_code == 0


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tenku` as its own process, as the operator runs it (it sets its own umask)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENKU_")}
    return subprocess.run(
        [sys.executable, "-m", "tenku.cli", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_fresh_data_dir_is_private(data_dir: Path) -> None:
    done = cli(data_dir, "users", "create", "p@example.com", "--password", "pw")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "tenku.db").stat().st_mode) == 0o600
    assert "warning" not in done.stderr


def test_a_loose_data_dir_is_reported(data_dir: Path) -> None:
    assert cli(data_dir, "migrate").returncode == 0
    data_dir.chmod(0o755)
    (data_dir / "tenku.db").chmod(0o644)
    done = cli(data_dir, "migrate")
    assert done.returncode == 0, done.stderr
    assert f"warning: {data_dir} is mode 0755" in done.stderr
    assert f"warning: {data_dir / 'tenku.db'} is mode 0644" in done.stderr


def mail(data_dir: Path, body: str = "Your invitation token: abc\n") -> str:
    """A message as the API sends it, into the data directory's outbox; its id."""
    from tenku.config import load_settings
    from tenku.mail import Mailer

    mailer = Mailer.of(load_settings(data_dir=data_dir))
    return asyncio.run(mailer.send("dana@example.com", "You're invited to Tenku", body)).id


def test_mail_list_and_show(data_dir: Path) -> None:
    assert run(data_dir, "mail", "list") == ""
    first = mail(data_dir, "Hello Dana.\nYour invitation token: abc\n")
    second = mail(data_dir, "Ünïcode stays readable.\n")
    rows = [line.split("\t") for line in run(data_dir, "mail", "list").splitlines()]
    assert [row[0] for row in rows] == [first, second]
    assert rows[0][2:] == ["dana@example.com", "You're invited to Tenku", "outbox"]
    assert rows[0][1].endswith("Z")
    shown = run(data_dir, "mail", "show", first)
    assert f"Id: {first}\n" in shown
    assert "To: dana@example.com\n" in shown
    assert "Subject: You're invited to Tenku\n" in shown
    assert shown.endswith("\n\nHello Dana.\nYour invitation token: abc\n\n")
    assert "Ünïcode stays readable." in run(data_dir, "mail", "show", second)
    stored = (data_dir / "mail" / f"{second}.eml").read_text()
    assert "Ünïcode stays readable." in stored
    for bad in ("nope", "../tenku", f"../mail/{first}"):
        result = CliRunner().invoke(main, ["mail", "show", bad, "--data-dir", str(data_dir)])
        assert result.exit_code != 0
        assert "no such message" in result.output


def test_mail_resend(data_dir: Path) -> None:
    from tests.smtp import smtp_server

    message_id = mail(data_dir)
    args = ["mail", "resend", message_id, "--data-dir", str(data_dir)]
    unset = CliRunner().invoke(main, args)
    assert unset.exit_code != 0
    assert "no SMTP server is configured" in unset.output
    bad = CliRunner().invoke(main, args, env={"TENKU_SMTP_URL": "http://mail.example.com"})
    assert bad.exit_code != 0
    assert "smtp://" in bad.output
    with smtp_server() as server:
        sent = CliRunner().invoke(main, args, env={"TENKU_SMTP_URL": server.url()})
        assert sent.exit_code == 0, sent.output
        [got] = server.messages()
    assert got.recipients == ["dana@example.com"]
    assert "Your invitation token: abc" in got.body
    assert run(data_dir, "mail", "list").split("\t")[-1] == "sent\n"


def test_users_two_factor_off(data_dir: Path) -> None:
    run(data_dir, "users", "create", "f@example.com", "--password", "pw")
    url = load_settings(data_dir=data_dir).database_url

    async def change(on: bool) -> bool:
        db = Database(url)
        try:
            async with db.session(write=True) as s:
                account = await find_account(s, "f@example.com")
                assert isinstance(account, Account)
                if on:
                    account.two_factor_authentication = True
                    s.add(OtpSecret(account_id=account.id, seed="v1.sealed"))
                    await s.commit()
                return account.two_factor_authentication
        finally:
            await db.dispose()

    assert asyncio.run(change(on=True))
    result = CliRunner().invoke(
        main, ["users", "two-factor-off", "F@example.com", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    assert not asyncio.run(change(on=False))
    result = CliRunner().invoke(
        main, ["users", "two-factor-off", "nobody@example.com", "--data-dir", str(data_dir)]
    )
    assert result.exit_code != 0
    assert "no such user" in result.output


def test_env_prints_what_the_heroku_cli_needs(data_dir: Path) -> None:
    out = run(data_dir, "env", "--port", "5000")
    values = shell_exports(out)
    ca = str(data_dir.resolve() / "tls" / "ca.pem")
    assert values == {
        "HEROKU_HOST": "https://127.0.0.1:5000",
        "HEROKU_DATA_HOST": "127.0.0.1",
        "NODE_EXTRA_CA_CERTS": ca,
        "HEROKU_PARTICLEBOARD_URL": "https://127.0.0.1:5000",
        "HEROKU_BUILDPACK_REGISTRY_URL": "https://127.0.0.1:5000",
        "DISABLE_TELEMETRY": "true",
        "IS_HEROKU_TEST_ENV": "true",
        "HEROKU_SKIP_ANALYTICS": "1",
        "HEROKU_DISABLE_AUTOUPDATE": "1",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
    }
    # Without --user the shell's own key (or the CLI's login) stays in use.
    assert "# HEROKU_API_KEY is left as it is" in out


def test_env_with_a_user_exports_a_new_key_of_theirs(data_dir: Path) -> None:
    run(data_dir, "users", "create", "dev@example.com", "--password", "pw")
    key = shell_exports(run(data_dir, "env", "--user", "dev@example.com"))["HEROKU_API_KEY"]
    assert key.startswith("tku_")
    listed = run(data_dir, "tokens", "list", "dev@example.com").splitlines()
    assert any(line.endswith("\ttenku env") for line in listed)
    again = shell_exports(run(data_dir, "env", "--user", "dev@example.com"))["HEROKU_API_KEY"]
    assert again != key
    result = CliRunner().invoke(
        main, ["env", "--user", "nobody@example.com", "--data-dir", str(data_dir)]
    )
    assert result.exit_code != 0
    assert "no such user" in result.output


def test_env_output_survives_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENKU_DATABASE_URL", raising=False)
    odd = tmp_path / "data dir with 'quotes' & $signs"
    out = run(odd, "env", "--port", "5123")
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1"; printf "%s\\n" "$NODE_EXTRA_CA_CERTS" "$HEROKU_HOST"', "-", out],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert shell.stdout.splitlines() == [
        str(odd.resolve() / "tls" / "ca.pem"),
        "https://127.0.0.1:5123",
    ]


def test_up_prints_the_short_setup() -> None:
    from tenku.cli import setup_hint

    settings = load_settings(data_dir=Path("/srv/tenku data"), port=6000)
    assert setup_hint(settings).splitlines() == [
        "  eval \"$(tenku env --user you@example.com --data-dir '/srv/tenku data' --port 6000)\"",
        "  tenku git-setup --data-dir '/srv/tenku data' --port 6000",
    ]


def git_global(home: Path, key: str) -> str:
    done = subprocess.run(
        ["git", "config", "--global", "--get", key],
        capture_output=True,
        text=True,
        check=False,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
    )
    return done.stdout.strip()


@pytest.mark.parametrize("cainfo", [None, "/etc/ssl/certs/ca-certificates.crt"])
def test_git_setup_trusts_the_ca_for_this_server_only(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cainfo: str | None
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    if cainfo is None:
        monkeypatch.delenv("GIT_SSL_CAINFO", raising=False)
    else:
        monkeypatch.setenv("GIT_SSL_CAINFO", cainfo)
    result = CliRunner().invoke(
        main, ["git-setup", "--port", "5000", "--data-dir", str(data_dir)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    ca = str(data_dir.resolve() / "tls" / "ca.pem")
    assert git_global(home, "http.https://127.0.0.1:5000/.sslCAInfo") == ca
    assert result.stdout == ""
    warned = "GIT_SSL_CAINFO is set" in result.stderr
    assert warned == (cainfo is not None)
