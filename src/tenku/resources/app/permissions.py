"""Heroku's "App Permissions and Allowed Actions" matrix, as the one table routes read.

Every app-scoped route names the action it performs (`on: Annotated[OnApp, allowed(...)]`
in access.py); this table says which privilege the action needs. Nothing else in the
code decides which permission an action takes.

Privileges are Heroku's four app permissions plus `own`. On a team app `own` comes with
`manage` (the matrix puts renaming, deleting, transferring and access under manage); on
a personal app only its owner holds `own`, so collaborators on personal apps do all but
what changes who holds the app (rename, delete, transfer, who has access).

Where Heroku's page marks an action under two permissions, either grants it; the
actions below list both.
"""

from __future__ import annotations

from typing import Literal

Privilege = Literal["view", "deploy", "operate", "manage", "own"]
PERMISSIONS: tuple[Privilege, ...] = ("view", "deploy", "operate", "manage")
EVERYTHING: frozenset[Privilege] = frozenset({"view", "deploy", "operate", "manage", "own"})

# action -> the privileges any one of which allows it.
ACTIONS: dict[str, tuple[Privilege, ...]] = {
    # General app and access info
    "app:view": ("view",),  # basic app info, activity (builds, releases), access list
    "app:rename": ("own",),
    "app:delete": ("own",),
    "app:transfer": ("own",),
    "app:lock": ("own",),
    "access:edit": ("own",),  # add or remove users, change their permissions
    # Code and config
    "code:fetch": ("deploy",),  # git clone / fetch
    "code:push": ("deploy",),  # git push, builds, slugs, sources, buildpacks set
    "config:view": ("deploy", "manage"),
    "config:edit": ("deploy", "manage"),
    # Add-ons
    "addons:view": ("view",),
    "addons:config": ("deploy", "manage"),  # an add-on's own config, SSO
    "addons:edit": ("deploy", "manage"),  # create, remove, change plan, attach
    # App execution
    "dynos:view": ("view",),  # ps, formation, dyno sizes in use
    "drains:view": ("view",),
    "drains:edit": ("operate",),
    "logs:view": ("view",),
    "releases:view": ("view",),
    "releases:rollback": ("deploy", "operate"),
    "stack:view": ("view",),
    "stack:migrate": ("operate",),
    "maintenance:view": ("view",),
    "maintenance:edit": ("deploy", "operate"),
    "dynos:run": ("deploy", "operate"),  # one-off dynos (`heroku run`)
    "dynos:restart": ("operate",),  # restart, stop
    "dynos:scale": ("operate",),  # quantity and size
    # Configuration
    "domains:view": ("view",),
    "domains:edit": ("manage",),  # custom domains and SSL
    "features:view": ("view",),
    "features:edit": ("manage",),
    "webhooks:view": ("view",),
    "webhooks:edit": ("manage",),
}


def needs(action: str) -> tuple[Privilege, ...]:
    """What `action` takes; an unknown name is a programming error, caught at import."""
    return ACTIONS[action]
