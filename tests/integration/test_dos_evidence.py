"""DoS detection asks the challenges for evidence (issue 16), over real S2S: a service whose people write to many
users of a.test at once (a conference) is not blocked — each of them is challenged as usual — while the same reach
after its senders were locked out by challenges blocks the service and greylists its network. Before any such reach,
that evidence already gives the service's next senders one try instead of three (a person who reads the number still
passes). A farm of little
services in one network gets the network greylisted, never refused: its next sender waits once, then is challenged.
Remote servers connect from addresses of their own ([s2s] source_addresses), so a.test counts them in those networks.
"""

from __future__ import annotations

import asyncio
import re
import time
import xml.etree.ElementTree as ET

from test_blocklist import start_server
from test_challenge_code import code_of
from test_defences import call, metric
from test_federation import free_port
from test_im import PASSWORDS, login
from test_antispim import is_approval, is_challenge, is_error_from, is_lockout


async def lock_out(bot, receiver: str, challenge) -> None:
    """Wrong numbers until the lockout (max_tries = 3): a wrong one each time, whatever was drawn."""
    for n in range(3):
        bot.send_message(receiver, "1000" if code_of(challenge) != "1000" else "1001")
        if n < 2:
            challenge = await bot.expect_stanza(is_challenge(receiver), f"the challenge after wrong answer {n + 1}")
    await bot.expect_stanza(is_lockout(receiver), "the lockout")


def test_a_crowd_is_challenged_and_a_failing_service_is_blocked(hush, xmpp):
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b},
                     antispim={"chain": ["blocklist", "dos", "challenge"]},
                     **{"antispim.dos": {"distinct_receivers": 3, "window_seconds": 600, "block_hours": 2,
                                         "evidence_senders": 2}})
    b = start_server(hush, "b.test", port_b, {"a.test": port_a}, antispim={"chain": ["pass"]},
                     s2s={"source_addresses": ["127.0.2.1"]})
    for user in ("u1", "u2", "u3"):
        a.adduser(f"{user}@a.test", "a-password-1")
    people = {"alice": "u1", "bob": "u2", "carol": "u3"}
    for name in (*people, "dave"):
        b.adduser(f"{name}@b.test", PASSWORDS[name])
    b.adduser("mallory@b.test", PASSWORDS["dave"])

    async def scenario():
        # Three people of b.test write to three users: the service reached the threshold, but nobody of it failed
        # a challenge — each is challenged, none refused.
        for name, user in people.items():
            person = xmpp.client(f"{name}@b.test/x", PASSWORDS[name])
            await login(person, b.port("c2s"))
            person.send_message(f"{user}@a.test", f"hello from the conference, {name} here")
            await person.expect_stanza(is_challenge(f"{user}@a.test"), f"{name}'s challenge")
            assert not person.received_matching(is_error_from(f"{user}@a.test", "policy-violation"))
        await a.wait_log("antispim: DoS detector: domain:b.test reached 3 users, but of its senders 0 were locked out "
                         "by a challenge and 0 passed: not blocked")
        # Its network is the one b.test connects from.
        await a.wait_log("antispim: DoS detector: ip:127.0.2.0/24 reached 3 users")

        # Two bots of b.test guess until they are locked out: now the reach is a farm's.
        bots = {}
        for name, password in (("dave", PASSWORDS["dave"]), ("mallory", PASSWORDS["dave"])):
            bot = xmpp.client(f"{name}@b.test/bot", password)
            await login(bot, b.port("c2s"))
            bot.send_message("u1@a.test", "cheap pills")
            await lock_out(bot, "u1@a.test", await bot.expect_stanza(is_challenge("u1@a.test"), f"{name}'s challenge"))
            bots[name] = bot

        bots["dave"].send_message("u2@a.test", "cheap pills")
        await bots["dave"].expect_stanza(is_error_from("u2@a.test", "policy-violation"), "the DoS refusal")

    xmpp.run(scenario())
    log = a.stderr_text()
    assert "antispim: DoS detector blocks domain b.test for 2 h: contacted 3 users as a stranger within 600 s; 2 of " \
           "its senders locked out by challenges, 0 passed" in log, a.describe()
    assert "antispim: DoS detector greylists ip 127.0.2.0/24 for 2 h" in log, a.describe()
    assert "127.0.2.1" in log  # the peer address a.test saw


