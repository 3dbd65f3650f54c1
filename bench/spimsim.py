#!/usr/bin/env python3
"""spimsim: how well does Hush's default anti-SPIM policy work? Real servers, real S2S, simulated people and bots.

    bench/spimsim.py [--quick] [--bots 60] [--humans 20] [--receivers 10] [--time-scale 1.0] [--out FILE]

Three Hush servers on loopback: a.test (the receivers' server, the policy under test), b.test (an open-registration
service the bots use) and c.test (where the humans have their accounts). Bots follow the seed's loop — a new account
on b.test, invite one user of a.test, send one message, next account — in three kinds: plain (never answers),
instant (answers the challenge at once with a random option) and guessers (wait past the minimum, pick a random
option, and keep guessing while they may). Humans write to one user of a.test and, when challenged, answer after
3–30 s (× --time-scale), one in five wrong once first.

The same population runs against three policies on a.test:
  hush        the default configuration (chain blocklist, dos, rate, challenge)
  drop        "drop all strangers" (challenge strangers = "drop")
  allow       "allow all" (chain = ["pass"])
and the table says, for each: the share of bot stanzas (invitations and messages) that reached a user, the legit
first contacts lost (not delivered within the deadline), and the delay added to those delivered (p50, p90).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import BUILD, free_port

CAPTCHA_NS = "urn:xmpp:captcha"
DATA_NS = "jabber:x:data"
PASSWORD = "sim-password-1"
GOOD = "blue"


class HushProcess:
    def __init__(self, root: Path, domain: str, s2s_port: int, peers: dict[str, int], antispim: str):
        self.dir = root / domain
        self.dir.mkdir(parents=True)
        self.domain = domain
        self.c2s = free_port()
        routes = "\n".join(f'"{d}" = "127.0.0.1:{p}"' for d, p in peers.items())
        self.config = self.dir / "hush.toml"
        self.config.write_text(f"""
[server]
hosts = ["{domain}"]
data_dir = "{self.dir / 'data'}"
threads = 1
[log]
level = "info"
[[listen]]
kind = "c2s"
address = "127.0.0.1"
port = {self.c2s}
[[listen]]
kind = "s2s"
address = "127.0.0.1"
port = {s2s_port}
[limits]
max_connections_per_ip = 100000
auth_failures_before_delay = 1000
[s2s.hosts]
{routes}
{antispim}
""")
        log = open(self.dir / "hushd.log", "wb")
        self.proc = subprocess.Popen([str(BUILD / "hushd"), "--config", str(self.config)], stdout=subprocess.PIPE,
                                     stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        for line in self.proc.stdout:  # hushd says when it is ready
            if line.startswith(b"hushd: ready"):
                break
        else:
            raise RuntimeError(f"{domain}: hushd exited\n{(self.dir / 'hushd.log').read_text()}")

    def adduser(self, user: str) -> None:
        subprocess.run([str(BUILD / "hushctl"), "--config", str(self.config), "adduser", f"{user}@{self.domain}",
                        PASSWORD], check=True, capture_output=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Actor:
    """One slixmpp client; `on_stanza` sees every message and presence it receives."""

    def __init__(self, jid: str, port: int):
        import slixmpp

        self.port = port
        self.xmpp = x = slixmpp.ClientXMPP(jid, PASSWORD)
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.auto_authorize = None
        x.auto_subscribe = False
        self.ready = asyncio.get_event_loop().create_future()
        x.add_event_handler("session_start", lambda _e: self.ready.done() or self.ready.set_result(True))
        x.add_event_handler("failed_all_auth", lambda _e: self.ready.done() or self.ready.set_exception(
            RuntimeError(f"{jid}: authentication failed")))
        self.handlers = []
        x.add_filter("in", self._dispatch)

    def _dispatch(self, stanza):
        for handler in self.handlers:
            handler(stanza)
        return stanza

    async def start(self) -> None:
        self.xmpp.connect(address=("127.0.0.1", self.port))
        await asyncio.wait_for(asyncio.shield(self.ready), 60)
        # Subscription requests go only to resources that asked for the roster (RFC 6121 §3.1.3).
        await self.xmpp.get_roster()
        self.xmpp.send_presence()

    def stop(self) -> None:
        self.xmpp.disconnect()


def challenge_options(stanza) -> list[str] | None:
    x = stanza.xml.find(f"{{{CAPTCHA_NS}}}captcha/{{{DATA_NS}}}x")
    if x is None:
        return None
    for field in x.findall(f"{{{DATA_NS}}}field"):
        if field.get("var") == "qa":
            return [o.findtext(f"{{{DATA_NS}}}value") for o in field.findall(f"{{{DATA_NS}}}option")]
    return None


class Simulation:
    def __init__(self, args, policy: str, root: Path):
        self.args = args
        self.policy = policy
        self.root = root
        self.received: dict[str, float] = {}     # marker → when a receiver got it
        self.bot_markers: list[str] = []
        self.human_sent: dict[str, float] = {}   # marker → when it was sent

    def policy_config(self) -> str:
        challenge = f"""[antispim.challenge]
