"""The operator's `tenku` command, run as a user would (in-process, on a fresh data dir)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tenku.cli import main


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
