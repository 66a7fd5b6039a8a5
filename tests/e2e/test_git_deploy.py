"""Deploying with the real CLI and git: apps:create, buildpacks, git:remote, git push heroku
main over HTTPS (credentials from the CLI's own git credential helper), releases, rollback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLI_TIMEOUT, Heroku, json_of, unique_app_name

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[1] / "runtime" / "samples"
PUSH_TIMEOUT = 300


def git_env(heroku: Heroku) -> dict[str, str]:
    env = heroku.env()
    # The credential helper the CLI installs runs `heroku git:credentials`.
    env["PATH"] = f"{heroku.binary.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="E2E",
        GIT_AUTHOR_EMAIL="e2e@example.com",
        GIT_COMMITTER_NAME="E2E",
        GIT_COMMITTER_EMAIL="e2e@example.com",
    )
    return env


def git(heroku: Heroku, repo: Path, *args: str, timeout: float = CLI_TIMEOUT) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env=git_env(heroku),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def cli_in(heroku: Heroku, repo: Path, *args: str) -> str:
    done = subprocess.run(
        heroku.argv(*args),
        cwd=repo,
        env=heroku.env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"heroku {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_git_push_heroku_main_then_releases_and_rollback(
    heroku: Heroku, api: httpx.Client, tmp_path: Path
) -> None:
    name = unique_app_name("push")
    heroku("apps:create", name)
    try:
        heroku("buildpacks:set", "heroku/python", "-a", name)
        _, out, _ = heroku("buildpacks", "-a", name)
        assert "heroku/python" in out

        repo = tmp_path / "repo"
        shutil.copytree(SAMPLES / "python-web", repo)
        git(heroku, repo, "init", "-q", "-b", "main")
        git(heroku, repo, "add", "-A")
        git(heroku, repo, "commit", "-q", "-m", "first")
        cli_in(heroku, repo, "git:remote", "-a", name)
        remote = git(heroku, repo, "remote", "get-url", "heroku").strip()
        assert remote == f"{heroku.server.https_url}/{name}.git"

        out = git(heroku, repo, "push", "heroku", "main", timeout=PUSH_TIMEOUT)
        assert "remote: -----> Using set buildpack heroku/python" in out
        assert "remote: -----> Python app detected" in out
        assert "remote: Verifying deploy... done." in out
        first = git(heroku, repo, "rev-parse", "--short=7", "HEAD").strip()

        (repo / "CHANGES").write_text("second\n")
        git(heroku, repo, "add", "CHANGES")
        git(heroku, repo, "commit", "-q", "-m", "second")
        git(heroku, repo, "push", "heroku", "main", timeout=PUSH_TIMEOUT)
        second = git(heroku, repo, "rev-parse", "--short=7", "HEAD").strip()

        _, out, _ = heroku("releases", "-a", name)
        assert f"Deploy {second}" in out
        assert f"Deploy {first}" in out
        builds = json_of(api.get(f"/apps/{name}/builds"))
        assert [b["status"] for b in builds] == ["succeeded", "succeeded"]

        _, out, err = heroku("releases:rollback", "-a", name)
        assert "v2" in out + err
        releases = json_of(
            api.get(f"/apps/{name}/releases", headers={"Range": "version ..; order=desc"})
        )
        assert releases[0]["description"] == "Rollback to v2"
        assert releases[0]["slug"] == releases[-2]["slug"]

        heroku("buildpacks:add", "--index", "1", "heroku/nodejs", "-a", name)
        _, out, _ = heroku("buildpacks", "-a", name)
        assert out.index("heroku/nodejs") < out.index("heroku/python")
        heroku("buildpacks:clear", "-a", name)
        assert json_of(api.get(f"/apps/{name}/buildpack-installations")) == []

        # A push whose build fails is rejected.
        (repo / "requirements.txt").write_text("this is not a requirement !!\n")
        git(heroku, repo, "commit", "-q", "-am", "broken")
        done = subprocess.run(
            ["git", "push", "heroku", "main"],
            cwd=repo,
            env=git_env(heroku),
            capture_output=True,
            text=True,
            timeout=PUSH_TIMEOUT,
            check=False,
        )
        assert done.returncode != 0
        assert "pre-receive hook declined" in done.stderr
        assert "Push rejected" in done.stderr
    finally:
        api.delete(f"/apps/{name}")


def test_someone_elses_app_cannot_be_pushed_to(
    heroku: Heroku, heroku_other: Heroku, api: httpx.Client, tmp_path: Path
) -> None:
    name = unique_app_name("nopush")
    heroku("apps:create", name)
    # Any command installs the CLI's git credential helper for this HOME.
    heroku_other("auth:whoami")
    try:
        repo = tmp_path / "repo"
        shutil.copytree(SAMPLES / "worker", repo)
        git(heroku_other, repo, "init", "-q", "-b", "main")
        git(heroku_other, repo, "add", "-A")
        git(heroku_other, repo, "commit", "-q", "-m", "mine")
        git(heroku_other, repo, "remote", "add", "heroku", f"{heroku.server.https_url}/{name}.git")
        done = subprocess.run(
            ["git", "push", "heroku", "main"],
            cwd=repo,
            env=git_env(heroku_other),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        assert done.returncode != 0
        assert "403" in done.stderr
        assert json_of(api.get(f"/apps/{name}/builds")) == []
    finally:
        api.delete(f"/apps/{name}")
