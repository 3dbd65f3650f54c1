#!/usr/bin/env python3
"""What XEP-0313 archiving costs on the message path: Hush with [mam] enabled and disabled, side by side, in
compare.py's "messages between contacts" scenario (pairs of mutual contacts, flat out with 10 in flight per sender;
every message archived twice, in the sender's and the receiver's archive), then the same pairs at a fixed total
rate (--rate msgs/s) for the latency. Runs alternate (off, on, off, on, ...)
from fresh servers, each on SQLite (the default) unless --postgres-url is given.

    bench/mam_ab.py [--users 200] [--duration 10] [--runs 2] [--postgres-url URL]

Prints one line per run and the medians (docs/performance.md, "Message archive").
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the servers, the generator and its measured window)


class HushMam(compare.Hush):
    def __init__(self, workdir: Path, enabled: bool, postgres_url: str | None):
        super().__init__(workdir)
        self.enabled = enabled
        self.postgres_url = postgres_url

    def command(self) -> list[str]:
        command = super().command()
        config = self.workdir / "hush.toml"
        # compare.py's config has its own [mam] section (the archive off, as the other servers run): switched here.
        text, switched = re.subn(r"^\[mam\]\nenabled = \w+", f"[mam]\nenabled = {'true' if self.enabled else 'false'}",
                                 config.read_text(), flags=re.MULTILINE)
        if switched != 1:
            raise RuntimeError("compare.py's Hush config has no [mam] section to switch")
        if self.postgres_url:
            text += f'\n[storage]\nbackend = "postgresql"\nurl = "{self.postgres_url}"\n'
        config.write_text(text)
        return command


def run(enabled: bool, args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"hush-mam-ab-{'on' if enabled else 'off'}-"))
    server = HushMam(workdir, enabled, args.postgres_url)
    try:
        server.start()
        reg = compare.loadgen(server, "--users", str(args.users), "--register", "--duration", "0", "--prefix", "u")
        assert reg["logged_in"] == args.users, reg
        compare.settle(server)
        msgs, cpu = compare.measured_run(server, "--users", str(args.users), "--duration", str(args.duration),
                                         "--window", "10", "--prefix", "u", "--subscribe-pairs")
        compare.settle(server)
        fixed, _ = compare.measured_run(server, "--users", str(args.users), "--duration", str(args.duration),
                                        "--rate", str(args.rate / args.users), "--prefix", "u", "--subscribe-pairs")
        return {"mam": enabled, "messages_per_second": msgs["messages_per_second"], "p99_ms": msgs["p99_ms"],
                "server_cpu_us_per_message": compare.per_message_us(cpu, msgs),
                "generator_cpu_percent": msgs["generator_cpu_percent"],
                "fixed_p50_ms": fixed["p50_ms"], "fixed_p99_ms": fixed["p99_ms"]}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2000, help="total msgs/s of the fixed-rate run")
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        for enabled in (False, True):
            r = run(enabled, args)
            results.append(r)
            print(f"mam {'on ' if enabled else 'off'}: {r['messages_per_second']:8.0f} msgs/s, "
                  f"{r['server_cpu_us_per_message']:6.1f} µs server CPU/msg, p99 {r['p99_ms']:.1f} ms, "
                  f"generator {r['generator_cpu_percent']:.0f} %; at {args.rate:g} msgs/s p50 {r['fixed_p50_ms']:.2f} ms, "
                  f"p99 {r['fixed_p99_ms']:.2f} ms", flush=True)
    for enabled in (False, True):
        mine = [r for r in results if r["mam"] == enabled]
        print(f"median, mam {'on ' if enabled else 'off'}: "
              f"{statistics.median(r['messages_per_second'] for r in mine):8.0f} msgs/s, "
              f"{statistics.median(r['server_cpu_us_per_message'] for r in mine):6.1f} µs/msg, "
              f"p99 {statistics.median(r['p99_ms'] for r in mine):.1f} ms; at {args.rate:g} msgs/s p99 "
              f"{statistics.median(r['fixed_p99_ms'] for r in mine):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
