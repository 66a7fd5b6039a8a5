"""Heroku's dyno sizes, spelled as the API returns them (the CLI's price table keys on it)."""

from __future__ import annotations

SIZES = (
    "Eco",
    "Basic",
    "Standard-1X",
    "Standard-2X",
    "Performance-M",
    "Performance-L",
    "Performance-L-RAM",
    "Performance-XL",
    "Performance-2XL",
)
DEFAULT_SIZE = "Standard-1X"
# Names from before the 2022 line-up, still accepted by Heroku.
LEGACY = {
    "free": "Eco",
    "hobby": "Basic",
    "1x": "Standard-1X",
    "2x": "Standard-2X",
    "px": "Performance-L",
    "performance": "Performance-L",
}
_BY_KEY = {s.lower(): s for s in SIZES} | LEGACY

# Heroku's default per-process-type ceilings; Eco and Basic allow a single dyno.
MAX_QUANTITY = {"Eco": 1, "Basic": 1}
MAX_PERFORMANCE = 10
MAX_STANDARD = 100


def canonical_size(name: str) -> str | None:
    return _BY_KEY.get(name.strip().lower())


def max_quantity(size: str) -> int:
    if size in MAX_QUANTITY:
        return MAX_QUANTITY[size]
    return MAX_PERFORMANCE if size.startswith("Performance") else MAX_STANDARD


# Per size: the memory quota in MB (beyond it a dyno is logged with R14; its cgroup's
# limit, where the OOM killer acts and R15 is logged, is twice it) and the processes and
# threads one dyno may have (Heroku's per-size limits).
LIMITS = {
    "Eco": (512, 256),
    "Basic": (512, 256),
    "Standard-1X": (512, 256),
    "Standard-2X": (1024, 512),
    "Performance-M": (2560, 16384),
    "Performance-L": (14336, 32768),
    "Performance-L-RAM": (30720, 32768),
    "Performance-XL": (63488, 32768),
    "Performance-2XL": (126976, 32768),
}
DEFAULT_LIMITS = LIMITS[DEFAULT_SIZE]


def _limits(size: str) -> tuple[int, int]:
    return LIMITS.get(canonical_size(size) or size, DEFAULT_LIMITS)


def memory_mb(size: str) -> int:
    return _limits(size)[0]


def process_limit(size: str) -> int:
    return _limits(size)[1]


def cpu_shares(size: str) -> int:
    """CPU weight relative to a Standard-1X's 1024: in proportion to the memory quota."""
    return 1024 * max(1, memory_mb(size) // 512)
