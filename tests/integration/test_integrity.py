"""Anti-SPIM integrity (issue 12), end to end with real clients over TLS: no path around the chain, no account
enumeration, one atomic decision per stanza. Each test is one finding of the issue, attacked as a spammer would.

The server runs Hush's defaults for local trust here (conftest trusts every test account): a brand-new local account
is a stranger, so one server is enough to play spammer and victim.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET

from test_antispim import (NS, STANZAS_NS, captcha_submission, challenge_of, challenge_settings, is_captcha_form,
                           is_challenge, is_chat, is_error_from, is_lockout)
from test_defences import call, error_of, metric, with_http
from test_im import PASSWORDS, login
from xmpp_raw import CLIENT_NS, q

MUC_USER_NS = "http://jabber.org/protocol/muc#user"


def start(hush, storage: str = "sqlite", antispim: dict | None = None, **sections):
    """A server with the default local trust (new accounts are strangers) and a known question."""
    server = hush(storage=storage,
                  **with_http(antispim={"trusted_after_hours": 168, "trusted_min_contacts": 1, **(antispim or {})},
                              **{"antispim.challenge": challenge_settings(0)}, **sections))
    for name in ("alice", "bob", "carol", "dave"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    return server


def client(xmpp, jid: str):
    c = xmpp.client(jid, PASSWORDS[jid.split("@")[0]])
    c.xmpp.auto_authorize = None
    c.xmpp.auto_subscribe = False
    return c


def has_text(text: str):
    """Any stanza carrying `text` anywhere (body, status, payload)."""
    return lambda st: text in ET.tostring(st.xml, encoding="unicode")


async def settle(*clients) -> None:
    """Every stanza sent before now has been routed and delivered: each client's session handles its stanzas in
    order, so a round trip to the server from each one (senders first) is a barrier."""
    for c in clients:
        await c.ping_server()


def test_forged_muc_invitation_is_judged_by_its_real_sender(hush, xmpp):
    """Finding 1: a stranger puts the receiver's own JID, a local user or the server in <invite from=…/>."""
    server = start(hush)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "dave@localhost/bot")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        for n, claimed in enumerate(("bob@localhost", "alice@localhost", "localhost")):
            mallory.xmpp.send_raw(f"<message to='bob@localhost' id='inv{n}'><x xmlns='{MUC_USER_NS}'>"
                                  f"<invite from='{claimed}'><reason>join</reason></invite></x>"
                                  f"<body>FORGED INVITE {n}</body></message>")
        # Judged by who really sent it: dave is a stranger to bob, so he is challenged and nothing arrives.
        await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge to the real sender")
        await settle(mallory, bob)
        assert not bob.received_matching(has_text("FORGED INVITE"))

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_verdicts_total{policy="challenge",verdict="hold",mode="enforced"}') >= 1


def test_blocklisted_stranger_cannot_forge_an_invitation(hush, xmpp):
    server = start(hush)
    server.hushctl("blocklist", "add", "jid", "dave@localhost", "spam")
    server.signal(1)  # SIGHUP: reload the list now

    async def scenario():
        await server.wait_log("antispim: blocklist loaded, 1 entry")
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "dave@localhost/bot")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.xmpp.send_raw(f"<message to='bob@localhost' id='inv'><x xmlns='{MUC_USER_NS}'>"
                              f"<invite from='localhost'/></x><body>BLOCKED INVITE</body></message>")
        await mallory.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "the blocklist's refusal")
        await settle(mallory, bob)
        assert not bob.received_matching(has_text("BLOCKED INVITE"))

    xmpp.run(scenario())


