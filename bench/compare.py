#!/usr/bin/env python3
"""Hush, Prosody 0.12 and ejabberd 23.01 side by side, in one run, on one machine, with one load generator.

    bench/compare.py [--quick] [--servers hush,prosody,ejabberd] [--idle 5000,15000] [--users 200]
                     [--duration 10] [--flood-rate 10000] [--rates 2000,10000] [--out results.json]

Each server is configured from a temporary directory (its own config, data and log, on its own loopback port; no
system service is touched), with in-band registration open to loopback and its throttles raised, so the servers,
not their limits, are measured. The load generator (build/bench/hush-loadgen) and the server are pinned to different
cores. For each server, in order:

  register    the users, through XEP-0077 (untimed; fills the generator's SCRAM cache); then the server is
              restarted, so what registering left in its heap does not count as session memory
  logins      --users clients log in: TLS, SCRAM-SHA-1, bind, roster, initial presence
                                                                  → logins/s, server CPU µs per login
  idle        N clients log in and stay idle; the server's RSS is sampled while they hold       → KiB per session
              (each size on a freshly started server)
  messages    --users clients in pairs exchange messages flat out (10 in flight per sender)
                                                                  → msgs/s, p99, server CPU µs per message
  contacts    (Hush only) the same pairs made mutual roster contacts first, under trust_local_users = false: what
              a contact check costs (the peers check nothing, so their figure is the messages one)
  rates       the pairs at a fixed total rate (--rates msgs/s each)                            → p50, p99
  flood       legit pairs at 10 msgs/s each, while bots write to them as strangers at --flood-rate → legit p99

Every scenario starts from a settled server (its CPU idle). The server's CPU is sampled over exactly the
generator's measured window (it announces the window on stderr); the generator reports its own CPU, and a
message figure whose generator was busier than 90 % of its core is marked as limited by the generator ("*").
For Hush, the bench users are fresh accounts, which the anti-SPIM layer judges like strangers with the default
settings as well (trust goes to accounts a week old with a mutual contact): pairs become contacts by writing to
each other first, as people do.

It prints one table with the figures and the ratios Hush ÷ Prosody and Hush ÷ ejabberd, and writes the raw numbers
as JSON. --quick is the CI smoke run: small numbers, every server, every scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import BUILD, cpu_times, free_port, listen_overflows, steal_percent

PASSWORD = "bench-password-1"
FD_LIMIT = 20000
SERVER_CPU = "0"
LOADGEN_CPU = "1"
# Every server listens with the backlog Hush gets from SOMAXCONN. ejabberd's default is 5 and Prosody's 128: with
# the generator's 100 connections at once, ejabberd's accept queue overflowed (TcpExtListenOverflows), the dropped
# handshakes were retried by the kernel after 1, 3, 7… s and, on a busy host, some logins waited out their 60 s.
LISTEN_BACKLOG = 4096


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(FD_LIMIT, hard) if hard != resource.RLIM_INFINITY else FD_LIMIT
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def self_signed(directory: Path, domain: str) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={domain}",
                    "-addext", f"subjectAltName=DNS:{domain}"], check=True, capture_output=True)
    return cert, key


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")
            time.sleep(0.1)  # polling a port: nothing else says a foreign server is ready


def process_stats(pid: int) -> tuple[int, float]:
    """(RSS in KiB, CPU seconds) of a process and its children (ejabberd's beam runs under su and sh)."""
    total_rss, total_cpu = 0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids, queue = [], [pid]
    while queue:  # the whole process tree
        p = queue.pop()
        pids.append(p)
        children = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout.split()
        queue.extend(int(c) for c in children)
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_rss += int(line.split()[1])
        total_cpu += (int(stat[11]) + int(stat[12])) / ticks
    return total_rss, total_cpu


class Server:
    name = ""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.domain = "localhost"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        if not hasattr(self, "_command"):
            self._command = self.command()  # writes the config once; a restart reuses it and the data
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *self._command], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     preexec_fn=raise_fd_limit, start_new_session=True)
        log.close()
        wait_port(self.port, self.proc, self.name)

    def stats(self) -> tuple[int, float]:
        return process_stats(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Hush(Server):
    name = "hush"

    def command(self) -> list[str]:
        (self.workdir / "hush.toml").write_text(f"""
[server]
hosts = ["localhost"]
data_dir = "{self.workdir / 'data'}"
threads = 1
[log]
level = "warn"
[[listen]]
kind = "c2s"
address = "127.0.0.1"
port = {self.port}
[limits]
max_connections_per_ip = 100000
auth_failures_before_delay = 1000
[registration]
mode = "open"
captcha = false
max_per_ip = 1000000
max_per_network = 1000000
max_total = 1000000
[antispim]
trust_local_users = false      # the flood's bots are strangers to the legit users
[antispim.outbound]
enabled = false                # the flood comes from local accounts here; outbound protection would stop it
[mam]
enabled = false                # as Prosody and ejabberd run here: no archive (bench/mam_ab.py measures its cost)
""")
        return [str(BUILD / "hushd"), "--config", str(self.workdir / "hush.toml")]


class Prosody(Server):
    name = "prosody"

    def command(self) -> list[str]:
        cert, key = self_signed(self.workdir, "localhost")
        data = self.workdir / "data"
        data.mkdir()
        (self.workdir / "prosody.cfg.lua").write_text(f"""
run_as_root = true
daemonize = false
pidfile = "{self.workdir / 'prosody.pid'}"
data_path = "{data}"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
s2s_ports = {{}}
c2s_direct_tls_ports = {{}}
s2s_direct_tls_ports = {{}}
http_ports = {{}}
https_ports = {{}}
component_ports = {{}}
log = {{ warn = "{self.workdir / 'prosody.log'}" }}
network_backend = "epoll"
network_settings = {{ tcp_backlog = {LISTEN_BACKLOG} }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "posix"; "register"; }}
modules_disabled = {{ "s2s"; "limits"; }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = true
min_seconds_between_registrations = 0
registration_whitelist = {{ "127.0.0.1" }}
whitelist_registration_only = false
ssl = {{ certificate = "{cert}"; key = "{key}"; }}
VirtualHost "localhost"
""")
        return ["prosody", "-F", "--config", str(self.workdir / "prosody.cfg.lua")]


class Ejabberd(Server):
    name = "ejabberd"

    def command(self) -> list[str]:
        cert, key = self_signed(self.workdir, "localhost")
        combined = self.workdir / "combined.pem"
        combined.write_text(cert.read_text() + key.read_text())
        self.node = f"bench{os.getpid()}@localhost"
        for d in ("logs", "spool"):
            (self.workdir / d).mkdir()
        (self.workdir / "ejabberd.yml").write_text(f"""
hosts: ["localhost"]
loglevel: warning
certfiles: ["{combined}"]
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
max_fsm_queue: 1000000
listen:
  - port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: {LISTEN_BACKLOG}
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
acl:
  loopback:
    ip: ["127.0.0.0/8"]
access_rules:
  register:
    allow: all
  c2s:
    allow: all
shaper_rules:
  max_user_sessions: 10
  c2s_shaper: none
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  mod_register:
    access: register
    ip_access: all
""")
        (self.workdir / "ejabberdctl.cfg").write_text(f"ERL_MAX_PORTS={FD_LIMIT}\nERL_PROCESSES=1000000\n")
        shutil.chown(self.workdir, "ejabberd")
        for path in self.workdir.rglob("*"):
            shutil.chown(path, "ejabberd")
        os.chmod(self.workdir, 0o755)
        # As the ejabberd user directly: ejabberdctl would otherwise go through su, which resets the file limit.
        return ["setpriv", "--reuid", "ejabberd", "--regid", "ejabberd", "--init-groups", "--inh-caps=-all",
                "env", f"HOME={self.workdir}", "ejabberdctl", "--config-dir", str(self.workdir), "--config", str(self.workdir / "ejabberd.yml"),
                "--ctl-config", str(self.workdir / "ejabberdctl.cfg"), "--logs", str(self.workdir / "logs"),
                "--spool", str(self.workdir / "spool"), "--node", self.node, "foreground"]


    def stop(self) -> None:
        super().stop()
        # The BEAM shuts down on its own time after SIGTERM, keeping the node name (and the mnesia spool) until then.
        deadline = time.monotonic() + 60
        while subprocess.run(["pgrep", "-f", self.node], capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                subprocess.run(["pkill", "-KILL", "-f", self.node])
                break
            time.sleep(0.2)  # polling a foreign process's exit: nothing else reports it


SERVERS = {"hush": Hush, "prosody": Prosody, "ejabberd": Ejabberd}


def loadgen(server: Server, *args: str, background: bool = False):
    cmd = ["taskset", "-c", LOADGEN_CPU, str(BUILD / "bench" / "hush-loadgen"), "--port", str(server.port),
           "--domain", server.domain, "--password", PASSWORD, "--scram-cache", str(server.workdir / "scram.cache"),
           *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=raise_fd_limit)
    if background:
        return proc
    out, err = proc.communicate(timeout=1800)
    if not out.strip():
        raise RuntimeError(f"hush-loadgen {' '.join(args)} against {server.name} printed nothing:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def wait_ready(proc: subprocess.Popen, timeout: float = 1800) -> str:
    """Reads the generator's stderr until it says every client is logged in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("hush-loadgen ended before its clients were logged in")
        if line.startswith("loadgen: ready"):
            return line.strip()
    raise RuntimeError("hush-loadgen: not ready in time")


LOGIN_ROUNDS = 5
GENERATOR_LIMIT = 90.0  # % of one core: above it, a rate says more about the generator than about the server


def settle(server: Server, timeout: float = 30) -> None:
    """Waits until the server's CPU is idle (under 5 % over half a second), so a scenario does not pay for the
    last one's aftermath (a closing burst, a sweep, a GC)."""
    deadline = time.monotonic() + timeout
    _, last = server.stats()
    while time.monotonic() < deadline:
        time.sleep(0.5)  # sampling a foreign process's CPU: there is no event to wait on
        _, now = server.stats()
        if now - last < 0.025:
            return
        last = now


def restart(server: Server) -> None:
    server.stop()
    server.start()
    # A listening port is not a ready server (ejabberd accepts before its database is up): one login first.
    deadline = time.monotonic() + 120
    while loadgen(server, "--users", "2", "--duration", "0", "--prefix", "u")["logged_in"] != 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: no login succeeds after the restart")


def measured_run(server: Server, *args: str) -> tuple[dict, float]:
    """Runs the generator and samples the server's CPU over exactly its measured window; returns the generator's
    JSON and the server's CPU seconds in the window."""
    proc = loadgen(server, *args, background=True)
    cpu_start = cpu_end = None
    for line in proc.stderr:
        if line.startswith("loadgen: measuring"):
            cpu_start = server.stats()[1]
        elif line.startswith("loadgen: measured"):
            cpu_end = server.stats()[1]
            break
    out, err = proc.communicate(timeout=600)
    if cpu_start is None or cpu_end is None or not out.strip():
        raise RuntimeError(f"hush-loadgen {' '.join(args)} against {server.name}: no measured window:\n{err}")
    return json.loads(out.strip().splitlines()[-1]), cpu_end - cpu_start


def per_message_us(cpu_seconds: float, run: dict) -> float:
    return 1e6 * cpu_seconds / run["delivered"] if run.get("delivered") else float("nan")


def measure(name: str, args) -> dict:
    results: dict = {"server": name}
    host_before = cpu_times()
    workdir = Path(tempfile.mkdtemp(prefix=f"hush-bench-{name}-"))
    server = SERVERS[name](workdir)
    try:
        server.start()
        biggest = max(args.idle + [args.users * LOGIN_ROUNDS])
        print(f"[{name}] registering {biggest} users", file=sys.stderr)
        # Registering again is harmless (an existing account answers <conflict/>, which the generator takes as
        # done): a few registrations lost to a busy server (ejabberd lost 9 of 15,000 once) are simply retried.
        for attempt in range(3):
            reg = loadgen(server, "--users", str(biggest), "--register", "--duration", "0", "--concurrency", "50",
                          "--prefix", "u")
            if reg["logged_in"] == biggest:
                break
            print(f"[{name}] registration: {reg['login_errors']} failed, again", file=sys.stderr)
        else:
            raise RuntimeError(f"{name}: registration: {reg}")
        loadgen(server, "--users", str(args.users), "--register", "--duration", "0", "--prefix", "bot")
        # A fresh process with the accounts on disk: memory figures must not include what registering left behind.
        restart(server)

        print(f"[{name}] logins", file=sys.stderr)
        # The kernel counts a process's CPU in 10 ms ticks: over one round of 200 logins that is a 50 µs step per
        # login. Five rounds, each from a settled server, make it 10 µs; the figures are their totals.
        # Each round logs in other accounts: the same full JIDs again would meet the last round's sessions still
        # closing (ejabberd then stalled 20-90 of 200 logins for its 60 s timeout).
        rounds = []
        overflows_before = listen_overflows()
        for round_number in range(LOGIN_ROUNDS):
            settle(server)
            _, cpu_before = server.stats()
            login = loadgen(server, "--users", str(args.users), "--duration", "0", "--concurrency", "100",
                            "--prefix", "u", "--first", str(round_number * args.users))
            _, cpu_after = server.stats()
            rounds.append((login, cpu_after - cpu_before))
        logged_in = sum(r["logged_in"] for r, _ in rounds)
        results["logins_per_second"] = logged_in / sum(r["login_seconds"] for r, _ in rounds)
        results["login_errors"] = sum(r["login_errors"] for r, _ in rounds)
        results["server_cpu_us_per_login"] = 1e6 * sum(cpu for _, cpu in rounds) / max(1, logged_in)
        results["login_generator_cpu_percent"] = max(r["login_generator_cpu_percent"] for r, _ in rounds)
        results["login_listen_overflows"] = listen_overflows() - overflows_before

        for n in args.idle:
            # A fresh process for each size: a heap that held a larger earlier run is reused by the next one, and
            # the sessions would look cheaper than they are (15,000 after 5,000 showed 16 KiB for Hush's 24).
            restart(server)
            settle(server)
            rss_before, _ = server.stats()
            proc = loadgen(server, "--users", str(n), "--duration", "0", "--hold", "5", "--concurrency", "100",
                           "--prefix", "u", background=True)
            print(f"[{name}] idle {n}: {wait_ready(proc)}", file=sys.stderr)
            time.sleep(2)  # let the server settle (allocator, GC) before sampling: a measurement, not a sync
            rss, _ = server.stats()
            proc.communicate(timeout=600)
            results[f"kib_per_session_{n}"] = (rss - rss_before) / n
            results[f"rss_kib_{n}"] = rss

        print(f"[{name}] messages", file=sys.stderr)
        settle(server)
        msgs, cpu = measured_run(server, "--users", str(args.users), "--duration", str(args.duration), "--window",
                                 "10", "--prefix", "u")
        results.update(messages_per_second=msgs["messages_per_second"], p99_ms=msgs["p99_ms"],
                       p50_ms=msgs["p50_ms"], server_cpu_seconds=cpu,
                       server_cpu_us_per_message=per_message_us(cpu, msgs),
                       generator_cpu_percent=msgs["generator_cpu_percent"])

        if name == "hush":
            print(f"[{name}] messages between contacts", file=sys.stderr)
            settle(server)
            contacts, cpu = measured_run(server, "--users", str(args.users), "--duration", str(args.duration),
                                         "--window", "10", "--prefix", "u", "--subscribe-pairs")
            results["contacts_retried"] = contacts["subscribed_pairs"] != args.users // 2
            if results["contacts_retried"]:
                # Seen once in a CI smoke run (9 of 50 pairs), never again in a dozen; not understood yet, so it is
                # said, recorded and measured again rather than hidden (a second shortfall fails the run).
                print(f"[{name}] WARNING: only {contacts['subscribed_pairs']} of {args.users // 2} pairs became "
                      f"contacts; measuring again", file=sys.stderr)
                settle(server)
                contacts, cpu = measured_run(server, "--users", str(args.users), "--duration", str(args.duration),
                                             "--window", "10", "--prefix", "u", "--subscribe-pairs")
            if contacts["subscribed_pairs"] != args.users // 2:
                raise RuntimeError(f"{name}: only {contacts['subscribed_pairs']} pairs became contacts")
            results.update(messages_per_second_contacts=contacts["messages_per_second"],
                           p99_ms_contacts=contacts["p99_ms"],
                           server_cpu_us_per_message_contacts=per_message_us(cpu, contacts),
                           generator_cpu_percent_contacts=contacts["generator_cpu_percent"])
        else:
            results["server_cpu_us_per_message_contacts"] = results["server_cpu_us_per_message"]

        for total in args.rates:
            print(f"[{name}] {total:g} msgs/s", file=sys.stderr)
            settle(server)
            fixed, _ = measured_run(server, "--users", str(args.users), "--duration", str(args.duration),
                                    "--rate", str(total / args.users), "--prefix", "u")
            results[f"rate_{total:g}_messages_per_second"] = fixed["messages_per_second"]
            results[f"rate_{total:g}_p50_ms"] = fixed["p50_ms"]
            results[f"rate_{total:g}_p99_ms"] = fixed["p99_ms"]

        print(f"[{name}] flood", file=sys.stderr)
        settle(server)
        bots = loadgen(server, "--users", str(args.users), "--prefix", "bot", "--duration", str(args.duration + 4),
                       "--rate", str(args.flood_rate / args.users), "--target-prefix", "u",
                       "--target-count", str(args.users), background=True)
        wait_ready(bots)
        legit = loadgen(server, "--users", str(args.users), "--duration", str(args.duration), "--rate", "10",
                        "--prefix", "u")
        bots.communicate(timeout=600)
        results.update(flood_legit_p99_ms=legit["p99_ms"], flood_legit_messages_per_second=legit["messages_per_second"])
        results["host_steal_percent"] = steal_percent(host_before)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


ROWS = [
    ("logins/s (TLS + SCRAM)", "logins_per_second", "{:.0f}", True),
    ("server CPU per login, µs", "server_cpu_us_per_login", "{:.0f}", False),
    ("logins timed out / dropped by a full accept queue", "login_failures", "{}", False),
    ("KiB per idle session", None, "{:.1f}", False),  # one row per --idle size, filled below
    ("messages/s (pairs, flat out)", "messages_per_second", "{:.0f}", True),
    ("p99 latency, ms", "p99_ms", "{:.1f}", False),
    ("server CPU per message, µs", "server_cpu_us_per_message", "{:.1f}", False),
    ("server CPU per message between contacts, µs", "server_cpu_us_per_message_contacts", "{:.1f}", False),
    ("generator CPU in the message run, %", "generator_cpu_percent", "{:.0f}", False),
    ("host CPU stolen by the hypervisor during the run, %", "host_steal_percent", "{:.0f}", False),
    ("p99 at a fixed rate, ms", "rates", "{:.1f}", False),  # one row per --rates total, filled below
    ("legit p99 under stranger flood, ms", "flood_legit_p99_ms", "{:.1f}", False),
]


def table(results: list[dict], idle: list[int], rates: list[float]) -> str:
    by = {r["server"]: r for r in results}
    names = [r["server"] for r in results]
    for r in results:  # a rate the generator may have capped is marked
        if r.get("generator_cpu_percent", 0) > GENERATOR_LIMIT:
            r["generator_limited"] = True
    rows = []
    for label, key, fmt, _ in ROWS:
        if key is None:
            for n in idle:
                rows.append((f"KiB per idle session at {n}", f"kib_per_session_{n}", fmt))
        elif key == "rates":
            for total in rates:
                rows.append((f"p99 at {total:g} msgs/s, ms", f"rate_{total:g}_p99_ms", fmt))
        else:
            rows.append((label, key, fmt))
    header = ["", *names] + [f"hush ÷ {n}" for n in names if n != "hush" and "hush" in by]
    lines = [header]
    for label, key, fmt in rows:
        def cell(n: str) -> str:
            if key == "login_failures":
                return f"{by[n].get('login_errors', '-')} / {by[n].get('login_listen_overflows', '-')}"
            if key not in by[n]:
                return "-"
            limited = key == "messages_per_second" and by[n].get("generator_limited")
            return fmt.format(by[n][key]) + (" *" if limited else "")

        line = [label] + [cell(n) for n in names]
        for n in names:
            if n != "hush" and "hush" in by:
                a, b = by["hush"].get(key), by[n].get(key)
                # the generator, the host and the failure counts are no server figure to divide
                comparable = not key.startswith(("generator", "host", "login_failures"))
                line.append(f"{a / b:.2f}" if comparable and a is not None and b else "-")
        lines.append(line)
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    out = []
    for i, row in enumerate(lines):
        out.append("| " + " | ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)) + " |")
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="hush,prosody,ejabberd")
    parser.add_argument("--idle", default="5000,15000")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--flood-rate", type=float, default=10000)
    parser.add_argument("--rates", default="2000,10000", help="fixed total message rates, msgs/s")
    parser.add_argument("--out", default="")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small numbers")
    args = parser.parse_args()
    if args.quick:
        args.idle, args.users, args.duration, args.flood_rate, args.rates = "100", 20, 2, 200, "200"
    args.idle = [int(n) for n in str(args.idle).split(",") if n]
    args.rates = [float(n) for n in str(args.rates).split(",") if n]
    if os.cpu_count() and os.cpu_count() < 2:
        global LOADGEN_CPU
        LOADGEN_CPU = "0"
    raise_fd_limit()
    results = []
    for name in args.servers.split(","):
        results.append(measure(name, args))
        print(f"[{name}] {json.dumps(results[-1])}", file=sys.stderr)
    machine = f"{os.cpu_count()} cores, {os.uname().release}"
    print(f"\nHush vs Prosody vs ejabberd — {machine}; server on CPU {SERVER_CPU}, generator on CPU {LOADGEN_CPU}\n")
    print(table(results, args.idle, args.rates))
    if any(r.get("generator_limited") for r in results):
        print(f"\n* the generator used more than {GENERATOR_LIMIT:.0f} % of its core: that rate is the generator's limit, "
              "not the server's")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine, "args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
