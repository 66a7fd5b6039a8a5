"""The C allocator's settings in a router process.

Each read of a large body is a fresh 256 KiB bytes object, freed once written on. With
glibc's defaults, freeing such chunks at the top of the heap hands the memory back to the
kernel (brk) and the next read takes it again, faulting in and zeroing every page: twice
the kernel time per forwarded byte. Keeping up to TRIM_THRESHOLD of free heap, and taking
allocations below MMAP_THRESHOLD from the heap rather than from fresh mappings, ends that
churn at the cost of a few MiB held between bursts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

# glibc's mallopt parameters.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 16 * 1024 * 1024
MMAP_THRESHOLD = 1024 * 1024


def keep_freed_memory() -> None:
    """Apply the settings above to this process (a no-op where the C library has no
    mallopt)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
