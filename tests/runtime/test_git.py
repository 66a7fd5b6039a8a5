"""git push to `<tenku>/<app>.git` over smart HTTP: builds and deploys, or rejects."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import User
from tests.runtime.conftest import SAMPLES, Live, Proc, git_env, git_repo, run


def remote(live: Live, app: str, user: User | None = None) -> str:
    host = live.url.removeprefix("http://")
    return f"http://heroku:{user.token}@{host}/{app}.git" if user else f"http://{host}/{app}.git"


async def git(repo: Path, *args: str) -> Proc:
    return await run("git", *args, cwd=repo, env=git_env(repo.parent / "home"))


async def push(repo: Path, url: str, ref: str = "main") -> Proc:
    return await git(repo, "push", url, ref)


async def test_push_builds_and_deploys_the_commit(live: Live, owner: User) -> None:
    app = await owner.create_app("git-py")
    assert app["git_url"].endswith("/git-py.git")
    repo = await git_repo(SAMPLES / "python-web", live.tmp / "repo", git_env(live.tmp / "home"))
    sha = (await git(repo, "rev-parse", "HEAD")).stdout.strip()
    # The way the CLI's credential helper hands git the API key.
    helper = f"!f() {{ echo username=heroku; echo password={owner.token}; }}; f"
    done = await git(
        repo, "-c", f"credential.helper={helper}", "push", remote(live, "git-py"), "main"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "remote: Building source:" in [line.rstrip() for line in lines]
    assert any(line.startswith("remote: -----> Python app detected") for line in lines)
    assert any(line.startswith("remote:        Released v2") for line in lines)
    assert any(line.startswith("remote: Verifying deploy... done.") for line in lines)
    assert "main -> main" in done.stderr

    builds = (await owner.get("/apps/git-py/builds")).json()
    assert len(builds) == 1
    build = builds[0]
    assert build["status"] == "succeeded"
    assert build["source_blob"]["version"] == sha
    assert build["source_blob"]["version_description"] == "first"
    assert build["user"]["email"] == owner.email
    slug = (await owner.get(f"/apps/git-py/slugs/{build['slug']['id']}")).json()
    assert slug["commit"] == sha
    assert slug["commit_description"] == "first"
    assert slug["process_types"] == {"web": "python app.py"}
    files = await live.slug_files(owner, "git-py", slug["id"])
    assert "./app/app.py" in files
    assert not any("/.git" in name for name in files)
    releases = (await owner.get("/apps/git-py/releases")).json()
    assert releases[-1]["description"] == f"Deploy {sha[:7]}"

    # Push again: a new commit, a new release; and the repository clones back.
    (repo / "extra.txt").write_text("more\n")
    await git(repo, "add", "extra.txt")
    await git(repo, "commit", "-q", "-m", "second")
    done = await push(repo, remote(live, "git-py", owner))
    assert done.returncode == 0, done.stderr
    assert any("Released v3" in line for line in done.stderr.splitlines())
    clone = live.tmp / "clone"
    done = await run(
        "git", "clone", "-q", remote(live, "git-py", owner), str(clone), env=git_env(live.tmp / "h")
    )
    assert done.returncode == 0, done.stderr
    assert (clone / "extra.txt").read_text() == "more\n"


async def test_a_failed_build_rejects_the_push(live: Live, owner: User) -> None:
    await owner.create_app("git-broken")
    repo = await git_repo(SAMPLES / "broken-python", live.tmp / "repo", git_env(live.tmp / "home"))
    done = await push(repo, remote(live, "git-broken", owner))
    assert done.returncode != 0
    assert "remote:  !     Push rejected, failed to compile Python app." in done.stderr
    assert "pre-receive hook declined" in done.stderr
    assert (await owner.get("/apps/git-broken/builds")).json()[0]["status"] == "failed"
    assert len((await owner.get("/apps/git-broken/releases")).json()) == 1
    # The rejected commit never became the branch.
    refs = await git(repo, "ls-remote", remote(live, "git-broken", owner))
    assert refs.returncode == 0
    assert "refs/heads/main" not in refs.stdout


async def test_only_main_and_master_deploy(live: Live, owner: User) -> None:
    await owner.create_app("git-branch")
    repo = await git_repo(SAMPLES / "worker", live.tmp / "repo", git_env(live.tmp / "home"))
    done = await push(repo, remote(live, "git-branch", owner), "main:feature")
    assert done.returncode == 0, done.stderr
    assert "non-deploy branch feature" in done.stderr
    assert (await owner.get("/apps/git-branch/builds")).json() == []
    done = await push(repo, remote(live, "git-branch", owner), "main:master")
    assert done.returncode == 0, done.stderr
    assert (await owner.get("/apps/git-branch/builds")).json()[0]["status"] == "succeeded"


async def test_only_the_apps_people_may_push(live: Live, owner: User, stranger: User) -> None:
    await owner.create_app("git-private")
    repo = await git_repo(SAMPLES / "worker", live.tmp / "repo", git_env(live.tmp / "home"))
    # No credentials: a Basic challenge, so that git asks its credential helper.
    r = await live.api.http.get("/git-private.git/info/refs?service=git-receive-pack")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic ")
    nobody = await push(repo, remote(live, "git-private"))
    assert nobody.returncode != 0
    assert "could not read Username" in nobody.stderr
    forged = await push(repo, remote(live, "git-private").replace("://", "://heroku:nope@"))
    assert forged.returncode != 0
    assert "Authentication failed" in forged.stderr
    other = await push(repo, remote(live, "git-private", stranger))
    assert other.returncode != 0
    assert "403" in other.stderr
    reader = await live.api.token_for(owner, ["read"])
    read_only = await push(repo, remote(live, "git-private", reader))
    assert read_only.returncode != 0
    assert "403" in read_only.stderr
    # Fetching needs read access too.
    clone = await run(
        "git", "clone", "-q", remote(live, "git-private", stranger), str(live.tmp / "c"),
        env=git_env(live.tmp / "h"),
    )  # fmt: skip
    assert clone.returncode != 0
    missing = await push(repo, remote(live, "no-such-app", owner))
    assert missing.returncode != 0
    assert (await owner.get("/apps/git-private/builds")).json() == []
    # A collaborator may deploy.
    await owner.post("/apps/git-private/collaborators", json={"user": stranger.email})
    done = await push(repo, remote(live, "git-private", stranger))
    assert done.returncode == 0, done.stderr
    build = (await owner.get("/apps/git-private/builds")).json()[0]
    assert build["user"]["email"] == stranger.email


async def test_push_over_https_trusting_tenkus_ca(live: Live, owner: User) -> None:
    await owner.create_app("git-tls")
    env = git_env(live.tmp / "home")
    repo = await git_repo(SAMPLES / "worker", live.tmp / "repo", env)
    url = live.https_url.replace("://", f"://heroku:{owner.token}@") + "/git-tls.git"
    untrusted = await run("git", "push", url, "main", cwd=repo, env=env)
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower()
    done = await run(
        "git", "push", url, "main", cwd=repo, env={**env, "GIT_SSL_CAINFO": str(live.ca)}
    )
    assert done.returncode == 0, done.stderr
    assert "remote: Verifying deploy... done." in done.stderr
    assert (await owner.get("/apps/git-tls/builds")).json()[0]["status"] == "succeeded"
