"""One build, start to finish: source, buildpacks, slug, release.

Everything a build touches on disk lives under `<data>/builds/<build id>/` and goes when
the build ends; the app's build cache lives under `<data>/build-cache/<app id>/` and is
replaced only by a build that succeeded, never left half-written by one that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from tenku.config import Settings
from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import Account, App, Build, Slug
from tenku.resources.buildpack_installation.service import installations
from tenku.resources.buildpack_installation.service import replace as replace_installations
from tenku.resources.config_var.store import current_config
from tenku.resources.release.service import deploy_slug
from tenku.resources.slug.service import new_blob_key
from tenku.runtime import buildpacks, cgroups, procs, slug, sources
from tenku.runtime.buildpacks import BuildpackError, BuildpackRef
from tenku.runtime.output import STDERR, STDOUT, OutputWriter
from tenku.runtime.sandbox import Box, Sandbox
from tenku.storage.blobs import CHUNK, BlobStore
from tenku.storage.signing import Signer
from tenku.web.errors import ApiError

log = logging.getLogger("tenku.runtime")

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# What a build step inherits from the runtime's environment: how to reach the package
# registries (proxies, CAs, pip and npm settings). Nothing else, config vars least of all.
PASSTHROUGH = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
        "TZ",
    }
)
PASSTHROUGH_PREFIXES = ("PIP_", "NPM_CONFIG_", "npm_config_", "UV_")
GIT_KEY_PREFIX = "git/"
MORE_INFO = "https://devcenter.heroku.com/articles/buildpacks#detection-failure"
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# What one build may use: Heroku's build dynos are Performance-L sized.
BUILD_LIMITS = cgroups.Limits(memory_bytes=8 << 30, pids=4096, cpu_shares=1024)


def base_python() -> str:
    """The interpreter Tenku runs on, outside any virtualenv it may run in."""
    exe = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(exe)


def deploy_description(version: str | None, source_sha256: str) -> str:
    text = (version or "").strip()
    if SHA_RE.match(text):
        text = text[:7]
    return f"Deploy {text[:60] or source_sha256[:7]}"


@dataclass
class BuildSettings:
    settings: Settings
    db: Database
    blobs: BlobStore
    signer: Signer
    timeout: float = 900.0
    sandbox: Sandbox | None = None

    @property
    def work_root(self) -> Path:
        return self.settings.data_dir / "builds"

    @property
    def cache_root(self) -> Path:
        return self.settings.data_dir / "build-cache"


class BuildFailed(Exception):
    def __init__(self, *lines: str, exit_code: int = 1) -> None:
        super().__init__(lines[0] if lines else "build failed")
        self.lines = list(lines)
        self.exit_code = exit_code


@dataclass
class Plan:
    """What a build needs from the database, read once when it starts."""

    build_id: uuid.UUID
    app_id: uuid.UUID
    stack: str
    source_url: str
    source_blob_key: str | None
    source_checksum: str | None
    source_version: str | None
    config: dict[str, str]
    buildpacks: list[BuildpackRef] | None


@dataclass
class Outcome:
    slug_id: uuid.UUID
    blob_key: str
    size: int
    checksum: str
    process_types: dict[str, str]
    description: str
    source_sha256: str
    # The built-in buildpack detection chose, when the app named none.
    detected: str | None


@dataclass
class Paths:
    root: Path
    source: Path = field(init=False)
    build: Path = field(init=False)
    env: Path = field(init=False)
    cache: Path = field(init=False)
    home: Path = field(init=False)
    tmp: Path = field(init=False)
    packs: Path = field(init=False)
    slug: Path = field(init=False)

    def __post_init__(self) -> None:
        self.source = self.root / "source.tgz"
        self.build = self.root / "src"
        self.env = self.root / "env"
        self.cache = self.root / "cache"
        self.home = self.root / "home"
        self.tmp = self.root / "tmp"
        self.packs = self.root / "buildpacks"
        self.slug = self.root / "slug.tgz"


def _write_env_dir(env_dir: Path, config: dict[str, str]) -> None:
    env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key, value in config.items():
        if not key or "/" in key or key in (".", ".."):
            continue
        path = env_dir / key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)


def _copy_cache(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        dest.mkdir(parents=True)


def _save_cache(work: Path, final: Path) -> None:
    """Put a build's cache in place of the app's, in one rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = final.with_name(f".{final.name}.{secrets.token_hex(4)}")
    shutil.move(str(work), staged)
    old = final.with_name(f".{final.name}.{secrets.token_hex(4)}.old")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _same_tree(build: Path, app_dir: Path) -> None:
    """The build steps (the app's uid) may have replaced the app's directory, or one above
    it, by a link; Tenku, which deletes ignored files and packs the slug, would follow it."""
    for path in (build, *[p for p in app_dir.parents if build in p.parents], app_dir):
        try:
            kept = stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            kept = False
        if not kept:
            raise BuildFailed(" !     The build replaced the app's directory by a link or file.")


