#!/usr/bin/env python3
"""Hush at the machine's limit: idle TLS sessions up to the per-process file limit, with memory and CPU.

    env HUSH_BUILD_DIR=build bench/scale.py [--sessions 5000,10000,15000,19900] [--sources 4] [--out FILE]

The same server set-up as compare.py (server on CPU 0, generator on CPU 1, TLS + SCRAM-SHA-1, accounts registered
then the server restarted). For each size, one generator logs that many clients in (spread over --sources loopback
source addresses, 127.0.0.1 upwards: one address has only ~28,000 ephemeral ports) and holds them; the script
records the server's RSS and the kernel's TCP buffers (/proc/net/sockstat) and slab (/proc/meminfo) with the sessions idle, the server's CPU
per login, and its CPU while they stay idle. The server is restarted before each size. Prints one JSON object per size and a fit of RSS against sessions,
from which docs/performance.md estimates 100,000 sessions.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import cpu_times, steal_percent  # noqa: E402
from compare import FD_LIMIT, Hush, loadgen, restart, settle, wait_ready  # noqa: E402

IDLE_SECONDS = 10  # how long the held sessions are watched for idle CPU


def tcp_kernel_kib() -> int:
    """The kernel's memory for TCP sockets, all processes (pages in /proc/net/sockstat)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def slab_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1])
    return 0


def fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least squares rss = a + b * sessions."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - b * mx, b


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="5000,10000,15000,19900")
    parser.add_argument("--sources", type=int, default=4, help="loopback source addresses for the clients")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sessions.split(",")]
    if max(sizes) > FD_LIMIT - 50:
        parser.error(f"at most {FD_LIMIT - 50} sessions: the server and the generator may hold {FD_LIMIT} files")
    sources = ",".join(f"127.0.0.{i + 1}" for i in range(args.sources))

    workdir = Path(tempfile.mkdtemp(prefix="hush-scale-"))
    server = Hush(workdir)
    rows = []
    try:
        server.start()
        biggest = max(sizes)
        print(f"[scale] registering {biggest} users", file=sys.stderr)
        reg = loadgen(server, "--users", str(biggest), "--register", "--duration", "0", "--concurrency", "50",
                      "--prefix", "u")
        if reg["logged_in"] != biggest:
            raise RuntimeError(f"registration: {reg}")
        for n in sizes:
            # A fresh process for each size: the heap a larger run left behind would hide a smaller one's cost.
            restart(server)
            settle(server)
            rss_before, cpu_before = server.stats()
            host_before = cpu_times()
            tcp_before, slab_before = tcp_kernel_kib(), slab_kib()
            proc = loadgen(server, "--users", str(n), "--duration", "0", "--hold", str(IDLE_SECONDS + 8),
                           "--concurrency", "100", "--prefix", "u", "--sources", sources, background=True)
            ready = wait_ready(proc)
            print(f"[scale] {n}: {ready}", file=sys.stderr)
            _, cpu_logged_in = server.stats()
            time.sleep(2)  # allocator settling before the sample: a measurement, not a sync
            rss, cpu_idle_start = server.stats()
            tcp, slab = tcp_kernel_kib(), slab_kib()
            time.sleep(IDLE_SECONDS)  # the window over which idle CPU is measured
            _, cpu_idle_end = server.stats()
            out, err = proc.communicate(timeout=600)
            result = json.loads(out.strip().splitlines()[-1])
            if result["logged_in"] != n:
                raise RuntimeError(f"{n} sessions: only {result['logged_in']} logged in:\n{err}")
            row = {
                "sessions": n,
                "rss_kib": rss,
                "rss_kib_before": rss_before,
                "kib_per_session": (rss - rss_before) / n,
                "kernel_tcp_buffers_kib_per_session": (tcp - tcp_before) / n,
                # Both ends of each connection are on this machine: the server's half is about half of it.
                "kernel_slab_kib_per_connection_both_ends": (slab - slab_before) / n,
                "server_cpu_us_per_login": 1e6 * (cpu_logged_in - cpu_before) / n,
                "logins_per_second": result["logins_per_second"],
                "idle_server_cpu_percent": 100 * (cpu_idle_end - cpu_idle_start) / IDLE_SECONDS,
                "host_steal_percent": steal_percent(host_before),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        summary = {}
        if len(rows) > 1:
            base, slope = fit([(r["sessions"], r["rss_kib"]) for r in rows])
            summary = {"fit_base_kib": base, "fit_kib_per_session": slope,
                       "estimate_100000_mib": (base + slope * 100000) / 1024}
            print(json.dumps(summary), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps({"rows": rows, "fit": summary}, indent=1) + "\n")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