def test_stranger_groupchat_error_and_presence_text_never_reach_the_user(hush, xmpp):
    """Findings 2, 3 and 4: groupchat to a full JID, an error message with a body, unavailable presence with a
    status — each from a stranger, each with text — are dropped, counted and never answered."""
    server = start(hush)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "dave@localhost/bot")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.xmpp.send_raw("<message type='groupchat' to='bob@localhost/desk' id='g1'>"
                              "<body>SPAM GROUPCHAT</body></message>")
        mallory.xmpp.send_raw("<message type='error' to='bob@localhost/desk' id='e1'><body>SPAM ERROR</body>"
                              f"<error type='cancel'><item-not-found xmlns='{STANZAS_NS}'/></error></message>")
        mallory.xmpp.send_raw("<presence type='unavailable' to='bob@localhost'><status>SPAM STATUS</status>"
                              "</presence>")
        mallory.xmpp.send_raw("<presence to='bob@localhost/desk'><status>SPAM DIRECTED</status></presence>")
        mallory.xmpp.send_raw("<iq type='result' to='bob@localhost/desk' id='r1'>"
                              "<query xmlns='jabber:iq:version'><name>SPAM RESULT</name></query></iq>")
        await settle(mallory, bob)
        assert not bob.received_matching(has_text("SPAM"))
        assert not mallory.received_matching(lambda st: st.xml.get("type") == "error")  # never answered

        # An error that answers what bob sent there does reach him.
        bob.send_message("dave@localhost", "who are you?")  # bob writes first: dave is now his contact too
        await mallory.expect_stanza(is_chat("bob@localhost", "who are you?"), "bob's message")
        mallory.xmpp.send_raw("<message type='error' to='bob@localhost/desk' id='e2'>"
                              f"<error type='cancel'><item-not-found xmlns='{STANZAS_NS}'/></error></message>")
        await bob.expect_stanza(lambda st: st.xml.get("id") == "e2", "the error answering bob")

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_classified_total{row="groupchat-not-joined"}') == 1
    assert metric(server, 'hush_antispim_classified_total{row="error-unsolicited"}') == 1
    assert metric(server, 'hush_antispim_classified_total{row="stranger-presence"}') == 2
    assert metric(server, 'hush_antispim_classified_total{row="iq-answer-unsolicited"}') == 1


def test_new_local_accounts_are_strangers_and_local_targets_are_guarded(hush, xmpp):
    """Finding 5: a brand-new local account is challenged like a remote stranger; the outbound guard counts local
    targets; a blocklist entry for a local JID works without 'contacts too'."""
    server = start(hush, **{"antispim.outbound": {"new_throttle_at": 2, "new_suspend_at": 100}})

    async def scenario():
        clients = {name: client(xmpp, f"{name}@localhost/x") for name in ("alice", "bob", "carol", "dave")}
        for c in clients.values():
            await login(c, server.port("c2s"))
        dave = clients["dave"]
        dave.send_message("alice@localhost", "hello alice")
        await dave.expect_stanza(is_challenge("alice@localhost"), "alice's challenge (dave is new)")
        dave.send_message("bob@localhost", "hello bob")
        await dave.expect_stanza(is_challenge("bob@localhost"), "bob's challenge")
        dave.send_message("carol@localhost", "hello carol")
        err = await dave.expect_stanza(is_error_from("carol@localhost", "policy-violation"), "the throttle")
        assert error_of(err)[0] == "wait"
        await settle(dave, *clients.values())
        assert not [st for c in ("alice", "bob", "carol") for st in clients[c].received_matching(has_text("hello"))]

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_outbound_total{outcome="throttled"}') == 1


def test_a_blocklisted_established_local_account_is_refused(hush, xmpp):
    server = start(hush, antispim={"trusted_after_hours": 0, "trusted_min_contacts": 0})  # everyone established
    server.hushctl("blocklist", "add", "jid", "dave@localhost", "compromised")
    server.signal(1)

    async def scenario():
        await server.wait_log("antispim: blocklist loaded, 1 entry")
        bob, dave = client(xmpp, "bob@localhost/desk"), client(xmpp, "dave@localhost/x")
        await login(bob, server.port("c2s"))
        await login(dave, server.port("c2s"))
        dave.send_message("bob@localhost", "BLOCKED LOCAL")
        await dave.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "the blocklist's refusal")
        await settle(dave, bob)
        assert not bob.received_matching(has_text("BLOCKED LOCAL"))
        # An established account that is not listed is trusted: no challenge.
        carol = client(xmpp, "carol@localhost/x")
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", "hi bob")
        await bob.expect_stanza(is_chat("carol@localhost", "hi bob"), "an established account's message")

    xmpp.run(scenario())


def normalized(st, account: str) -> str:
    """A stanza's shape — elements, attributes, error conditions — with what names the addressed account, ids,
    texts (random answer orders, times) and answer labels taken out."""
    text = ET.tostring(st.xml, encoding="unicode").replace(account, "ACCOUNT")
    text = re.sub(r">[^<]*<", "><", text)
    return re.sub(r" (id|label|challenge|until)=\"[^\"]*\"", "", text)


