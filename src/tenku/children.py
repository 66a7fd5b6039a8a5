"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child, before exec: `sig` when the parent dies, even when it is killed
    outright. (Linux only; elsewhere nothing.) The signal comes when the thread that
    started the child ends, so start children from a thread that lives as long as
    the parent needs them."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)
