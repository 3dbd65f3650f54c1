#!/usr/bin/env python3
"""spimsim: how well does Hush's anti-SPIM policy work? Real servers, real S2S, simulated people and bots.

    bench/spimsim.py [--quick] [--bots 60] [--humans 20] [--receivers 30] [--crowd 20] [--time-scale 1.0]
                     [--kinds plain,instant,guesser,reuse,patient,distributed] [--policies hush,drop,allow]
                     [--train 1000] [--seed 1] [--out FILE]

Five Hush servers on loopback, real S2S between them, each connecting from an address of its own /24 (so rules on
ranges see separate networks): a.test (the receivers' server, the policy under test), b.test and d.test (open-
registration services the bots use), c.test (where the humans have their accounts) and e.test (a large legitimate
service: a conference whose attendees first-contact many users of a.test within a minute or two).

Bots follow the seed's loop — a new account, invite one user of a.test, send one message, next account — in seven
kinds (the default mix is the first six, in turn; solver is chosen with --kinds):
  plain        never answers
  instant      answers every challenge at once, with a guess
  guesser      waits past the minimum answer time, guesses, and keeps guessing while it may
  reuse        answers with what passed before on a.test (the answers the humans gave) and "blue", the answer of
               the question Hush once shipped as its default, then guesses
  patient      waits 3-30 s like a person before each answer (reused or guessed), on b.test
  distributed  the same on d.test: a second service, another network
  solver       a human-solver farm on b.test: a person reads each challenge and types the right answer after
               3-30 s, so the challenge lets it through; what it sends is spam all the same
A guess is a random offered answer when the challenge offers some, else a random 4-digit number. Humans write to one
user of a.test, read the challenge (the words of the number, or the question's right answer) and answer after 3-30 s
(x --time-scale), one in five wrong once first; the crowd on e.test does the same with several users each. A first
contact not delivered within --deadline is lost.

What they write (bench/spimsim_texts.py, generated from the seed, nothing downloaded): every bot sends spam —
crypto and investment scams, "hot singles", pharmacy, fake support and giveaways, phishing links on varied domains
and shorteners, some obfuscated (s p a c e d letters, look-alike Cyrillic and Greek letters, zero-width spaces),
some a bare "hi dear" opener; the humans send ordinary first messages (a meeting, a project, lunch, an
introduction, a question, sometimes a link to a work document; short and long), the crowd messages about the
conference. Every body is distinct, so no exact-match filter wins, and the receivers know a first contact by its
body. The bodies are the same for every policy of a seed.

The same population runs against each policy on a.test (--policies, default hush,drop,allow):
  hush        the default configuration (its chain has "content" before "challenge", with no spamd and an
              untrained Bayes classifier: only what the other defences know of a sender is scored)
  drop        "drop all strangers" (challenge strangers = "drop")
  allow       "allow all" (chain = ["pass"])
  content     hush's default with content scoring equipped (issue 17): [antispim.content] pointing at a throwaway
              spamd this script starts (and stops), and, before hushd starts, its Bayes classifier trained with
              `hushctl content train spam|ham FILE` on --train lines of each from a seed stream of their own (not
              the texts the run sends). A build without content scoring is told by hushctl's exit status: the
              policy is reported as not run and the exit status is 1.
and the table says, for each: bot stanzas (invitations and messages) that reached a user, by bot kind; legit first
contacts lost, and of them those a content verdict held or refused (false positives: an error, or a hold the
person could not release by answering; from a.test's log of verdicts); the delay added to those delivered (p50,
p90) and its part beyond the person's own answering time; any server-wide entry (block or greylist) against a
legitimate domain or network; and the bot accounts a content verdict stopped or held. The JSON adds every policy's
verdicts by bot kind and on legitimate senders, and the errors the people got back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import BUILD, free_port
from spimsim_content import ContentUnavailable, Spamd, content_config, train_classifier
from spimsim_texts import UniqueTexts

CAPTCHA_NS = "urn:xmpp:captcha"
DATA_NS = "jabber:x:data"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
# a.test's log line for each enforced verdict other than pass (antispim/chain.cpp): policy, verdict, from -> to.
# chain.cpp's line: "antispim: POLICY VERDICT FROM -> TO (REASON)", then ": PARTS" when a score was taken.
VERDICT_LINE = re.compile(r"antispim: (\S+) (hold|defer|reject|drop) (\S+) -> (\S+) \(([^)]*)\)(?:: .*)?$", re.M)
PASSWORD = "sim-password-1"
GOOD = "blue"  # the right answer of the question the drop/allow baselines and reuse bots know
DIGITS = "zero one two three four five six seven eight nine".split()
BOT_KINDS = ["plain", "instant", "guesser", "reuse", "patient", "distributed", "solver"]
# The default mix: the kinds the challenge is measured against (issue 16's tables). Solvers pass any challenge by
# design, so they are chosen explicitly, to measure what stops them after it (content scoring).
DEFAULT_KINDS = ["plain", "instant", "guesser", "reuse", "patient", "distributed"]
POLICIES = ["hush", "drop", "allow", "content"]
DEFAULT_CHAIN = ["blocklist", "dos", "rate", "content", "challenge"]  # a.test's [antispim] chain by default (conf/hush.toml)
# Where each service's outgoing S2S comes from: a /24 of its own.
SOURCES = {"a.test": "127.0.1.1", "b.test": "127.0.2.1", "c.test": "127.0.3.1", "d.test": "127.0.4.1",
           "e.test": "127.0.5.1"}
LEGIT = ("c.test", "e.test")


class HushProcess:
    def __init__(self, root: Path, domain: str, s2s_port: int, peers: dict[str, int], antispim: str,
                 prepare=None):
        """`prepare(self)` runs once the config is written and before hushd starts (what must be in storage first)."""
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
[s2s]
source_addresses = ["{SOURCES[domain]}"]
[s2s.hosts]
{routes}
{antispim}
""")
        if prepare:
            prepare(self)
        log = open(self.dir / "hushd.log", "wb")
        self.proc = subprocess.Popen([str(BUILD / "hushd"), "--config", str(self.config)], stdout=subprocess.PIPE,
                                     stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        for line in self.proc.stdout:  # hushd says when it is ready
            if line.startswith(b"hushd: ready"):
                break
        else:
            raise RuntimeError(f"{domain}: hushd exited\n{(self.dir / 'hushd.log').read_text()}")

    def hushctl(self, *args: str) -> str:
        return subprocess.run([str(BUILD / "hushctl"), "--config", str(self.config), *args], check=True,
                              capture_output=True, text=True).stdout

    def hushctl_status(self, *args: str) -> subprocess.CompletedProcess:
        """hushctl without raising: the caller reads the exit status and says what failed."""
        return subprocess.run([str(BUILD / "hushctl"), "--config", str(self.config), *args], capture_output=True,
                              text=True)

    def adduser(self, user: str) -> None:
        self.hushctl("adduser", f"{user}@{self.domain}", PASSWORD)

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

    def send(self, to: str, body: str) -> None:
        self.xmpp.send_message(mto=to, mbody=body)

    def stop(self) -> None:
        self.xmpp.disconnect()


class Challenge:
    """An XEP-0158 form as a program reads it: who asks, the offered answers (none for a number to type) and the
    label, which for a number carries it in words."""

    def __init__(self, stanza):
        x = stanza.xml.find(f"{{{CAPTCHA_NS}}}captcha/{{{DATA_NS}}}x")
        self.asker = (stanza.xml.get("from") or "").split("/")[0]
        self.options: list[str] = []
        self.label = ""
        for field in x.findall(f"{{{DATA_NS}}}field"):
            if field.get("var") == "qa":
                self.label = field.get("label") or ""
                self.options = [o.findtext(f"{{{DATA_NS}}}value") for o in field.findall(f"{{{DATA_NS}}}option")]

    @staticmethod
    def of(stanza) -> "Challenge | None":
        return Challenge(stanza) if stanza.xml.find(f"{{{CAPTCHA_NS}}}captcha/{{{DATA_NS}}}x") is not None else None

    def right_answer(self) -> str:
        """What a person answers: the right option's number, or the number read from its words."""
        if self.options:
            return str(self.options.index(GOOD) + 1)
        words = self.label.split(":")[-1].split()
        return "".join(str(DIGITS.index(w)) for w in words)

    def wrong_answer(self) -> str:
        right = self.right_answer()
        if self.options:
            return next(str(i + 1) for i in range(len(self.options)) if str(i + 1) != right)
        return "1000" if right != "1000" else "1001"

    def guess(self) -> str:
        return str(random.randrange(len(self.options)) + 1) if self.options else str(random.randint(1000, 9999))


class Simulation:
    def __init__(self, args, policy: str, root: Path):
        self.args = args
        self.policy = policy
        self.root = root
        self.received: dict[str, float] = {}        # marker → when a receiver got it
        self.bot_markers: dict[str, list[str]] = {k: [] for k in BOT_KINDS}
        self.bot_route: dict[str, tuple[str, str, str]] = {}  # bot → (kind, its bare JID, the user it wrote to)
        self.legit_sent: dict[str, float] = {}      # marker → when it was sent
        self.legit_route: dict[str, tuple[str, str]] = {}  # marker → (sender's bare JID, receiver's bare JID)
        self.legit_own_time: dict[str, float] = {}  # marker → seconds the person spent before answering
        self.legit_answered_right: set[str] = set()  # markers whose sender gave the right answer
        self.legit_errors: dict[str, str] = {}      # marker → the error condition its sender got back
        self.passed_answers: list[str] = []         # what reuse bots know: answers people passed with
        # The bodies: every one distinct and the same for every policy of a seed (drawn up front, in a fixed order,
        # not as the actors happen to run), so what a receiver gets says whose first contact it was.
        self.texts = UniqueTexts(args.seed)
        self.marker_of_body: dict[str, str] = {}
        self.body_of_marker: dict[str, str] = {}
        self.content_training: dict[str, int] = {}  # "spam"/"ham" → lines trained

    def body_for(self, marker: str, text: str) -> None:
        self.marker_of_body[text] = marker
        self.body_of_marker[marker] = text

    def chain(self) -> list[str] | None:
        """a.test's [antispim] chain when the policy sets one (None: the default)."""
        if self.policy == "allow":
            return ["pass"]
        return None  # hush and content: the default chain, which scores content before the challenge

    def policy_config(self, spamd_port: int = 0) -> str:
        chain = self.chain()
        antispim = ("[antispim]\nchain = [" + ", ".join(f'"{p}"' for p in chain) + "]\n") if chain else ""
        challenge = f"""[antispim.challenge]
min_answer_seconds = {max(0, round(3 * self.args.time_scale))}
"""
        if self.policy == "allow":
            return antispim
        if self.policy == "drop":
            return challenge + 'strangers = "drop"\n'
        if self.policy == "content":
            return antispim + challenge + content_config(spamd_port)
        return challenge

    def train_content(self, a: HushProcess) -> None:
        """Pre-trains a.test's classifier before hushd starts, so it starts trained."""
        self.content_training = train_classifier(a.hushctl_status, self.root, self.args.seed, self.args.train)

    async def run(self) -> dict:
        domains = ("a.test", "b.test", "c.test", "d.test", "e.test")
        ports = {d: free_port() for d in domains}
        open_service = '[antispim]\nchain = ["pass"]\n[antispim.outbound]\nenabled = false\n'
        servers = {}
        spamd = None
        try:
            prepare = None
            if self.policy == "content":
                spamd = Spamd(self.root)
                prepare = self.train_content
            servers["a.test"] = HushProcess(self.root, "a.test", ports["a.test"],
                                            {d: ports[d] for d in domains if d != "a.test"},
                                            self.policy_config(spamd.port if spamd else 0), prepare)
            for d in domains[1:]:
                servers[d] = HushProcess(self.root, d, ports[d], {"a.test": ports["a.test"]}, open_service)
            return await self._run(servers)
        finally:
            for s in servers.values():
                s.stop()
            if spamd:
                spamd.stop()

    async def _run(self, servers) -> dict:
        a = servers["a.test"]
        args = self.args
        kinds = [k for k in args.kinds.split(",") if k]
        receivers = [f"r{i}" for i in range(args.receivers)]
        for r in receivers:
            a.adduser(r)
        bots = [(f"bot{i}", kinds[i % len(kinds)]) for i in range(args.bots)]
        for name, kind in bots:
            servers["d.test" if kind == "distributed" else "b.test"].adduser(name)  # a new account per bot
        humans = [f"h{i}" for i in range(args.humans)]
        for h in humans:
            servers["c.test"].adduser(h)
        crowd = [f"guest{i}" for i in range(args.crowd)]
        for g in crowd:
            servers["e.test"].adduser(g)
        # Spam for every bot, in bot order; the people's bodies are drawn when their targets are (below), in order.
        for name, _kind in bots:
            self.body_for(f"sim:bot:{name}", self.texts.spam())
        crowd_targets = {g: random.sample(receivers, min(args.crowd_contacts, len(receivers))) for g in crowd}
        human_targets = {h: [random.choice(receivers)] for h in humans}
        for h, targets in human_targets.items():
            for t in targets:
                self.body_for(f"sim:c.test:{h}:{t}", self.texts.ham())
        for g, targets in crowd_targets.items():
            for t in targets:
                self.body_for(f"sim:e.test:{g}:{t}", self.texts.crowd())

        # The receivers: log what reaches them.
        receiver_actors = []
        for r in receivers:
            actor = Actor(f"{r}@a.test/phone", a.c2s)

            def on_stanza(st, me=r):
                body = st.xml.findtext("{jabber:client}body") or ""
                tag = st.xml.tag.split("}")[-1]
                if tag == "message" and st.xml.get("type") != "error" and body in self.marker_of_body:
                    self.received.setdefault(self.marker_of_body[body], time.monotonic())
                elif tag == "presence" and st.xml.get("type") == "subscribe":
                    sender = (st.xml.get("from") or "").split("/")[0]
                    self.received.setdefault(f"sim:invite:{sender}:{me}", time.monotonic())

            actor.handlers.append(on_stanza)
            await actor.start()
            receiver_actors.append(actor)

        loop = asyncio.get_event_loop()
        scale = args.time_scale
        min_answer = 3 * scale

        async def bot(name: str, kind: str) -> None:
            domain = "d.test" if kind == "distributed" else "b.test"
            target = random.choice(receivers)
            actor = Actor(f"{name}@{domain}/spam", servers[domain].c2s)
            marker = f"sim:bot:{name}"
            self.bot_markers[kind] += [marker, f"sim:invite:{name}@{domain}:{target}"]
            self.bot_route[name] = (kind, f"{name}@{domain}", f"{target}@a.test")
            tried: list[str] = []

            def answer_for(ch: Challenge) -> str:
                if kind in ("reuse", "patient", "distributed"):
                    for known in [*self.passed_answers, GOOD]:
                        if known not in tried:
                            tried.append(known)
                            return known
                return ch.guess()

            def on_challenge(st):
                ch = Challenge.of(st)
                if ch is None or kind == "plain":
                    return
                if kind == "solver":  # a person paid to read it: the right answer, in a person's time
                    answer = ch.right_answer()
                    loop.call_later(random.uniform(3, 30) * scale, lambda: actor.send(ch.asker, answer))
                    return
                delay = {"instant": 0.0, "guesser": min_answer + random.uniform(0.2, 1.0),
                         "reuse": min_answer + random.uniform(0.2, 1.0)}.get(kind, random.uniform(3, 30) * scale)
                loop.call_later(delay, lambda: actor.send(ch.asker, answer_for(ch)))

            actor.handlers.append(on_challenge)
            await actor.start()
            actor.xmpp.send_presence(pto=f"{target}@a.test", ptype="subscribe")
            actor.send(f"{target}@a.test", self.body_of_marker[marker])
            await asyncio.sleep(args.bot_patience * scale)  # a bot's time on this account
            actor.stop()

        async def person(name: str, domain: str, targets: list[str], spread: float) -> None:
            """A person writing first to each of `targets` (spread over `spread` seconds), answering each
            receiver's challenge after 3-30 s, one in five wrong once first."""
            actor = Actor(f"{name}@{domain}/laptop", servers[domain].c2s)
            wrong_first = {t: random.random() < 0.2 for t in targets}
            markers = {f"{t}@a.test": f"sim:{domain}:{name}:{t}" for t in targets}

            def on_challenge(st):
                sender = (st.xml.get("from") or "").split("/")[0]
                if st.xml.get("type") == "error" and sender in markers:  # refused: note why (the first error)
                    error = st.xml.find("{jabber:client}error")
                    conditions = [c.tag.split("}")[-1] for c in (error if error is not None else [])
                                  if c.tag.startswith(f"{{{STANZAS_NS}}}") and not c.tag.endswith("}text")]
                    self.legit_errors.setdefault(markers[sender], conditions[0] if conditions else "error")
                    return
                ch = Challenge.of(st)
                if ch is None or ch.asker not in markers:
                    return
                target = ch.asker.split("@")[0]
                delay = random.uniform(3, 30) * scale
                self.legit_own_time[markers[ch.asker]] = self.legit_own_time.get(markers[ch.asker], 0.0) + delay
                if wrong_first[target]:
                    wrong_first[target] = False
                    answer = ch.wrong_answer()
                else:
                    answer = ch.right_answer()
                    self.passed_answers.append(answer if not ch.options else GOOD)
                    self.legit_answered_right.add(markers[ch.asker])
                loop.call_later(delay, lambda: actor.send(ch.asker, answer))

            actor.handlers.append(on_challenge)
            await actor.start()
            for t in targets:
                marker = markers[f"{t}@a.test"]
                self.legit_sent[marker] = time.monotonic()
                self.legit_route[marker] = (f"{name}@{domain}", f"{t}@a.test")
                actor.send(f"{t}@a.test", self.body_of_marker[marker])
                await asyncio.sleep(spread / max(1, len(targets)))
            await asyncio.sleep(args.deadline * scale)
            actor.stop()

        # Bots in waves (the seed's loop: one account after another), people spread over the same time.
        async def bot_waves():
            for i in range(0, len(bots), args.wave):
                await asyncio.gather(*(bot(n, k) for n, k in bots[i:i + args.wave]))

        async def people():
            tasks = []
            for h in humans:
                tasks.append(asyncio.create_task(person(h, "c.test", human_targets[h], 0)))
                await asyncio.sleep(random.uniform(0, 2) * scale)
            await asyncio.gather(*tasks)

        async def conference():
            # The attendees arrive over the first minutes of the farm's run, each writing to several users.
            tasks = []
            for g in crowd:
                tasks.append(asyncio.create_task(person(g, "e.test", crowd_targets[g], args.crowd_window * scale)))
                await asyncio.sleep(random.uniform(0, 1) * scale)
            await asyncio.gather(*tasks)

        await asyncio.gather(bot_waves(), people(), conference())
        for actor in receiver_actors:
            actor.stop()

        by_kind = {k: [sum(1 for m in ms if m in self.received), len(ms)] for k, ms in self.bot_markers.items() if ms}
        reached = sum(r for r, _ in by_kind.values())
        total = sum(n for _, n in by_kind.values())
        delays = {m: self.received[m] - t for m, t in self.legit_sent.items() if m in self.received}
        beyond = [d - self.legit_own_time.get(m, 0.0) for m, d in delays.items()]
        lost = [m for m in self.legit_sent if m not in self.received]
        entries = a.hushctl("blocklist", "list").splitlines()
        blocked = [line for line in entries
                   if any(legit in line for legit in LEGIT) or any(SOURCES[d].rsplit(".", 1)[0] + "." in line
                                                                     for d in LEGIT)]
        # What the evidence from challenges did on a.test, read from its log.
        log = (a.dir / "hushd.log").read_text(errors="replace")
        actions = {"stricter_answers": log.count(" answers with "), "dos_blocks": log.count("DoS detector blocks "),
                   "dos_greylists": log.count("DoS detector greylists ")}

        # Which policy decided what about whom: a.test logs each enforced verdict other than pass.
        verdicts: dict[tuple[str, str], list[str]] = {}
        for policy, kind, sender, receiver, _reason in VERDICT_LINE.findall(log):
            verdicts.setdefault((sender.split("/")[0], receiver.split("/")[0]), []).append(f"{policy} {kind}")

        def tally(routes) -> dict[str, int]:
            counts: dict[str, int] = {}
            for route in routes:
                for v in verdicts.get(route, []):
                    counts[v] = counts.get(v, 0) + 1
            return dict(sorted(counts.items()))

        def by_content(route) -> bool:
            return any(v.startswith("content ") for v in verdicts.get(route, []))

        bot_routes = {k: [(jid, to) for kind, jid, to in self.bot_route.values() if kind == k]
                      for k, ms in self.bot_markers.items() if ms}
        content_by_kind = {k: [sum(map(by_content, routes)), len(routes)] for k, routes in bot_routes.items()}
        # False positives: a legitimate first contact a content verdict held or refused and that never arrived —
        # an error, or a hold its sender could not release by answering.
        content_flagged = [m for m, route in self.legit_route.items() if by_content(route)]
        content_lost = [m for m in content_flagged if m not in self.received]
        content_in_chain = "content" in (self.chain() or DEFAULT_CHAIN)

        def pct(values: list[float], q: float) -> float | None:
            return sorted(values)[max(0, math.ceil(q * len(values)) - 1)] if values else None

        return {
            "policy": self.policy,
            "bot_stanzas": total,
            "bot_stanzas_reached": reached,
            "bot_share_reached": reached / total if total else 0,
            "bots_by_kind": by_kind,
            "legit_first_contacts": len(self.legit_sent),
            "legit_lost": len(lost),
            "legit_lost_markers": lost[:20],
            "legit_content_in_chain": content_in_chain,
            "legit_held_or_rejected_by_content": len(content_lost),
            "legit_held_or_rejected_by_content_markers": content_lost[:20],
            "legit_flagged_by_content": len(content_flagged),  # delivered in the end or not
            "legit_errors": len(self.legit_errors),  # first contacts whose sender got a stanza error back
            "legit_error_conditions": dict(sorted({c: list(self.legit_errors.values()).count(c)
                                                   for c in self.legit_errors.values()}.items())),
            "legit_answered_right_not_delivered": len(self.legit_answered_right - set(self.received)),
            "legit_verdicts": tally(self.legit_route.values()),
            "bots_flagged_by_content_by_kind": content_by_kind,
            "bot_verdicts_by_kind": {k: tally(routes) for k, routes in bot_routes.items()},
            "chain": self.chain() or DEFAULT_CHAIN,
            "content_training": self.content_training,
            "added_delay_p50_s": statistics.median(delays.values()) if delays else None,
            "added_delay_p90_s": pct(list(delays.values()), 0.9),
            "beyond_answering_p50_s": statistics.median(beyond) if beyond else None,
            "legit_blocked": blocked,
            "blocklist_entries": entries,
            "evidence_actions": actions,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=60)
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS),
                        help=f"the bot mix, taken in turn (of {','.join(BOT_KINDS)})")
    parser.add_argument("--humans", type=int, default=20)
    parser.add_argument("--receivers", type=int, default=30)
    parser.add_argument("--crowd", type=int, default=20, help="attendees of the legitimate service e.test")
    parser.add_argument("--crowd-contacts", type=int, default=5, help="users of a.test each attendee writes to")
    parser.add_argument("--crowd-window", type=float, default=60, help="seconds an attendee's first contacts span")
    parser.add_argument("--wave", type=int, default=20, help="bots online at once")
    parser.add_argument("--bot-patience", type=float, default=40, help="seconds a bot stays on one account")
    parser.add_argument("--deadline", type=float, default=75, help="seconds a person waits for delivery")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--policies", default="hush,drop,allow", help=f"of {','.join(POLICIES)}")
    parser.add_argument("--train", type=int, default=1000,
                        help="content policy: spam and ham lines (each) a.test's classifier is trained with first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="")
    parser.add_argument("--quick", action="store_true", help="CI smoke run")
    args = parser.parse_args()
    if args.quick:
        args.bots, args.humans, args.receivers, args.crowd, args.wave, args.time_scale = 6, 3, 3, 2, 6, 0.2
        args.train = min(args.train, 200)
    unknown = set(args.kinds.split(",")) - set(BOT_KINDS)
    if unknown:
        parser.error(f"unknown bot kinds: {', '.join(sorted(unknown))}")
    unknown = set(args.policies.split(",")) - set(POLICIES)
    if unknown:
        parser.error(f"unknown policies: {', '.join(sorted(unknown))} (available: {', '.join(POLICIES)})")
    random.seed(args.seed)
    results = []
    failed = []
    for policy in args.policies.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"spimsim-{policy}-"))
        try:
            print(f"[{policy}] running", file=sys.stderr)
            results.append(asyncio.run(Simulation(args, policy, root).run()))
            print(f"[{policy}] {json.dumps(results[-1])}", file=sys.stderr)
        except ContentUnavailable as e:  # the other policies still run; the exit status says this one did not
            print(f"[{policy}] NOT RUN: {e}", file=sys.stderr)
            results.append({"policy": policy, "not_run": str(e)})
            failed.append(policy)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    kinds = [k for k in BOT_KINDS if k in args.kinds.split(",")]
    print(f"\nspimsim: {args.bots} bots ({', '.join(kinds)}), {args.humans} humans, a crowd of {args.crowd} writing "
          f"to {args.crowd_contacts} users each, {args.receivers} users; time scale {args.time_scale}, "
          f"seed {args.seed}\n")
    fmt = (lambda v: "-" if v is None else f"{v:.1f} s")
    print("| policy | bot stanzas reaching a user | " + " | ".join(kinds) +
          " | legit first contacts lost | legit held or rejected by content | added delay p50 / p90 "
          "| beyond the answering time, p50 | legit domains or networks blocked or greylisted "
          "| bot accounts flagged by content |")
    print("|---" * (len(kinds) + 8) + "|")
    for r in results:
        if "not_run" in r:
            print(f"| {r['policy']} | not run: {r['not_run']} |")
            continue
        cells = [f"{r['bots_by_kind'].get(k, [0, 0])[0]}/{r['bots_by_kind'].get(k, [0, 0])[1]}" for k in kinds]
        # Content columns only where the chain has the content policy ("-": not measured, not zero).
        flagged = r["bots_flagged_by_content_by_kind"].values()
        legit_by_content, bots_by_content = "-", "-"
        if r["legit_content_in_chain"]:
            legit_by_content = f"{r['legit_held_or_rejected_by_content']}/{r['legit_first_contacts']}"
            bots_by_content = f"{sum(f for f, _ in flagged)}/{sum(n for _, n in flagged)}"
        print(f"| {r['policy']} | {r['bot_stanzas_reached']}/{r['bot_stanzas']} "
              f"({100 * r['bot_share_reached']:.2f} %) | " + " | ".join(cells) +
              f" | {r['legit_lost']}/{r['legit_first_contacts']} | {legit_by_content} "
              f"| {fmt(r['added_delay_p50_s'])} / {fmt(r['added_delay_p90_s'])} | {fmt(r['beyond_answering_p50_s'])} "
              f"| {len(r['legit_blocked'])} | {bots_by_content} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    if failed:
        print(f"\nspimsim: not run: {', '.join(failed)} (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
