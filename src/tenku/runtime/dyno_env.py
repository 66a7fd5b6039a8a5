"""What every dyno starts from: its own copy of the slug, its environment, its command.

Follows Heroku's start sequence: the slug's `./app` tree becomes the dyno's home and
working directory, the environment is the platform's variables, then the release's config
vars, then (one-offs) the variables the client passed, with `PORT` and `DYNO` always the
platform's; bash sources `.profile.d/*.sh` in glob order and `.profile`, then runs the
command with `bash -c`, so `$PORT` and `&&` work in a Procfile.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tarfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from tenku.runtime import untar
from tenku.runtime.scheduler import ReleaseSpec

# The dyno's own marker, also how a later runtime recognises processes left behind.
MARKER = "TENKU_DYNO_ID"
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Sourced by bash before the command; "$1" is the command.
RUNNER = (
    'cd "$HOME" || exit 1; '
    'for f in "$HOME"/.profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; unset f; '
    'if [ -r "$HOME/.profile" ]; then . "$HOME/.profile"; fi; '
    'exec bash -c "$1"'
)


class SlugError(Exception):
    pass


def slug_limits(max_bytes: int, max_members: int) -> untar.Limits:
    # Absolute symlinks stay: buildpacks link the machine's own interpreters that way.
    return untar.Limits(max_bytes, max_members, absolute_links=True, prefix="app")


def slug_error(exc: Exception) -> SlugError:
    if isinstance(exc, untar.UnsafeArchive):
        return SlugError(f"the slug cannot be unpacked safely: {exc}")
    return SlugError(f"the slug is not a readable tarball: {exc}")


def unpack_slug(slug: Path, dest: Path, max_bytes: int, max_members: int) -> None:
    """Unpack `./app/...` of a slug into `dest` (a fresh directory), in this process."""
    if dest.exists():
        shutil.rmtree(dest)
    try:
        untar.unpack(slug, dest, slug_limits(max_bytes, max_members))
    except (untar.UnsafeArchive, tarfile.TarError, EOFError) as exc:
        raise slug_error(exc) from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_command(command: str, process_types: Mapping[str, str]) -> str:
    """`heroku run worker 42` runs the `worker` process type's command with ` 42` added."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if words and words[0] in process_types:
        rest = command.strip()[len(words[0]) :]
        return process_types[words[0]] + rest
    return command


def dyno_env(
    *,
    home: Path,
    dyno: str,
    dyno_id: uuid.UUID,
    port: int,
    release: ReleaseSpec | None,
    app_id: uuid.UUID,
    app_name: str,
    metadata: bool,
    extra: Mapping[str, str] | None = None,
    default_domain: str | None = None,
) -> dict[str, str]:
    path = BASE_PATH
    for entry in (os.environ.get("PATH") or "").split(os.pathsep):
        # The machine's interpreters (a node or python outside the standard dirs).
        if entry and entry not in path.split(":"):
            path += ":" + entry
    env = {
        "PATH": path,
        "HOME": str(home),
        "PWD": str(home),
        "HOSTNAME": str(dyno_id),
        "LANG": "en_US.UTF-8",
    }
    if release is not None:
        env.update({str(k): str(v) for k, v in release.config.items()})
    if metadata:
        env["HEROKU_APP_ID"] = str(app_id)
        env["HEROKU_APP_NAME"] = app_name
        env["HEROKU_DYNO_ID"] = str(dyno_id)
        if release is not None:
            env["HEROKU_RELEASE_CREATED_AT"] = release.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            env["HEROKU_RELEASE_VERSION"] = f"v{release.version}"
            env["HEROKU_SLUG_COMMIT"] = release.commit or ""
            env["HEROKU_SLUG_DESCRIPTION"] = release.description
        if default_domain:
            env["HEROKU_APP_DEFAULT_DOMAIN_NAME"] = default_domain
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    env["PORT"] = str(port)
    env["DYNO"] = dyno
    env[MARKER] = str(dyno_id)
    return env


# Where util-linux's setpriv exists, a dyno dies with the runtime that started it even
# when that runtime is killed outright; the next runtime reaps whatever else is left.
SETPRIV = shutil.which("setpriv")


def dyno_argv(command: str) -> list[str]:
    argv = ["bash", "-c", RUNNER, "dyno", command]
    if SETPRIV:
        return [SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    return argv
