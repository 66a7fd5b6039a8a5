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

from tenku.cli import main
from tenku.config import load_settings
from tenku.db.engine import Database
from tenku.db.models import Account, OtpSecret
from tenku.resources.account.service import find_account


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