def test_a_service_with_evidence_against_it_gets_fewer_tries(hush, xmpp):
    """A bot of b.test is locked out by a.test's challenge (3 tries); another reads the number and passes, and its
    receiver then blocks it (XEP-0191): two failures of b.test. b.test has reached only three users, so nothing is
    blocked; but its next sender, carol, who mistypes once, is locked out at once (suspect_tries = 1), and alice, who
    reads the number, passes as anyone. /metrics counts the stricter answers."""
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b}, http=True,
                     antispim={"chain": ["blocklist", "dos", "challenge"]},
                     **{"antispim.dos": {"evidence_senders": 2},
                        "antispim.challenge": {"min_answer_seconds": 0}})
    b = start_server(hush, "b.test", port_b, {"a.test": port_a}, antispim={"chain": ["pass"]},
                     s2s={"source_addresses": ["127.0.4.1"]})
    for user in ("u1", "u2", "u3"):
        a.adduser(f"{user}@a.test", "a-password-1")
    for name in ("alice", "carol", "dave"):
        b.adduser(f"{name}@b.test", PASSWORDS[name])
    b.adduser("mallory@b.test", PASSWORDS["dave"])

    async def first_contact(name: str, password: str, user: str):
        client = xmpp.client(f"{name}@b.test/x", password)
        await login(client, b.port("c2s"))
        client.send_message(user, "hello")
        return client, await client.expect_stanza(is_challenge(user), f"{name}'s challenge")

    async def scenario():
        bot, challenge = await first_contact("dave", PASSWORDS["dave"], "u1@a.test")
        await lock_out(bot, "u1@a.test", challenge)  # three wrong answers: the receiver's tries
        reader, challenge = await first_contact("mallory", PASSWORDS["dave"], "u1@a.test")
        reader.send_message("u1@a.test", code_of(challenge))
        await reader.expect_stanza(is_approval("u1@a.test"), "the reader's pass")
        u1 = xmpp.client("u1@a.test/x", "a-password-1")
        await login(u1, a.port("c2s"))
        block = "<block xmlns='urn:xmpp:blocking'><item jid='mallory@b.test'/></block>"
        assert (await u1.iq("set", block)).xml.get("type") == "result"
        await a.wait_log("antispim: u1@a.test blocked mallory@b.test, who had passed the challenge")

        carol, challenge = await first_contact("carol", PASSWORDS["carol"], "u2@a.test")
        carol.send_message("u2@a.test", "1000" if code_of(challenge) != "1000" else "1001")
        await carol.expect_stanza(is_lockout("u2@a.test"), "carol's lockout after one wrong answer")
        await a.wait_log("antispim: carol@b.test answers with 1 try: domain:b.test has evidence against it (2 of its "
                         "senders locked out by challenges, 0 passed)")

        alice, challenge = await first_contact("alice", PASSWORDS["alice"], "u3@a.test")
        alice.send_message("u3@a.test", code_of(challenge))
        await alice.expect_stanza(is_approval("u3@a.test"), "alice's pass")

    xmpp.run(scenario())
    assert metric(a, 'hush_antispim_evidence_total{event="stricter_challenge"}') == 2  # carol's and alice's answers
    assert "b.test" not in a.hushctl("blocklist", "list").stdout