min_answer_seconds = {max(0, round(3 * self.args.time_scale))}
"""
        if self.policy == "allow":
            return '[antispim]\nchain = ["pass"]\n'
        if self.policy == "drop":
            return challenge + 'strangers = "drop"\n'
        return challenge

    async def run(self) -> dict:
        ports = {d: free_port() for d in ("a.test", "b.test", "c.test")}
        servers = {
            "a.test": HushProcess(self.root, "a.test", ports["a.test"], {"b.test": ports["b.test"],
                                                                         "c.test": ports["c.test"]},
                                  self.policy_config()),
            "b.test": HushProcess(self.root, "b.test", ports["b.test"], {"a.test": ports["a.test"]},
                                  '[antispim]\nchain = ["pass"]\n[antispim.outbound]\nenabled = false\n'),
            "c.test": HushProcess(self.root, "c.test", ports["c.test"], {"a.test": ports["a.test"]},
                                  '[antispim]\nchain = ["pass"]\n'),
        }
        try:
            return await self._run(servers)
        finally:
            for s in servers.values():
                s.stop()

    async def _run(self, servers) -> dict:
        a, b, c = servers["a.test"], servers["b.test"], servers["c.test"]
        args = self.args
        receivers = [f"r{i}" for i in range(args.receivers)]
        for r in receivers:
            a.adduser(r)
        kinds = ["plain", "instant", "guesser"]
        bots = [(f"bot{i}", kinds[i % 3]) for i in range(args.bots)]
        for name, _ in bots:
            b.adduser(name)  # the seed's "new account on an open service", one per bot
        humans = [f"h{i}" for i in range(args.humans)]
        for h in humans:
            c.adduser(h)

        # The receivers: log what reaches them.
        receiver_actors = []
        for r in receivers:
            actor = Actor(f"{r}@a.test/phone", a.c2s)

            def on_stanza(st, me=r):
                body = st.xml.findtext("{jabber:client}body") or ""
                tag = st.xml.tag.split("}")[-1]
                if tag == "message" and st.xml.get("type") != "error" and body.startswith("sim:"):
                    self.received.setdefault(body, time.monotonic())
                elif tag == "presence" and st.xml.get("type") == "subscribe":
                    sender = (st.xml.get("from") or "").split("/")[0]
                    self.received.setdefault(f"sim:invite:{sender}:{me}", time.monotonic())

            actor.handlers.append(on_stanza)
            await actor.start()
            receiver_actors.append(actor)

        async def bot(name: str, kind: str) -> None:
            target = random.choice(receivers)
            actor = Actor(f"{name}@b.test/spam", b.c2s)
            marker = f"sim:bot:{name}"
            self.bot_markers += [marker, f"sim:invite:{name}@b.test:{target}"]
            answered = asyncio.Event()

            def on_challenge(st):
                options = challenge_options(st)
                if options is None or kind == "plain":
                    return
                delay = 0 if kind == "instant" else (3 * args.time_scale + random.uniform(0.2, 1.0))
                asyncio.get_event_loop().call_later(
                    delay, lambda: actor.xmpp.send_message(mto=st.xml.get("from"),
                                                           mbody=str(random.randrange(len(options)) + 1)))
                answered.set()

            actor.handlers.append(on_challenge)
            await actor.start()
            actor.xmpp.send_presence(pto=f"{target}@a.test", ptype="subscribe")
            actor.xmpp.send_message(mto=f"{target}@a.test", mbody=marker)
            await asyncio.sleep(args.bot_patience * args.time_scale)  # a bot's time on this account
            actor.stop()

        async def human(name: str) -> None:
            target = random.choice(receivers)
            actor = Actor(f"{name}@c.test/laptop", c.c2s)
            marker = f"sim:human:{name}"
            wrong_first = random.random() < 0.2

            def on_challenge(st):
                options = challenge_options(st)
                if options is None:
                    return
                nonlocal wrong_first
                pick = GOOD
                if wrong_first:
                    wrong_first = False
                    pick = next(o for o in options if o != GOOD)
                delay = random.uniform(3, 30) * args.time_scale
                asyncio.get_event_loop().call_later(
                    delay, lambda: actor.xmpp.send_message(mto=st.xml.get("from"),
                                                           mbody=str(options.index(pick) + 1)))

            actor.handlers.append(on_challenge)
            await actor.start()
            self.human_sent[marker] = time.monotonic()
            actor.xmpp.send_message(mto=f"{target}@a.test", mbody=marker)
            await asyncio.sleep(args.deadline * args.time_scale)
            actor.stop()

        # Bots in waves (the seed's loop: one account after another), humans spread over the same time.
        async def bot_waves():
            for i in range(0, len(bots), args.wave):
                await asyncio.gather(*(bot(n, k) for n, k in bots[i:i + args.wave]))

        async def humans_spread():
            tasks = []
            for h in humans:
                tasks.append(asyncio.create_task(human(h)))
                await asyncio.sleep(random.uniform(0, 2) * args.time_scale)
            await asyncio.gather(*tasks)

        await asyncio.gather(bot_waves(), humans_spread())
        for actor in receiver_actors:
            actor.stop()

        reached = sum(1 for m in self.bot_markers if m in self.received)
        delays = [self.received[m] - t for m, t in self.human_sent.items() if m in self.received]
        lost = sum(1 for m in self.human_sent if m not in self.received)
        return {
            "policy": self.policy,
            "bot_stanzas": len(self.bot_markers),
            "bot_stanzas_reached": reached,
            "bot_share_reached": reached / len(self.bot_markers) if self.bot_markers else 0,
            "legit_first_contacts": len(self.human_sent),
            "legit_lost": lost,
            "added_delay_p50_s": statistics.median(delays) if delays else None,
            "added_delay_p90_s": (sorted(delays)[max(0, math.ceil(0.9 * len(delays)) - 1)] if delays else None),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=60)
    parser.add_argument("--humans", type=int, default=20)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--wave", type=int, default=10, help="bots online at once")
    parser.add_argument("--bot-patience", type=float, default=40, help="seconds a bot stays on one account")
    parser.add_argument("--deadline", type=float, default=75, help="seconds a human waits for delivery")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--policies", default="hush,drop,allow")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="")
    parser.add_argument("--quick", action="store_true", help="CI smoke run")
    args = parser.parse_args()
    if args.quick:
        args.bots, args.humans, args.receivers, args.wave, args.time_scale = 6, 3, 3, 6, 0.2
    random.seed(args.seed)
    results = []
    for policy in args.policies.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"spimsim-{policy}-"))
        try:
            print(f"[{policy}] running", file=sys.stderr)
            results.append(asyncio.run(Simulation(args, policy, root).run()))
            print(f"[{policy}] {json.dumps(results[-1])}", file=sys.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nspimsim: {args.bots} bots (plain, instant, guessers), {args.humans} humans, {args.receivers} users; "
          f"time scale {args.time_scale}\n")
    print("| policy | bot stanzas reaching a user | legit first contacts lost | added delay p50 | added delay p90 |")
    print("|---|---|---|---|---|")
    for r in results:
        fmt = (lambda v: "-" if v is None else f"{v:.1f} s")
        print(f"| {r['policy']} | {r['bot_stanzas_reached']}/{r['bot_stanzas']} ({100 * r['bot_share_reached']:.0f} %) "
              f"| {r['legit_lost']}/{r['legit_first_contacts']} | {fmt(r['added_delay_p50_s'])} "
              f"| {fmt(r['added_delay_p90_s'])} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
