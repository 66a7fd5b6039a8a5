"""The buildpacks that ship with Tenku, by registry name: each a directory with bin/."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent

BUILTIN: dict[str, Path] = {
    "heroku/nodejs": _HERE / "nodejs",
    "heroku/python": _HERE / "python",
    "heroku/static": _HERE / "static",
    "heroku/procfile": _HERE / "procfile",
}

# How the API names a built-in buildpack in an installation's `url`, as Heroku does.
URN_PREFIX = "urn:buildpack:"

# What the buildpack registry says about each (`heroku buildpacks:info`, `:search`).
DESCRIPTIONS: dict[str, str] = {
    "heroku/nodejs": "Node.js applications: npm and package.json.",
    "heroku/python": "Python applications: pip and requirements.txt.",
    "heroku/static": "Static sites, served from the app's files.",
    "heroku/procfile": "Runs what the Procfile says, with no build step.",
}


def builtin_name(url: str) -> str | None:
    """The built-in buildpack an installation URL (`urn:buildpack:<name>`) names."""
    if url.startswith(URN_PREFIX) and url[len(URN_PREFIX) :] in BUILTIN:
        return url[len(URN_PREFIX) :]
    return None
