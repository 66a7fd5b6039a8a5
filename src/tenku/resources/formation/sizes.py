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


# Memory quota in MB: beyond it a dyno is logged with R14, beyond twice it R15 kills it.
MEMORY_MB = {
    "Eco": 512,
    "Basic": 512,
    "Standard-1X": 512,
    "Standard-2X": 1024,
    "Performance-M": 2560,
    "Performance-L": 14336,
    "Performance-L-RAM": 30720,
    "Performance-XL": 63488,
    "Performance-2XL": 126976,
}


def memory_mb(size: str) -> int:
    return MEMORY_MB.get(canonical_size(size) or size, 512)


# Processes and threads one dyno may have (Heroku's per-size limits).
PROCESS_LIMIT = {
    "Eco": 256,
    "Basic": 256,
    "Standard-1X": 256,
    "Standard-2X": 512,
    "Performance-M": 16384,
    "Performance-L": 32768,
    "Performance-L-RAM": 32768,
    "Performance-XL": 32768,
    "Performance-2XL": 32768,
}


def process_limit(size: str) -> int:
    return PROCESS_LIMIT.get(canonical_size(size) or size, 256)


def cpu_shares(size: str) -> int:
    """CPU weight relative to a Standard-1X's 1024: in proportion to the memory quota."""
    return 1024 * max(1, memory_mb(size) // 512)
