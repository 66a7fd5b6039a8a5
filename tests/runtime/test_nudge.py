"""Nudges between processes: a socket in the private data directory, one holder at a time."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tenku.config import load_settings
from tenku.nudge import SOCKET, Inbox, nudge, run_dir


def test_a_nudge_reaches_the_inbox_however_long_the_data_directory_path(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    settings = load_settings(data_dir=deep)
    inbox = Inbox.open(settings)
    assert inbox is not None
    try:
        nudge(settings)
        assert inbox.sock.recv(64) == b"wake"
        # Only Tenku's own user reaches it: the directory is private.
        assert stat.S_IMODE(os.stat(run_dir(settings)).st_mode) == 0o700
    finally:
        inbox.close()


def test_one_holder_and_a_leftover_socket_does_not_block_the_next(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = Inbox.open(settings)
    assert first is not None
    assert Inbox.open(settings) is None
    first.close()
    # A runtime killed outright leaves its socket file; the lock went with its process.
    assert (run_dir(settings) / SOCKET).exists()
    second = Inbox.open(settings)
    assert second is not None
    try:
        nudge(settings)
        assert second.sock.recv(64) == b"wake"
    finally:
        second.close()


def test_a_nudge_with_no_runtime_is_dropped_quietly(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    nudge(settings)  # no run/ directory yet
    run_dir(settings).mkdir()
    nudge(settings)  # a directory but no socket
    assert not (run_dir(settings) / SOCKET).exists()
