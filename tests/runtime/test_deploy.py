"""Deploying sample apps through sources and builds, then running their slugs as dynos do."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.conftest import User
from tests.ports import free_port
from tests.runtime.conftest import Live, sample, sample_buildpack

DYNO_PATH = "/usr/local/bin:/usr/bin:/bin"


@contextlib.asynccontextmanager
async def dyno(home: Path, command: str) -> AsyncIterator[str]:
    """Run `command` as a web dyno would (profile.d sourced, $PORT set); its base URL."""
    port = free_port()
    env = {"PATH": DYNO_PATH, "HOME": str(home), "PORT": str(port), "DYNO": "web.1"}
    script = 'for f in "$HOME"/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; exec bash -c "$0"'
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        command,
        cwd=home,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(trust_env=False) as client:
            while True:
                try:
                    await client.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    if proc.returncode is not None or time.monotonic() > deadline:
                        assert proc.stdout is not None
                        out = await proc.stdout.read()
                        raise AssertionError(f"the web process did not start: {out!r}") from None
                    await asyncio.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(url, timeout=10)


async def releases(user: User, app: str) -> list[dict[str, object]]:
    r = await user.get(f"/apps/{app}/releases")
    data: list[dict[str, object]] = r.json()
    return data


async def test_python_web_app(live: Live, owner: User) -> None:
    await owner.create_app("py-web")
    build = await live.deploy(owner, "py-web", sample("python-web", live.tmp), version="1.0.0")
    out = await live.output(owner, "py-web", build["id"])
    assert build["status"] == "succeeded", out
    assert "-----> Python app detected" in out
    assert "Successfully installed six-1.17.0" in out
    assert "Procfile declares types     -> web" in out
    assert "Released v2" in out

    slug = (await owner.get(f"/apps/py-web/slugs/{build['slug']['id']}")).json()
    assert slug["process_types"] == {"web": "python app.py"}
    assert slug["commit"] == "1.0.0"
    assert slug["buildpack_provided_description"] == "Python"
    assert slug["checksum"].startswith("SHA256:")
    files = await live.slug_files(owner, "py-web", build["slug"]["id"])
    assert all(name == "./app" or name.startswith("./app/") for name in files)
    assert "./app/app.py" in files
    assert "./app/.heroku/python/site-packages/six.py" in files
    assert "./app/.profile.d/python.sh" in files
    # .slugignore'd before the buildpack ran.
    assert not any(n.startswith("./app/docs") or n.endswith(".psd") for n in files)
    digest = hashlib.sha256((live.tmp / f"slug-{slug['id']}.tgz").read_bytes()).hexdigest()
    assert slug["checksum"] == f"SHA256:{digest}"
    assert slug["size"] == (live.tmp / f"slug-{slug['id']}.tgz").stat().st_size

    listed = await releases(owner, "py-web")
    assert [(r["version"], r["description"]) for r in listed] == [
        (1, "Initial release"),
        (2, "Deploy 1.0.0"),
    ]
    assert build["release"]["id"] == listed[1]["id"]
    assert listed[1]["slug"] == {"id": slug["id"]}
    formation = (await owner.get("/apps/py-web/formation")).json()
    assert [(f["type"], f["quantity"]) for f in formation] == [("web", 1)]
    # The detected buildpack becomes the app's, so later builds use it.
    installed = (await owner.get("/apps/py-web/buildpack-installations")).json()
    assert [b["buildpack"]["name"] for b in installed] == ["heroku/python"]

    # The slug runs from wherever it is unpacked, with only the dyno's PATH.
    home = await live.unpack_slug(owner, "py-web", slug["id"])
    async with dyno(home, slug["process_types"]["web"]) as url:
        assert (await get(url)).text == "hello from python, six 1.17.0\n"


async def test_node_web_app(live: Live, owner: User) -> None:
    await owner.create_app("node-web")
    build = await live.deploy(owner, "node-web", sample("node-web", live.tmp))
    out = await live.output(owner, "node-web", build["id"])
    assert build["status"] == "succeeded", out
    assert "-----> Node.js app detected" in out
    assert "Default types for buildpack -> web" in out
    slug = (await owner.get(f"/apps/node-web/slugs/{build['slug']['id']}")).json()
    assert slug["process_types"] == {"web": "npm start"}
    files = await live.slug_files(owner, "node-web", slug["id"])
    assert "./app/node_modules/ms/package.json" in files
    assert files["./app/.heroku/node/bin/node"].issym()
    # No version given: the release names the source by its checksum.
    description = (await releases(owner, "node-web"))[-1]["description"]
    assert isinstance(description, str)
    assert description.startswith("Deploy ")
    assert len(description) == len("Deploy ") + 7
    home = await live.unpack_slug(owner, "node-web", slug["id"])
    async with dyno(home, slug["process_types"]["web"]) as url:
        assert (await get(url)).text == "hello from node, a minute is 1m\n"


async def test_static_site(live: Live, owner: User) -> None:
    await owner.create_app("static-web")
    # GitHub-style archives keep everything under one top-level directory.
    tgz = sample("static-site", live.tmp, top="static-site-main")
    build = await live.deploy(owner, "static-web", tgz)
    out = await live.output(owner, "static-web", build["id"])
    assert build["status"] == "succeeded", out
    assert "-----> Static HTML app detected" in out
    slug = (await owner.get(f"/apps/static-web/slugs/{build['slug']['id']}")).json()
    assert set(slug["process_types"]) == {"web"}
    home = await live.unpack_slug(owner, "static-web", slug["id"])
    assert (home / "index.html").is_file()
    async with dyno(home, slug["process_types"]["web"]) as url:
        r = await get(url + "/")
        assert r.status_code == 200
        assert "hello from a static site" in r.text
        assert "about us" in (await get(url + "/about/")).text
        assert "contact" in (await get(url + "/contact")).text
        assert (await get(url + "/.profile.d/static.sh")).status_code == 404
        assert (await get(url + "/static.json")).status_code == 404


async def test_procfile_worker_with_checksum_and_commit(live: Live, owner: User) -> None:
    await owner.create_app("worker-app")
    tgz = sample("worker", live.tmp)
    checksum = "SHA256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()
    sha = "0123456789abcdef0123456789abcdef01234567"
    build = await live.deploy(owner, "worker-app", tgz, checksum=checksum, version=sha)
    out = await live.output(owner, "worker-app", build["id"])
    assert build["status"] == "succeeded", out
    assert build["source_blob"]["checksum"] == checksum
    assert "-----> Procfile app detected" in out
    slug = (await owner.get(f"/apps/worker-app/slugs/{build['slug']['id']}")).json()
    assert slug["process_types"] == {"worker": 'while true; do echo "working"; sleep 60; done'}
    files = await live.slug_files(owner, "worker-app", slug["id"])
    assert files["./app/work.sh"].mode & 0o111
    assert (await releases(owner, "worker-app"))[-1]["description"] == "Deploy 0123456"
    formation = (await owner.get("/apps/worker-app/formation")).json()
    assert [(f["type"], f["quantity"]) for f in formation] == [("worker", 0)]


async def test_broken_requirements_fail_without_a_release(live: Live, owner: User) -> None:
    await owner.create_app("py-broken")
    build = await live.deploy(owner, "py-broken", sample("broken-python", live.tmp))
    assert build["status"] == "failed"
    assert build["slug"] is None
    assert build["release"] is None
    result = (await owner.get(f"/apps/py-broken/builds/{build['id']}/result")).json()
    assert result["exit_code"] != 0
    out = "".join(line["line"] for line in result["lines"])
    assert "this is not a requirement" in out
    assert " !     Push rejected, failed to compile Python app." in out
    assert [r["version"] for r in await releases(owner, "py-broken")] == [1]


async def test_failing_buildpack(live: Live, owner: User) -> None:
    await owner.create_app("bp-fails")
    url = await live.upload(owner, "bp-fails", sample("worker", live.tmp))
    build = await live.build(
        owner,
        "bp-fails",
        source_blob={"url": url},
        buildpacks=[{"url": sample_buildpack("failing")}],
    )
    assert build["buildpacks"] == [
        {"url": sample_buildpack("failing"), "name": sample_buildpack("failing")}
    ]
    build = await live.wait(owner, "bp-fails", build["id"])
    assert build["status"] == "failed"
    result = (await owner.get(f"/apps/bp-fails/builds/{build['id']}/result")).json()
    assert result["exit_code"] == 3
    assert {"line": "something went wrong\n", "stream": "STDERR"} in result["lines"]
    out = "".join(line["line"] for line in result["lines"])
    assert "Push rejected, failed to compile Doomed app." in out
    assert len(await releases(owner, "bp-fails")) == 1


async def test_checksum_mismatch_fails(live: Live, owner: User) -> None:
    await owner.create_app("bad-sum")
    wrong = "SHA256:" + "0" * 64
    build = await live.deploy(owner, "bad-sum", sample("worker", live.tmp), checksum=wrong)
    assert build["status"] == "failed"
    out = await live.output(owner, "bad-sum", build["id"])
    assert "Checksum mismatch" in out
    assert len(await releases(owner, "bad-sum")) == 1


async def test_nothing_detected_and_unfetchable_sources_fail(live: Live, owner: User) -> None:
    await owner.create_app("no-lang")
    build = await live.deploy(owner, "no-lang", sample("no-language", live.tmp))
    assert build["status"] == "failed"
    assert "No default language could be detected" in await live.output(
        owner, "no-lang", build["id"]
    )
    missing = await live.build(
        owner, "no-lang", source_blob={"url": live.url + "/streams/nothing-here.tgz"}
    )
    missing = await live.wait(owner, "no-lang", missing["id"])
    assert missing["status"] == "failed"
    assert "HTTP 404" in await live.output(owner, "no-lang", missing["id"])
    not_tar = live.tmp / "not.tgz"
    not_tar.write_bytes(b"plain text, not a tarball")
    garbage = await live.deploy(owner, "no-lang", not_tar)
    assert garbage["status"] == "failed"
    assert "not a readable gzipped tarball" in await live.output(owner, "no-lang", garbage["id"])


async def test_app_buildpacks_are_used_and_a_build_can_override_them(
    live: Live, owner: User
) -> None:
    await owner.create_app("bp-app")
    r = await owner.put(
        "/apps/bp-app/buildpack-installations",
        json={"updates": [{"buildpack": sample_buildpack("failing")}]},
    )
    assert r.status_code == 200, r.text
    build = await live.deploy(owner, "bp-app", sample("worker", live.tmp))
    assert build["status"] == "failed"
    assert "Using set buildpack" in await live.output(owner, "bp-app", build["id"])
    url = await live.upload(owner, "bp-app", sample("worker", live.tmp))
    build = await live.build(
        owner, "bp-app", source_blob={"url": url}, buildpacks=[{"name": "heroku/procfile"}]
    )
    build = await live.wait(owner, "bp-app", build["id"])
    assert build["status"] == "succeeded"


async def test_a_buildpack_that_does_not_detect_stops_the_build(live: Live, owner: User) -> None:
    await owner.create_app("bp-nodetect")
    url = await live.upload(owner, "bp-nodetect", sample("worker", live.tmp))
    build = await live.build(
        owner, "bp-nodetect", source_blob={"url": url}, buildpacks=[{"name": "heroku/nodejs"}]
    )
    build = await live.wait(owner, "bp-nodetect", build["id"])
    assert build["status"] == "failed"
    out = await live.output(owner, "bp-nodetect", build["id"])
    assert "App not compatible with buildpack: urn:buildpack:heroku/nodejs" in out
    assert "No package.json" in out


async def test_config_vars_reach_the_build_as_files_only(live: Live, owner: User) -> None:
    await owner.create_app("bp-env")
    await owner.patch("/apps/bp-env/config-vars", json={"SECRET_THING": "s3cret\nline2"})
    bp = live.tmp / "env-pack"
    (bp / "bin").mkdir(parents=True)
    (bp / "bin" / "detect").write_text("#!/bin/sh\necho Env\n")
    (bp / "bin" / "compile").write_text(
        "#!/bin/sh\n"
        'echo "env: ${SECRET_THING:-unset}"\n'
        'echo "file: $(cat "$3/SECRET_THING" | tr "\\n" "|")"\n'
        'echo "mode: $(stat -c %a "$3/SECRET_THING")"\n'
        'echo "stack: $STACK"\n'
        'test -d "$2" && echo "cache: yes"\n'
    )
    url = await live.upload(owner, "bp-env", sample("worker", live.tmp))
    build = await live.build(
        owner, "bp-env", source_blob={"url": url}, buildpacks=[{"url": bp.as_uri()}]
    )
    build = await live.wait(owner, "bp-env", build["id"])
    out = await live.output(owner, "bp-env", build["id"])
    assert build["status"] == "succeeded", out
    assert "env: unset" in out
    assert "file: s3cret|line2" in out
    assert "mode: 600" in out
    assert "stack: heroku-24" in out
    assert "cache: yes" in out


async def test_a_slug_s_blob_url_as_a_build_source_fails_cleanly(live: Live, owner: User) -> None:
    """A slug's download URL is signed by this installation too, but names a slug, not a
    source blob: the build fails saying so, never with an internal error."""
    from tests.runtime.test_dynos import APP_DIR

    await owner.create_app("slug-source")
    release = await live.release_slug(owner, "slug-source", APP_DIR, {"web": "python3 server.py"})
    slug = (await owner.get(f"/apps/slug-source/slugs/{release['slug']['id']}")).json()
    assert slug["blob"]["method"] == "get"
    build = await live.build(owner, "slug-source", source_blob={"url": slug["blob"]["url"]})
    done = await live.wait(owner, "slug-source", build["id"])
    out = await live.output(owner, "slug-source", build["id"])
    assert "internal error" not in out, out
    assert done["status"] == "failed", done
    assert "it downloads a slug" in out, out