def _profile_config_vars(build_dir: Path, config_vars: dict[str, str]) -> None:
    """The deprecated `config_vars` of bin/release, as defaults that config vars override."""
    if not config_vars:
        return
    profile = build_dir / ".profile.d"
    with contextlib.suppress(FileExistsError):
        profile.mkdir()
    lines = []
    for key, value in config_vars.items():
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            quoted = "'" + value.replace("'", "'\\''") + "'"
            lines.append(f'export {key}="${{{key}:-{quoted}}}"\n')
    # The tree is the app's: never written through a link it made (.profile.d or the file).
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(profile, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except OSError as exc:
        raise BuildFailed(" !     .profile.d is not a directory of the app.") from exc
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | nofollow
        fd = os.open("000-buildpack-config-vars.sh", flags, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        raise BuildFailed(" !     .profile.d/000-buildpack-config-vars.sh is not a file.") from exc
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "w") as f:
        f.write("".join(lines))


def parse_release(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise BuildFailed(f" !     bin/release printed invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BuildFailed(" !     bin/release must print a YAML mapping.")
    return data


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


class Builder:
    def __init__(self, env: BuildSettings, build_id: uuid.UUID) -> None:
        self.env = env
        self.build_id = build_id
        self.out = OutputWriter(env.db, build_id)
        self.paths = Paths(env.work_root / str(build_id))
        self.deadline = time.monotonic() + env.timeout
        self.request_id = str(uuid.uuid4())
        self.detected: str | None = None
        sandbox = env.sandbox
        self.sandbox = sandbox if sandbox is not None and sandbox.enabled else None
        self.uid: int | None = None
        self.box = Box()

    # --- the whole build ------------------------------------------------------

    async def run(self) -> None:
        plan = await self._plan()
        if plan is None:
            return
        self.plan = plan
        await self.out.resume()
        self.out.start()
        try:
            outcome = await self._build(plan)
            await self._succeed(plan, outcome)
        except BuildFailed as failed:
            await self._fail(failed.lines, failed.exit_code)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._fail([" !     Build interrupted: the platform is shutting down."], 1)
            )
            raise
        except Exception:
            log.exception("build %s failed unexpectedly", self.build_id)
            await self._fail([" !     Build failed: an internal error occurred in Tenku."], 1)
        finally:
            await asyncio.to_thread(self.box.close)
            await asyncio.to_thread(shutil.rmtree, self.paths.root, True)

    async def _plan(self) -> Plan | None:
        async with self.env.db.session(write=False) as db:
            build = await db.get(Build, self.build_id)
            if build is None or build.status != "pending":
                return None
            app = await db.get(App, build.app_id)
            if app is None:
                return None
            config = await current_config(db, app.id)
            # The build's own buildpacks, else the app's; none means detection.
            packs: list[BuildpackRef] | None = None
            if build.buildpacks:
                packs = [BuildpackRef(str(b["url"]), str(b["name"])) for b in build.buildpacks]
            else:
                installed = await installations(db, app.id)
                packs = [BuildpackRef(i.url, i.name) for i in installed] or None
            return Plan(
                build_id=build.id,
                app_id=app.id,
                stack=build.stack,
                source_url=build.source_url,
                source_blob_key=build.source_blob_key,
                source_checksum=build.source_checksum,
                source_version=build.source_version,
                config=config,
                buildpacks=packs,
            )

    async def _build(self, plan: Plan) -> Outcome:
        p = self.paths
        sandbox = self.env.sandbox
        if sandbox is not None and sandbox.refuses_shared_use and await self._accounts() > 1:
            raise BuildFailed(f" !     {sandbox.refusal}", "", " !     Push failed")
        await asyncio.to_thread(shutil.rmtree, p.root, True)
        await asyncio.to_thread(p.root.mkdir, mode=0o700, parents=True)
        if self.sandbox is not None:
            # The build's root stays Tenku's (it writes the slug there); the app's uid owns
            # the directories the steps work in.
            self.uid = self.sandbox.uid_for(plan.app_id)
            group = self.sandbox.group(f"build-{self.build_id.hex[:12]}", BUILD_LIMITS)
            self.box = Box(group, sandboxed=True)
        # In the sandbox every directory a step sees must exist before the first one.
        made = (p.home, p.tmp, p.packs, *((p.cache, p.env) if self.sandbox else ()))
        for directory in made:
            await asyncio.to_thread(self._own_dir, directory)

        try:
            tarball, source_sha = await sources.fetch(
                url=plan.source_url,
                blob_key=plan.source_blob_key,
                checksum=plan.source_checksum,
                dest=p.source,
                settings=self.env.settings,
                blobs=self.env.blobs,
                signer=self.env.signer,
            )
            is_git = (plan.source_blob_key or "").startswith(GIT_KEY_PREFIX)
            app_dir = await sources.unpack(
                tarball,
                p.build,
                self.env.settings,
                strip_lone_dir=not is_git,
                sandbox=self.sandbox,
                uid=self.uid,
            )
        except sources.SourceError as exc:
            raise BuildFailed(f" !     {exc}") from exc
        if tarball == p.source:
            await asyncio.to_thread(p.source.unlink, True)

        rules = await asyncio.to_thread(slug.slugignore_rules, app_dir)
        await asyncio.to_thread(slug.apply_ignores, app_dir, rules)

        chosen = await self._choose(plan, app_dir)
        await asyncio.to_thread(_write_env_dir, p.env, plan.config)
        cache_dir = self.env.cache_root / str(plan.app_id)
        await self._copy_cache(cache_dir)
        if self.sandbox is not None:
            await asyncio.to_thread(self.sandbox.own_tree, p.env, self.uid)

        exports: list[Path] = []
        for pack_dir, name in chosen:
            await self._compile(plan, pack_dir, name, app_dir, exports)
        release = await self._release(plan, chosen[-1][0], app_dir, exports)
        # From here Tenku works on the tree itself: it must still be the directory it was.
        await asyncio.to_thread(_same_tree, p.build, app_dir)

        defaults = _str_map(release.get("default_process_types"))
        await asyncio.to_thread(_profile_config_vars, app_dir, _str_map(release.get("config_vars")))
        procfile = await asyncio.to_thread(slug.read_procfile, app_dir)
        process_types = {**defaults, **(procfile or {})}
        self.out.out("-----> Discovering process types")
        declared = ", ".join(sorted(procfile)) if procfile else "(none)"
        self.out.out(f"       Procfile declares types     -> {declared}")
        extra = sorted(k for k in defaults if k not in (procfile or {}))
        if extra:
            self.out.out(f"       Default types for buildpack -> {', '.join(extra)}")
        self.out.out("")

        self.out.out("-----> Compressing...")
        await asyncio.to_thread(slug.apply_ignores, app_dir, rules)
        size, digest = await asyncio.to_thread(slug.pack, app_dir, p.slug)
        if size > slug.MAX_SLUG:
            raise BuildFailed(
                f" !     Compiled slug size: {slug.human_size(size)} is too large "
                f"(max is {slug.human_size(slug.MAX_SLUG)})."
            )
        self.out.out(f"       Done: {slug.human_size(size)}")
        slug_id = uuid.uuid4()
        key = new_blob_key(slug_id)
        await self.env.blobs.put(key, _file_chunks(p.slug))
        await asyncio.to_thread(_save_cache, p.cache, cache_dir)
        return Outcome(
            slug_id=slug_id,
            blob_key=key,
            size=size,
            checksum=f"SHA256:{digest}",
            process_types=process_types,
            description=chosen[-1][1],
            source_sha256=source_sha,
            detected=None if plan.buildpacks else self.detected,
        )

    # --- buildpacks -------------------------------------------------------------

    async def _choose(self, plan: Plan, app_dir: Path) -> list[tuple[Path, str]]:
        """The buildpacks to run, each materialized and detected: (directory, name)."""
        chosen: list[tuple[Path, str]] = []
        if plan.buildpacks:
            if len(plan.buildpacks) == 1:
                self.out.out(f"-----> Using set buildpack {plan.buildpacks[0].name}")
            else:
                self.out.out("-----> Using buildpacks:")
                for i, ref in enumerate(plan.buildpacks, 1):
                    self.out.out(f"       {i}. {ref.name}")
            for i, ref in enumerate(plan.buildpacks):
                pack_dir = await self._materialize(ref, i)
                code, name, errors = await self._detect(pack_dir, app_dir)
                if code != 0:
                    for line in errors:
                        self.out.err(line)
                    raise BuildFailed(
                        f"-----> App not compatible with buildpack: {ref.url}",
                        f"       More info: {MORE_INFO}",
                        "",
                        " !     Push failed",
                    )
                self.out.out(f"-----> {name} app detected")
                chosen.append((pack_dir, name))
            return chosen
        for i, ref in enumerate(buildpacks.detection_order()):
            pack_dir = await self._materialize(ref, i)
            code, name, _ = await self._detect(pack_dir, app_dir)
            if code == 0:
                self.out.out(f"-----> {name} app detected")
                self.detected = ref.name
                return [(pack_dir, name)]
        raise BuildFailed(
            " !     No default language could be detected for this app.",
            "            HINT: This occurs when Tenku cannot detect the buildpack to use "
            "for this application automatically.",
            "            See https://devcenter.heroku.com/articles/buildpacks",
            "",
            " !     Push failed",
        )

    async def _materialize(self, ref: BuildpackRef, index: int) -> Path:
        try:
            pack = await buildpacks.materialize(
                ref,
                self.paths.packs / str(index),
                self.env.settings,
                sandbox=self.sandbox,
                uid=self.uid,
            )
        except BuildpackError as exc:
            raise BuildFailed(f" !     {exc}", "", " !     Push failed") from exc
        if self.sandbox is not None:
            await asyncio.to_thread(self.sandbox.own_tree, pack, self.uid)
        return pack

    # --- the sandbox --------------------------------------------------------------

    async def _accounts(self) -> int:
        async with self.env.db.session(write=False) as db:
            return int(await db.scalar(select(func.count()).select_from(Account)) or 0)

    def _own_dir(self, path: Path) -> None:
        if self.sandbox is not None:
            self.sandbox.own_dir(path, self.uid)
        else:
            path.mkdir(parents=True, exist_ok=True)

    async def _copy_cache(self, cache_dir: Path) -> None:
        """The app's cache, copied for this build to change: by the app's uid in the
        sandbox (a FIFO or a link in it is copied as what it is, never read through)."""
        p = self.paths
        if self.sandbox is None:
            await asyncio.to_thread(_copy_cache, cache_dir, p.cache)
            return
        if not await asyncio.to_thread(cache_dir.is_dir):
            return
        argv = self.sandbox.command(
            ["cp", "-a", f"{cache_dir}/.", f"{p.cache}/"],
            uid=self.uid,
            writable=[p.cache],
            readable=[cache_dir],
        )
        lines: list[str] = []
        code = await procs.run(
            argv,
            cwd=p.root,
            env={"PATH": DEFAULT_PATH},
            sink=lambda _s, line: lines.append(line),
            limit=self._left(),
        )
        if code != 0:
            log.warning("build %s: the cache could not be copied: %s", self.build_id, lines[-3:])

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BuildFailed(self._timeout_line())
        return left

    def _timeout_line(self) -> str:
        minutes = round(self.env.timeout / 60, 1)
        return f" !     Timed out: the build ran longer than {minutes:g} minutes."

    def _step_env(self, plan: Plan) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k in PASSTHROUGH or k.startswith(PASSTHROUGH_PREFIXES)
        }
        env.update(
            PATH=os.environ.get("PATH") or DEFAULT_PATH,
            HOME=str(self.paths.home),
            TMPDIR=str(self.paths.tmp),
            LANG="C.UTF-8",
            STACK=plan.stack,
            SOURCE_VERSION=plan.source_version or "",
            REQUEST_ID=self.request_id,
            DYNO=f"run.{secrets.randbelow(9000) + 1000}",
            BUILDPACK_LOG_FILE="/dev/null",
            TENKU_BUILD_ID=str(self.build_id),
            TENKU_PYTHON=base_python(),
        )
        return env

    async def _record_pgid(self, pgid: int | None) -> None:
        async with self.env.db.session(write=True) as db:
            await db.execute(
                update(Build)
                .where(Build.id == self.build_id)
                .values(pgid=pgid)
                .execution_options(synchronize_session=False)
            )
            await db.commit()

    async def _step(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        sink: Callable[[str, str], None],
    ) -> int:
        on_start: Callable[[int], Awaitable[None]] = self._record_pgid
        if self.sandbox is not None:
            p = self.paths
            argv = self.sandbox.command(
                argv,
                uid=self.uid,
                writable=[p.build, p.cache, p.home, p.tmp, p.packs],
                readable=[p.env],
                cwd=cwd,
                group=self.box.group,
                hostname=env.get("DYNO"),
            )
        try:
            return await procs.run(
                argv, cwd=cwd, env=env, sink=sink, limit=self._left(), on_start=on_start
            )
        except procs.StepTimeout as exc:
            raise BuildFailed(self._timeout_line()) from exc
        finally:
            # Nothing of one step outlives it (the next one, or Tenku, works on its files).
            if self.box.group is not None:
                await asyncio.to_thread(self.box.group.kill)

    async def _detect(self, pack_dir: Path, app_dir: Path) -> tuple[int, str, list[str]]:
        """bin/detect's exit status, the framework name it printed, and its stderr."""
        stdout: list[str] = []
        stderr: list[str] = []

        def sink(stream: str, line: str) -> None:
            (stdout if stream == STDOUT else stderr).append(line)

        code = await self._step(
            [str(pack_dir / "bin" / "detect"), str(app_dir)],
            pack_dir,
            self._step_env(self.plan),
            sink,
        )
        name = next((line.strip() for line in stdout if line.strip()), "") or pack_dir.name
        return code, name, stderr

    async def _compile(
        self, plan: Plan, pack_dir: Path, name: str, app_dir: Path, exports: list[Path]
    ) -> None:
        # Earlier buildpacks' `export` files are sourced into this one's environment.
        script = 'while [ "$1" != "--" ]; do . "$1"; shift; done; shift; exec "$@"'
        argv = [
            "bash",
            "-c",
            script,
            "compile",
            *map(str, exports),
            "--",
            str(pack_dir / "bin" / "compile"),
            str(app_dir),
            str(self.paths.cache),
            str(self.paths.env),
        ]
        code = await self._step(argv, pack_dir, self._step_env(plan), self.out.write)
        if code != 0:
            raise BuildFailed(
                f" !     Push rejected, failed to compile {name} app.",
                "",
                " !     Push failed",
                exit_code=code,
            )
        export = pack_dir / "export"
        if export.is_file():
            exports.append(export)

    async def _release(
        self, plan: Plan, pack_dir: Path, app_dir: Path, exports: list[Path]
    ) -> dict[str, Any]:
        script = pack_dir / "bin" / "release"
        if not script.is_file():
            return {}
        stdout: list[str] = []

        def sink(stream: str, line: str) -> None:
            if stream == STDOUT:
                stdout.append(line)
            else:
                self.out.write(STDERR, line)

        code = await self._step(
            [str(script), str(app_dir), str(self.paths.cache)],
            pack_dir,
            self._step_env(plan),
            sink,
        )
        if code != 0:
            raise BuildFailed(f" !     bin/release exited with status {code}.", exit_code=code)
        return parse_release("\n".join(stdout))

    # --- outcome ------------------------------------------------------------------

    async def _succeed(self, plan: Plan, outcome: Outcome) -> None:
        await self.out.stop()
        snapshot = self.out.snapshot()
        try:
            async with self.env.db.session(write=True) as db:
                build = await db.get(Build, self.build_id)
                app = await db.get(App, plan.app_id)
                if build is None or app is None:
                    await self.env.blobs.delete(outcome.blob_key)
                    return
                user = await db.get(Account, build.user_id) if build.user_id else None
                if user is None and app.owner_id is not None:
                    user = await db.get(Account, app.owner_id)
                assert user is not None
                db.add(
                    Slug(
                        id=outcome.slug_id,
                        app_id=app.id,
                        process_types=outcome.process_types,
                        commit=build.source_version,
                        commit_description=build.source_version_description,
                        checksum=outcome.checksum,
                        size=outcome.size,
                        stack=build.stack,
                        buildpack_provided_description=outcome.description,
                        blob_key=outcome.blob_key,
                    )
                )
                await db.flush()
                description = deploy_description(build.source_version, outcome.source_sha256)
                release = await deploy_slug(db, app, user, str(outcome.slug_id), description)
                app.slug_size = outcome.size
                app.buildpack_provided_description = outcome.description
                if outcome.detected and not await installations(db, app.id):
                    # Later builds keep the language detected now, as on Heroku.
                    await replace_installations(db, self.env.settings, app, [outcome.detected])
                web_url = self.env.settings.app_web_url(app.name)
                self.out.out("-----> Launching...")
                self.out.out(f"       Released v{release.version}")
                self.out.out(f"       {web_url} deployed to Tenku")
                self.out.out("")
                db.add_all(self.out.take_rows())
                build.status = "succeeded"
                build.slug_id = outcome.slug_id
                build.release_id = release.id
                build.exit_code = 0
                build.finished_at = utcnow()
                build.pgid = None
                await db.commit()
        except (ApiError, SQLAlchemyError) as exc:
            self.out.restore(snapshot)
            await self.env.blobs.delete(outcome.blob_key)
            log.warning("build %s could not be released: %s", self.build_id, exc)
            message = exc.message if isinstance(exc, ApiError) else "a database error"
            raise BuildFailed(f" !     Releasing the slug failed: {message}") from exc

    async def _fail(self, lines: list[str], exit_code: int) -> None:
        await self.out.stop()
        for line in lines:
            self.out.write(STDERR if line.startswith(" !") else STDOUT, line)
        rows = self.out.take_rows()
        try:
            async with self.env.db.session(write=True) as db:
                build = await db.get(Build, self.build_id)
                if build is None:
                    return
                db.add_all(rows)
                build.status = "failed"
                build.exit_code = exit_code or 1
                build.finished_at = utcnow()
                build.pgid = None
                await db.commit()
        except SQLAlchemyError:
            log.exception("could not record the failure of build %s", self.build_id)