def test_a_farm_network_of_little_services_is_greylisted_not_refused(hush, xmpp):
    """c.test, d.test, e.test and g.test are one farm server in 127.0.3.0/24. Two bots of two services are locked
    out; a third service's sender then makes the network's reach 3: the network is greylisted (deferred, not
    refused), no service is blocked. A fourth service's sender waits once, and after the wait gets the challenge.
    a.test publishes the range with its evidence kind and trust; h.test, which imports from a.test only entries
    resting on challenges (and trusts the list to block), greylists the range too — it does not block it."""
    port_a, port_f, port_h = free_port(), free_port(), free_port()
    farm_domains = ("c.test", "d.test", "e.test", "g.test")
    a = start_server(hush, "a.test", port_a, {d: port_f for d in farm_domains}, http=True,
                     antispim={"chain": ["blocklist", "dos", "challenge"]},
                     **{"antispim.dos": {"distinct_receivers": 3, "window_seconds": 600, "block_hours": 2,
                                         "evidence_senders": 2},
                        "antispim.greylist": {"retry_after_seconds": 1}})
    farm = hush(server={"hosts": list(farm_domains)},
                listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                        {"kind": "s2s", "address": "127.0.0.1", "port": port_f}],
                antispim={"chain": ["pass"]}, s2s={"source_addresses": ["127.0.3.1"]},
                **{"s2s.hosts": {"a.test": f"127.0.0.1:{port_a}", "h.test": f"127.0.0.1:{port_h}"}})
    for user in ("u1", "u2", "u3", "u4"):
        a.adduser(f"{user}@a.test", "a-password-1")
    for domain in farm_domains:
        farm.adduser(f"bot@{domain}", PASSWORDS["dave"])

    async def bot_of(domain: str):
        bot = xmpp.client(f"bot@{domain}/x", PASSWORDS["dave"])
        await login(bot, farm.port("c2s"))
        return bot

    async def scenario():
        for domain, user in (("c.test", "u1@a.test"), ("d.test", "u2@a.test")):
            bot = await bot_of(domain)
            bot.send_message(user, "cheap pills")
            await lock_out(bot, user, await bot.expect_stanza(is_challenge(user), f"bot@{domain}'s challenge"))

        third = await bot_of("e.test")
        third.send_message("u3@a.test", "cheap pills")
        deferred = await third.expect_stanza(is_error_from("u3@a.test", "policy-violation"), "the deferral")
        assert deferred.xml.find("{jabber:client}error").get("type") == "wait"
        await a.wait_log("antispim: DoS detector greylists ip 127.0.3.0/24 for 2 h")

        # The next service of the network waits once (the greylisted entry), then goes on to be challenged.
        fourth = await bot_of("g.test")
        fourth.send_message("u4@a.test", "hello?")
        err = await fourth.expect_stanza(is_error_from("u4@a.test", "policy-violation"), "the greylist's wait")
        assert err.xml.find("{jabber:client}error").get("type") == "wait"
        assert "your network is greylisted here" in (err.xml.findtext(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text") or "")
        # Retry as a person would, after the wait the error names (1 s here; the client honours it, as people
        # do), until a.test takes the message: it is challenged, not refused.
        answer = err
        deadline = time.monotonic() + 20
        while not is_challenge("u4@a.test")(answer):
            assert time.monotonic() < deadline, "no challenge after the greylist's wait"
            text = answer.xml.findtext("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text") or ""
            await asyncio.sleep(int(re.search(r"try again in (\d+) s", text).group(1)))
            fourth.send_message("u4@a.test", "hello again")
            answer = await fourth.expect_stanza(lambda st: is_challenge("u4@a.test")(st) or
                                                is_error_from("u4@a.test", "policy-violation")(st),
                                                "the answer to the retry")

    xmpp.run(scenario())
    listed = a.hushctl("blocklist", "list").stdout
    assert "ip\t127.0.3.0/24\t" in listed and "dos detector" in listed
    for domain in farm_domains:
        assert f"domain\t{domain}" not in listed

    # What a.test publishes says what the entry rests on and what it does.
    status, body = call(a, "GET", "/blocklist.xml")
    assert status == 200
    entry = ET.fromstring(body).find("{urn:hush:blocklist:0}entry")
    assert (entry.get("type"), entry.get("value"), entry.get("evidence"), entry.get("trust")) == \
        ("ip", "127.0.3.0/24", "challenges", "greylist")

    url = f"http://127.0.0.1:{a.port('http')}/blocklist.xml"
    h = start_server(hush, "h.test", port_h, {d: port_f for d in farm_domains},
                     antispim={"chain": ["blocklist", "challenge"]},
                     **{"antispim.import": [{"url": url, "trust": "block", "evidence": ["challenges"]}]})
    h.adduser("u1@h.test", "a-password-1")

    async def imported():
        await h.wait_log(f"antispim: imported 1 entry from {url}")
        bot = await bot_of("g.test")
        bot.send_message("u1@h.test", "hello?")
        err = await bot.expect_stanza(is_error_from("u1@h.test", "policy-violation"), "h.test's answer")
        assert err.xml.find("{jabber:client}error").get("type") == "wait"  # greylisted as published, not blocked
        assert f"listed by {url}: please try again in" in (err.xml.findtext(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text") or "")

    xmpp.run(imported())