def test_a_stranger_cannot_tell_a_missing_account_from_an_existing_one(hush, xmpp):
    """Finding 6: every answer a stranger can observe from a bare JID, compared between bob (exists) and nobody
    (does not): iq of every kind, a message (challenge), the challenge's form answers, the held-stanza quota and the
    lockout."""
    settings = {**challenge_settings(0), "wrong_answers": ["green", "red", "purple"]}  # all 4 always offered
    server = hush(**with_http(antispim={"trusted_after_hours": 168, "trusted_min_contacts": 1, "max_held_per_sender": 3},
                              **{"antispim.challenge": settings}))
    for name in ("alice", "bob", "carol"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    iqs = [
        ("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
        ("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"),
        ("get", "<vCard xmlns='vcard-temp'/>"),
        ("get", "<query xmlns='jabber:iq:last'/>"),
        ("get", "<ping xmlns='urn:xmpp:ping'/>"),
        ("get", "<query xmlns='jabber:iq:version'/>"),
        ("get", "<query xmlns='jabber:iq:roster'/>"),
        ("get", "<query xmlns='jabber:iq:private'><x xmlns='a:b'/></query>"),
        ("get", "<query xmlns='jabber:iq:privacy'/>"),
        ("get", "<blocklist xmlns='urn:xmpp:blocking'/>"),
        ("set", "<vCard xmlns='vcard-temp'><FN>x</FN></vCard>"),
        ("set", "<query xmlns='urn:xmpp:mam:2' queryid='q1'/>"),  # XEP-0313: nobody's archive to a stranger
        ("get", "<prefs xmlns='urn:xmpp:mam:2'/>"),
        ("set", "<command xmlns='http://jabber.org/protocol/commands' node='urn:hush:antispim:0#requests'/>"),
        ("set", captcha_submission("nope", "1")),
    ]

    async def observe(stranger, account: str) -> list[str]:
        seen = []
        for itype, payload in iqs:
            seen.append(normalized(await stranger.iq(itype, payload, to=account), account))
        # A message: the challenge.
        stranger.send_message(account, "hello there")
        st = await stranger.expect_stanza(is_challenge(account), f"a challenge from {account}")
        seen.append(normalized(st, account))
        seen.append(normalized(await stranger.expect_stanza(is_captcha_form(account), "its form"), account))
        # More messages: held up to the quota, then resource-constraint.
        for n in range(4):
            stranger.send_message(account, f"more {n}")
        err = await stranger.expect_stanza(is_error_from(account, "resource-constraint"), "the held quota")
        seen.append(normalized(err, account))
        # A wrong form answer to the outstanding challenge, then wrong answers by message until the lockout.
        challenge_id, options, _ = challenge_of(st)
        seen.append(normalized(await stranger.iq("set", captcha_submission(challenge_id, "green"), to=account),
                               account))
        seen.append(normalized(await stranger.expect_stanza(is_challenge(account), "a new challenge"), account))
        stranger.send_message(account, "green")
        seen.append(normalized(await stranger.expect_stanza(is_challenge(account), "another challenge"), account))
        stranger.send_message(account, "green")
        lockout = await stranger.expect_stanza(is_lockout(account), "the lockout")
        seen.append(normalized(lockout, account))
        return seen

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        s1, s2 = client(xmpp, "alice@localhost/x"), client(xmpp, "carol@localhost/x")  # new: strangers
        await login(s1, server.port("c2s"))
        await login(s2, server.port("c2s"))
        existing = await observe(s1, "bob@localhost")
        missing = await observe(s2, "nobody@localhost")
        for n, (a, b) in enumerate(zip(existing, missing)):
            assert a.replace("alice@localhost", "X") == b.replace("carol@localhost", "X"), f"answer {n} differs"

    xmpp.run(scenario())


def test_parallel_wrong_answers_cost_exactly_max_tries(hush, xmpp, storage_backend):
    """Finding 7: 20 wrong answers sent at once from 20 resources of one sender: each is judged on what the one
    before wrote (one atomic storage operation each), so exactly max_tries are consumed and the rest meet the
    lockout — on SQLite and on PostgreSQL (a pool of connections)."""
    settings = {**challenge_settings(0), "wrong_answers": ["green", "red", "purple"]}  # all 4 always offered
    server = hush(storage=storage_backend,
                  **with_http(antispim={"trusted_after_hours": 168, "trusted_min_contacts": 1},
                              **{"antispim.challenge": settings}))
    for name in ("bob", "dave"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        bots = [client(xmpp, f"dave@localhost/b{n}") for n in range(20)]
        for b in bots:
            await login(b, server.port("c2s"), roster=False)
        bots[0].send_message("bob@localhost", "let me in")
        await bots[0].expect_stanza(is_challenge("bob@localhost"), "the challenge")
        for b in bots:
            b.send_message("bob@localhost", "green")  # always offered, always wrong
        lockouts = challenges = 0
        for b in bots:
            got = await b.expect_stanza(lambda st: is_lockout("bob@localhost")(st)
                                        or is_challenge("bob@localhost")(st), "an answer to the answer")
            if is_challenge("bob@localhost")(got):
                challenges += 1
            else:
                lockouts += 1
        assert (challenges, lockouts) == (2, 18)  # max_tries = 3: two new challenges, then the lockout
        await settle(*bots, bob)
        assert not bob.received_matching(has_text("let me in"))

    xmpp.run(scenario())


def is_request_notice(st) -> bool:
    return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("from") == "localhost"
            and st.xml.find(q(NS, "requests")) is not None)


def test_the_receiver_is_told_once_that_requests_wait(hush, xmpp):
    """Finding 9: one notice from the server when requests start waiting — not one per stanza or per sender — and
    the requests command shows how many wait."""
    server = start(hush)

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        for name in ("alice", "carol"):
            s = client(xmpp, f"{name}@localhost/x")
            await login(s, server.port("c2s"))
            s.send_message("bob@localhost", f"hello from {name}")
            s.send_message("bob@localhost", f"again from {name}")
            await s.expect_stanza(is_challenge("bob@localhost"), "the challenge")
            await settle(s)
        notice = await bob.expect_stanza(is_request_notice, "the notice")
        assert notice.xml.find(q(NS, "requests")).get("count") == "1"
        assert "message request" in notice.xml.findtext(q(CLIENT_NS, "body"))
        await settle(bob)
        assert not bob.received_matching(is_request_notice)  # just the one
        items = await bob.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items' "
                                    "node='http://jabber.org/protocol/commands'/>", to="localhost")
        names = [i.get("name") for i in items.xml.iter("{http://jabber.org/protocol/disco#items}item")]
        assert "Message requests (2)" in names

    xmpp.run(scenario())


def test_held_stanzas_are_capped_per_receiver_and_the_oldest_sender_is_told(hush, xmpp, storage_backend):
    """Finding 8: a receiver keeps at most max_held_per_receiver stanzas; a new request pushes out the oldest, whose
    sender is told (nothing lost silently); the newest requests are still released on a pass."""
    server = start(hush, storage=storage_backend, antispim={"max_held_per_receiver": 2})

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        senders = [client(xmpp, f"{name}@localhost/x") for name in ("alice", "carol", "dave")]
        for s in senders:
            await login(s, server.port("c2s"))
            s.send_message("bob@localhost", f"request from {s.jid.split('@')[0]}")
            await s.expect_stanza(is_challenge("bob@localhost"), "the challenge")
        dropped = await senders[0].expect_stanza(lambda st: st.xml.find(q(NS, "dropped")) is not None,
                                                 "the notice that alice's request was dropped")
        assert dropped.xml.findtext(q(CLIENT_NS, "body")) == (
            "Automatic reply from localhost, on behalf of bob@localhost:\n1 message you sent to bob@localhost could not "
            "be kept while waiting for your answer: too many were waiting. Please answer the question and write again.")
        await settle(*senders[1:])
        assert not [st for s in senders[1:] for st in s.received_matching(lambda st: st.xml.find(q(NS, "dropped")) is not None)]

    xmpp.run(scenario())
    requests = server.hushctl("requests", "bob@localhost").stdout
    assert "carol@localhost" in requests and "dave@localhost" in requests and "alice@localhost" not in requests


def test_an_entity_heavy_stanza_goes_through_whole(hush, xmpp):
    """Finding 11, end to end: a body of ~250 KB of character references (what used to cost quadratic work in
    the stream parser; the work itself is bounded by an operation count in tests/unit/protocol) arrives intact,
    and another session on the server is answered right after."""
    server = start(hush)
    text = "&" * 50000  # on the wire: 50000 × "&amp;" = 250 000 bytes, inside the 256 KiB stanza limit

    async def scenario():
        bob, other = client(xmpp, "bob@localhost/desk"), client(xmpp, "bob@localhost/phone")
        await login(bob, server.port("c2s"))
        await login(other, server.port("c2s"))
        bob.xmpp.send_message(mto="bob@localhost/phone", mbody=text, mtype="chat")
        got = await other.expect_stanza(lambda st: st.xml.findtext(q(CLIENT_NS, "body")) == text, "the whole body")
        assert got is not None
        await bob.ping_server()

    xmpp.run(scenario())
