"""Heroku's "App Permissions and Allowed Actions" matrix, as the one table routes read.

Every app-scoped route names the action it performs (`on: Annotated[OnApp, allowed(...)]`
in access.py); this table says which privilege the action needs, and what to tell a
caller who lacks it. Nothing else in the code decides which permission an action takes.

Privileges are Heroku's four app permissions plus `own`. On a team app `own` comes with
`manage` (the matrix puts renaming, deleting, transferring, locking and access under
manage); on a personal app only its owner holds `own`, so collaborators on personal apps
do all but what changes who holds the app (rename, delete, transfer, who has access).

Where the matrix marks an action under two permissions, either one grants it. Those rows
are the ones Heroku's own summaries give to both `deploy` (code, config vars, free add-ons,
one-off dynos, rollbacks) and `operate` (formation, restarts, paid add-ons): its API
answers a caller without either, for an add-on's configuration, "You need to have the
deploy or operate permission on this app". `manage` is the app's settings: its name,
domains, features, who has access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Privilege = Literal["view", "deploy", "operate", "manage", "own"]
PERMISSIONS: tuple[Privilege, ...] = ("view", "deploy", "operate", "manage")
EVERYTHING: frozenset[Privilege] = frozenset({"view", "deploy", "operate", "manage", "own"})


@dataclass(frozen=True)
class Rule:
    # The privileges any one of which allows the action.
    privileges: tuple[Privilege, ...]
    # What the action does, for the 403 ("You do not have permission to <doing>."); `{app}`
    # is the app's name.
    doing: str


V: tuple[Privilege, ...] = ("view",)
DEPLOY: tuple[Privilege, ...] = ("deploy",)
DEPLOY_OR_OPERATE: tuple[Privilege, ...] = ("deploy", "operate")
OPERATE: tuple[Privilege, ...] = ("operate",)
MANAGE: tuple[Privilege, ...] = ("manage",)
OWN: tuple[Privilege, ...] = ("own",)

MATRIX: dict[str, Rule] = {
    # General app and access info
    "app:view": Rule(V, "view {app}"),  # app info, activity (builds, releases), access list
    "app:rename": Rule(OWN, "rename {app}"),
    "app:delete": Rule(OWN, "delete {app}"),
    "app:transfer": Rule(OWN, "transfer {app}"),
    "app:lock": Rule(OWN, "lock or unlock {app}"),
    "access:edit": Rule(OWN, "manage access to {app}"),  # add, remove, change permissions
    # Code and config
    "code:fetch": Rule(DEPLOY, "fetch the code of {app}"),  # git fetch, slug downloads
    "code:push": Rule(DEPLOY, "push code to {app}"),  # git push, builds, slugs, buildpacks
    "config:view": Rule(DEPLOY_OR_OPERATE, "view config vars on {app}"),
    "config:edit": Rule(DEPLOY_OR_OPERATE, "edit config vars on {app}"),
    # Add-ons
    # The matrix marks listing add-ons under two permissions too, but the CLI's `apps:info`,
    # which members who may only view run, fails when listing them fails: it stays `view`.
    "addons:view": Rule(V, "view add-ons on {app}"),
    "addons:config": Rule(DEPLOY_OR_OPERATE, "view addon resources on {app}"),  # config, SSO
    # Create, remove, attach, detach, rename, change plan: free plans...
    "addons:edit": Rule(DEPLOY_OR_OPERATE, "add or remove add-ons on {app}"),
    # ...and, on top of that, paid ones.
    "addons:paid": Rule(OPERATE, "add, remove or change paid add-ons on {app}"),
    # App execution
    "dynos:view": Rule(V, "view dynos on {app}"),  # ps, formation, dyno sizes in use
    "drains:view": Rule(V, "view log drains on {app}"),
    "drains:edit": Rule(OPERATE, "add or remove log drains on {app}"),
    "logs:view": Rule(V, "view logs of {app}"),
    "releases:view": Rule(V, "view releases of {app}"),
    "releases:rollback": Rule(DEPLOY_OR_OPERATE, "roll back {app}"),
    "stack:view": Rule(V, "view the stack of {app}"),
    "stack:migrate": Rule(OPERATE, "change the stack of {app}"),
    "maintenance:view": Rule(V, "view maintenance mode on {app}"),
    "maintenance:edit": Rule(DEPLOY_OR_OPERATE, "turn maintenance mode on or off on {app}"),
    "dynos:run": Rule(DEPLOY_OR_OPERATE, "run one-off dynos on {app}"),  # `heroku run`
    "dynos:restart": Rule(OPERATE, "restart or stop dynos on {app}"),
    "dynos:scale": Rule(OPERATE, "scale or resize dynos on {app}"),  # quantity and size
    # Configuration
    "domains:view": Rule(V, "view domains on {app}"),  # domains, SNI endpoints
    "domains:edit": Rule(MANAGE, "add or remove domains on {app}"),  # custom domains, SSL
    "features:view": Rule(V, "view features of {app}"),
    "features:edit": Rule(MANAGE, "enable or disable features of {app}"),
    "webhooks:view": Rule(V, "view webhooks of {app}"),
    "webhooks:edit": Rule(MANAGE, "add or remove webhooks of {app}"),
}

# action -> the privileges any one of which allows it.
ACTIONS: dict[str, tuple[Privilege, ...]] = {name: r.privileges for name, r in MATRIX.items()}


def needs(action: str) -> tuple[Privilege, ...]:
    """What `action` takes; an unknown name is a programming error, caught at import."""
    return MATRIX[action].privileges


def doing(action: str, app_name: str) -> str:
    return MATRIX[action].doing.format(app=app_name)
