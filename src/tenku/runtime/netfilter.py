"""Where sandboxed code may open connections: an nftables rule keyed on uids.

Dynos share the machine's network stack, so their reach is cut by uid rather than by a
namespace of their own: every connection opened by a process running as an app's uid (the
sandbox's uid range) is judged by one table per installation, made when the runtime starts
and removed when it stops. Such a process may open connections to
- the internet (any public address) and DNS servers (port 53, wherever they are);
- this machine only on Tenku's public listeners (API, router, `heroku run`), as any client
  on the internet may;
- the add-on servers whose URLs it is given, and the package registries builds fetch from
  (and the proxy or index Tenku's environment names for them), at whatever address this
  machine resolves them to when the runtime starts;
- private networks only where the operator allows them (TENKU_ALLOW_PRIVATE_TARGETS,
  addresses and CIDRs; this machine's own addresses are never opened that way).
Everything else is refused at once (a TCP reset, an ICMP error): other dynos' ports (the
`$PORT` range, `TENKU_SANDBOX_PORTS`) on any address of this machine, so a dyno reaches
another (or one of its own app) only through the router; Tenku's other services and the
machine's (the add-on servers' other ports, whatever listens on loopback); link-local
metadata services and the private networks around the machine. The router, which runs as
Tenku, reaches the dynos' ports; replies on connections a dyno accepted pass.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tenku.egress import RESERVED_V4, RESERVED_V6, Network

log = logging.getLogger("tenku.runtime.sandbox")


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


@dataclass(frozen=True)
class Reach:
    """What sandboxed code may open connections to besides the internet."""

    # Tenku's public listeners, on any address of this machine.
    listeners: tuple[int, ...] = ()
    # Add-on servers and package registries, as (address, port).
    services: tuple[tuple[str, int], ...] = ()
    # Private networks the operator opened.
    networks: tuple[Network, ...] = field(default=())

    def rules(self) -> str:
        lines = [
            # Only the segment that opens a connection is judged; later ones belong to a
            # connection that was allowed, or that the dyno accepted.
            "tcp flags & (syn | ack) != syn accept",
            "meta l4proto { tcp, udp } th dport 53 accept",
        ]
        for family in ("ip", "ip6"):
            services = [f"{a} . {p}" for a, p in self.services if (":" in a) == (family == "ip6")]
            if services:
                lines.append(f"{family} daddr . tcp dport {{ {', '.join(services)} }} accept")
        if self.listeners:
            ports = ", ".join(str(p) for p in sorted(set(self.listeners)))
            lines.append(f"fib daddr type local tcp dport {{ {ports} }} accept")
        lines += _refuse("fib daddr type local")
        for family, version, reserved in (("ip", 4, RESERVED_V4), ("ip6", 6, RESERVED_V6)):
            opened = [str(n) for n in self.networks if n.version == version]
            if opened:
                lines.append(f"{family} daddr {{ {', '.join(opened)} }} accept")
            lines += _refuse(f"{family} daddr {{ {', '.join(str(n) for n in reserved)} }}")
        return "".join(f"    {line}\n" for line in lines)


def _refuse(match: str) -> list[str]:
    """Refusals that fail at once: a reset for TCP, an ICMP error for the rest."""
    return [f"{match} meta l4proto tcp reject with tcp reset", f"{match} reject"]


# nftables keeps a table's comment to 128 bytes.
COMMENT_MAX = 120


class NetFilter:
    """The installation's table. It judges the uids of its own apps only (a set the
    sandbox adds each new app's uid to before anything runs as it), so installations that
    share a machine, each with its own listeners, never judge each other's apps."""

    def __init__(self, installation: str, ports: PortRange, reach: Reach | None = None) -> None:
        self.installation = installation
        self.reach = reach or Reach()
        self.table = "tenku_" + hashlib.sha256(installation.encode()).hexdigest()[:12]
        self.ports = ports
        self.nft = shutil.which("nft")

    def _run(self, script: str) -> subprocess.CompletedProcess[str]:
        assert self.nft is not None
        return subprocess.run(  # noqa: PLW1510 (callers check the status)
            [self.nft, "-f", "-"], input=script, capture_output=True, text=True, timeout=30
        )

    def install(self, uids: Iterable[int]) -> str | None:
        """Make (or remake) the table for the apps' `uids`; what went wrong, or None."""
        if self.nft is None:
            return "nftables (nft) is not installed"
        self._remove_orphans()
        elements = ", ".join(str(uid) for uid in sorted(set(uids)))
        ports = f"{self.ports.low}-{self.ports.high}"
        # The comment names the data directory, so a table whose installation is gone can
        # be told apart and removed by another installation's runtime.
        comment = f"tenku {self.installation}"
        safe = (
            len(comment.encode()) <= COMMENT_MAX
            and comment.isprintable()
            and not {'"', "\\"} & set(comment)
        )
        # Packets the kernel sends on no socket's behalf (resets, ICMP) carry no uid and
        # never enter the apps' chain.
        rule = (
            "  set apps {\n"
            "    typeof meta skuid\n"
            + (f"    elements = {{ {elements} }}\n" if elements else "")
            + "  }\n"
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            "    meta skuid @apps jump apps\n"
            "  }\n"
            "  chain apps {\n"
            f"    fib daddr type local tcp dport {ports} reject with tcp reset\n"
            f"{self.reach.rules()}"
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

    def admit(self, uid: int) -> str | None:
        """Judge `uid` from now on; what went wrong, or None."""
        if self.nft is None:
            return "nftables (nft) is not installed"
        done = self._run(f"add element inet {self.table} apps {{ {uid} }}\n")
        if done.returncode != 0:
            return f"nftables refused the app's uid: {done.stderr.strip()[:300]}"
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
