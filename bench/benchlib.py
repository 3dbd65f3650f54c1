"""What bench/compare.py, bench/scale.py and bench/spimsim.py share: where the build is, free loopback ports, and
the host's steal time."""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("HUSH_BUILD_DIR", REPO / "build"))


def cpu_times() -> tuple[int, int]:
    """The machine's (steal, total) CPU ticks so far (/proc/stat): on a VM, time the hypervisor gave to others."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def steal_percent(since: tuple[int, int]) -> float:
    """Share of the machine's CPU time stolen by the hypervisor since `since` (a cpu_times()), in %. CPU figures
    taken while it is high move with the host's load, not with the program measured."""
    steal, total = cpu_times()
    return 100.0 * (steal - since[0]) / max(1, total - since[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_overflows() -> int:
    """Connections the kernel dropped so far because a listener's accept queue was full (TcpExt ListenOverflows in
    /proc/net/netstat). Any during a login run mean the clients waited on the kernel's retries, not on the server."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:]))).get("ListenOverflows", 0)
    return 0
