"""Names the platform owns: add-on names, attachment names, and config var renaming."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping

from tenku.names import ADJECTIVES

# Colours seen in real Heroku Postgres and Redis attachment names, plus those of
# heroku.rb's generator: random, and unique among an app's attachments.
COLORS = (
    "AMBER",
    "AQUA",
    "BLACK",
    "BLUE",
    "BRONZE",
    "BROWN",
    "CHARCOAL",
    "COBALT",
    "COPPER",
    "CRIMSON",
    "CYAN",
    "GOLD",
    "GRAY",
    "GREEN",
    "INDIGO",
    "IVORY",
    "JADE",
    "LAVENDER",
    "MAROON",
    "MAUVE",
    "NAVY",
    "OLIVE",
    "ONYX",
    "ORANGE",
    "PINK",
    "PUCE",
    "PURPLE",
    "RED",
    "ROSE",
    "SILVER",
    "TEAL",
    "VIOLET",
    "WHITE",
    "YELLOW",
)

ATTACHMENT_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
ADDON_NAME_RE = re.compile(r"^[a-zA-Z][A-Za-z0-9_-]+$")


def normalize_attachment_name(raw: str) -> str:
    """Users type `database`; attachment names are upper case, as config var prefixes."""
    name = raw.strip().upper()
    if not ATTACHMENT_NAME_RE.match(name) or len(name) > 60:
        raise ValueError(
            f"{raw!r} is not a valid attachment name: use letters, digits and underscores, "
            "starting with a letter"
        )
    return name


def generate_addon_name(service: str) -> str:
    """`postgresql-gentle-52656`: the service without `heroku-`, an adjective, five digits."""
    base = service.removeprefix("heroku-")
    return f"{base}-{secrets.choice(ADJECTIVES)}-{secrets.randbelow(90000) + 10000}"


def colors_in_use(names: Iterable[str]) -> set[str]:
    used = set()
    for name in names:
        for color in COLORS:
            if name.endswith("_" + color) or f"_{color}_" in name:
                used.add(color)
    return used


def color_name(base: str, taken: Iterable[str]) -> str:
    """`<BASE>_<COLOR>` with a colour no attachment of the app has, else `<COLOR>_2`..."""
    taken_names = set(taken)
    used = colors_in_use(taken_names)
    free = [c for c in COLORS if c not in used]
    if free:
        return f"{base}_{secrets.choice(free)}"
    n = 2
    while True:
        for color in COLORS:
            candidate = f"{base}_{color}_{n}"
            if candidate not in taken_names:
                return candidate
        n += 1


def rename_vars(config: Mapping[str, str], prefix: str, attachment: str) -> dict[str, str]:
    """A provider's `<PREFIX>_X` vars as the attachment exposes them: `<ATTACHMENT>_X`."""
    return {renamed(key, prefix, attachment): value for key, value in config.items()}


def renamed(key: str, prefix: str, attachment: str) -> str:
    if key == prefix:
        return attachment
    if key.startswith(prefix + "_"):
        return attachment + key[len(prefix) :]
    return f"{attachment}_{key}"
