"""What keeps sandboxed code off other dynos' ports: an nftables rule keyed on uids.

Dynos share the machine's network, each listening on a `$PORT` from one range
(`TENKU_SANDBOX_PORTS`). One rule refuses every TCP connection that a process running as
an app's uid (the sandbox's uid range) opens to a port of that range on any address of this
machine: a dyno cannot reach another dyno (nor one of its own app) around the router, while
the router, which runs as Tenku, can. The rule lives in a table of its own per
installation, made when the runtime starts and removed when it stops.

A port of the range bound by another uid first cannot take a dyno's traffic either: the
runtime only routes to a port once the listening socket on it belongs to the dyno's own uid
(`procs.listeners`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tenku.runtime.sandbox")

# How many app uids the rule covers from the base: one per app, never reused.
UID_SPAN = 1_000_000


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        low, _, high = text.partition("-")
        ports = cls(int(low), int(high or low))
        if not 1024 <= ports.low <= ports.high <= 65535:
            raise ValueError(f"TENKU_SANDBOX_PORTS must be a range within 1024-65535, not {text}")
        return ports

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high


# nftables keeps a table's comment to 128 bytes.
COMMENT_MAX = 120


class NetFilter:
    def __init__(self, installation: str, uid_base: int, ports: PortRange) -> None:
        self.installation = installation
        self.table = "tenku_" + hashlib.sha256(installation.encode()).hexdigest()[:12]
        self.uid_base = uid_base
        self.ports = ports
        self.nft = shutil.which("nft")

    def _run(self, script: str) -> subprocess.CompletedProcess[str]:
        assert self.nft is not None
        return subprocess.run(  # noqa: PLW1510 (callers check the status)
            [self.nft, "-f", "-"], input=script, capture_output=True, text=True, timeout=30
        )

    def install(self) -> str | None:
        """Make (or remake) the table; what went wrong, or None."""
        if self.nft is None:
            return "nftables (nft) is not installed"
        self._remove_orphans()
        uids = f"{self.uid_base}-{self.uid_base + UID_SPAN - 1}"
        ports = f"{self.ports.low}-{self.ports.high}"
        # The comment names the data directory, so a table whose installation is gone can
        # be told apart and removed by another installation's runtime.
        comment = f"tenku {self.installation}"
        safe = (
            len(comment.encode()) <= COMMENT_MAX
            and comment.isprintable()
            and not {'"', "\\"} & set(comment)
        )
        rule = (
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    meta skuid {uids} fib daddr type local tcp dport {ports} "
            "reject with tcp reset\n"
            "  }\n"
        )
        replace = f"table inet {self.table}\ndelete table inet {self.table}\n"
        labelled = f'  comment "{comment}"\n' if safe else ""
        done = self._run(f"{replace}table inet {self.table} {{\n{labelled}{rule}}}\n")
        if done.returncode != 0 and labelled:
            # nftables before 0.9.7 knows no table comments: the rule matters, not the label.
            done = self._run(f"{replace}table inet {self.table} {{\n{rule}}}\n")
        if done.returncode != 0:
            return f"nftables refused the rule: {done.stderr.strip()[:300]}"
        return None

    def _remove_orphans(self) -> None:
        """Tables of installations whose data directory no longer exists (a runtime killed
        outright cannot remove its own)."""
        listed = self._run("list tables\n")
        for line in listed.stdout.splitlines():
            name = line.split()[-1] if line.startswith("table inet tenku_") else ""
            if not name or name == self.table:
                continue
            shown = self._run(f"list table inet {name}\n").stdout
            match = re.search(r'comment "tenku (.+)"', shown)
            if match and not Path(match.group(1)).exists():
                self._run(f"delete table inet {name}\n")

    def remove(self) -> None:
        if self.nft is not None:
            self._run(f"table inet {self.table}\ndelete table inet {self.table}\n")
