"""The Bot Challenge end to end, with slixmpp clients over real TLS sockets (and once across two servers over S2S):
strangers' messages and invites are held and challenged, bots that answer instantly or guess never get through,
a person who answers right gets the held message delivered (delay-stamped) and talks freely afterwards; the
question's change revokes that; contacts are never challenged; strangers' errors that answer nothing are dropped.

Local accounts trust each other by default, so these tests set trust_local_users = false to play strangers on one
server; test_stranger_across_servers uses the default across a federation link.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from test_federation import start_pair
from test_im import PASSWORDS, im_client, login
from xmpp_raw import CLIENT_NS, q

NS = "urn:hush:antispim:0"
CAPTCHA_NS = "urn:xmpp:captcha"
DATA_NS = "jabber:x:data"
DELAY_NS = "urn:xmpp:delay"
PRIVACY_NS = "jabber:iq:privacy"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"

QUESTION = "What colour is a clear sky?"


def challenge_settings(min_answer: int, question: str = QUESTION) -> dict:
    return {"question": question, "good_answers": ["blue"], "wrong_answers": ["green", "red", "purple", "black"],
            "min_answer_seconds": min_answer, "max_tries": 3, "long_interval_minutes": 10, "growth": 10,
            "steps": 4, "offered": 4}


def start(hush, min_answer: int = 0, storage: str = "sqlite", **antispim):
    server = hush(storage=storage, antispim={"trust_local_users": False, **antispim},
                  **{"antispim.challenge": challenge_settings(min_answer)})
    for name in ("alice", "bob", "mallory", "carol", "dave"):
        server.adduser(f"{name}@localhost", PASSWORDS[name if name != "mallory" else "dave"])
    return server


def client(xmpp, jid: str):
    name = jid.split("@")[0]
    c = xmpp.client(jid, PASSWORDS[name if name != "mallory" else "dave"])
    c.xmpp.auto_authorize = None
    c.xmpp.auto_subscribe = False
    return c


def is_challenge(sender_bare: str):
    """The question as people read it: a chat message from the receiver's bare JID with the question in its body
    (and <question challenge='id'/> for machines); the XEP-0158 form comes in a message of its own."""
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and (e.get("from") or "").split("/")[0] == sender_bare
                and e.get("type") == "chat" and e.find(q(NS, "question")) is not None
                and bool(e.findtext(q(CLIENT_NS, "body"))))
    return match


def challenge_of(st) -> tuple[str, list[str], str]:
    """(challenge id, offered answers in order, body) of a challenge message, the answers read from the text as a
    person reads them ("1) green" lines)."""
    body = st.xml.findtext(q(CLIENT_NS, "body"))
    options = [m.group(2) for m in re.finditer(r"^(\d+)\) (.+)$", body, re.MULTILINE)]
    assert [int(m.group(1)) for m in re.finditer(r"^(\d+)\) ", body, re.MULTILINE)] == list(range(1, len(options) + 1))
    return st.xml.find(q(NS, "question")).get("challenge"), options, body


def is_captcha_form(sender_bare: str):
    """The XEP-0158 form: a message without a body, its id the challenge's."""
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and (e.get("from") or "").split("/")[0] == sender_bare
                and e.find(f"{q(CAPTCHA_NS, 'captcha')}/{q(DATA_NS, 'x')}") is not None)
    return match


def form_of(st) -> tuple[str, list[str], str]:
    """(challenge id, offered answers, question) of an XEP-0158 form message."""
    x = st.xml.find(f"{q(CAPTCHA_NS, 'captcha')}/{q(DATA_NS, 'x')}")
    fields = {f.get("var"): f for f in x.findall(q(DATA_NS, "field"))}
    options = [o.findtext(q(DATA_NS, "value")) for o in fields["qa"].findall(q(DATA_NS, "option"))]
    return fields["challenge"].findtext(q(DATA_NS, "value")), options, fields["qa"].get("label")


def captcha_submission(challenge_id: str, answer: str) -> str:
    """An XEP-0158 answer (§3.4): the submitted form, for an iq set to the receiver's bare JID."""
    return (f"<captcha xmlns='{CAPTCHA_NS}'><x xmlns='{DATA_NS}' type='submit'>"
            f"<field var='FORM_TYPE'><value>{CAPTCHA_NS}</value></field>"
            f"<field var='challenge'><value>{challenge_id}</value></field>"
            f"<field var='qa'><value>{answer}</value></field></x></captcha>")


def is_approval(sender_bare: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and (e.get("from") or "").split("/")[0] == sender_bare
                and e.find(q(NS, "approved")) is not None)
    return match


def is_error_from(sender_bare: str, condition: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") == "error"
                and (e.get("from") or "").split("/")[0] == sender_bare
                and e.find(f"{q(CLIENT_NS, 'error')}/{q(STANZAS_NS, condition)}") is not None)
    return match


def is_lockout(sender_bare: str):
    """The lockout as the sender learns it: a chat message with <retry-after/> answering the answer that used the
    last try, or the policy-violation error (with <retry-after/>) refusing a stanza sent during the lockout."""
    def match(st) -> bool:
        e = st.xml
        if e.tag != q(CLIENT_NS, "message") or (e.get("from") or "").split("/")[0] != sender_bare:
            return False
        if e.get("type") == "chat":
            return e.find(q(NS, "retry-after")) is not None
        return is_error_from(sender_bare, "policy-violation")(st)
    return match


def retry_after_of(st) -> str:
    """The lockout's end (RFC 3339 UTC) from a lockout notice or error."""
    e = st.xml
    retry = e.find(q(NS, "retry-after"))
    if retry is None:
        retry = e.find(f"{q(CLIENT_NS, 'error')}/{q(NS, 'retry-after')}")
    assert retry is not None, ET.tostring(e, encoding="unicode")
    return retry.get("until", "")


def is_chat(sender_bare: str, body: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and (e.get("from") or "").split("/")[0] == sender_bare
                and e.findtext(q(CLIENT_NS, "body")) == body)
    return match


async def set_min_answer(bob, seconds: int) -> None:
    """bob changes only the minimum answer time of his challenge: his current settings, read and written back."""
    got = await bob.iq("get", f"<query xmlns='{PRIVACY_NS}'><challenge xmlns='{NS}'/></query>")
    settings = got.xml.find(f"{q(PRIVACY_NS, 'query')}/{q(NS, 'challenge')}")
    assert settings is not None and settings.findtext(q(NS, "question")) == QUESTION, str(got)
    settings.set("min-answer-seconds", str(seconds))
    query = ET.Element(q(PRIVACY_NS, "query"))
    query.append(settings)
    result = await bob.iq("set", ET.tostring(query, encoding="unicode"))
    assert result["type"] == "result", str(result)


def answer_number(options: list[str], good: str = "blue") -> str:
    return str(options.index(good) + 1)


def wrong_answer(options: list[str]) -> str:
    return next(o for o in options if o != "blue")


def test_a_person_who_answers_gets_through_with_the_held_message(hush, xmpp, storage_backend):
    server = start(hush, min_answer=0, storage=storage_backend)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hi Bob, we met at the conference")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge from bob")
        challenge_id, options, body = challenge_of(st)
        assert QUESTION in body and len(options) == 4 and "blue" in options
        assert body.startswith("Automatic reply from localhost, on behalf of bob@localhost:\n")
        # The form follows in a message of its own, for clients that show XEP-0158 forms: same challenge, same
        # answers, no body (a client that cannot show it shows nothing rather than dropping the text with it).
        form = await mallory.expect_stanza(is_captcha_form("bob@localhost"), "the XEP-0158 form")
        assert form.xml.get("id") == challenge_id and form.xml.find(q(CLIENT_NS, "body")) is None
        assert form_of(form) == (challenge_id, options, QUESTION)
        # Held, not lost, and not delivered yet: bob has seen nothing of mallory.
        await bob.ping_server()
        assert not bob.received_matching(is_chat("mallory@localhost", "hi Bob, we met at the conference"))
        # The answer by number, as a person would type it.
        mallory.send_message("bob@localhost", answer_number(options))
        approval = await mallory.expect_stanza(is_approval("bob@localhost"), "the approval with a secret")
        secret = approval.xml.findtext(q(NS, "secret"))
        assert secret and len(secret) == 32
        held = await bob.expect_stanza(is_chat("mallory@localhost", "hi Bob, we met at the conference"),
                                       "the held message")
        assert held.xml.find(q(DELAY_NS, "delay")) is not None  # delay-stamped: it waited
        # The answer itself is not delivered to bob.
        assert not bob.received_matching(is_chat("mallory@localhost", answer_number(options)))
        # Later messages pass without a new challenge.
        mallory.send_message("bob@localhost", "so, about that talk")
        await bob.expect_stanza(is_chat("mallory@localhost", "so, about that talk"), "a later message")
        assert not mallory.received_matching(is_challenge("bob@localhost"))  # no second challenge

    xmpp.run(scenario())
    assert "mallory@localhost approved by bob@localhost; 1 held stanza(s) delivered" in server.stderr_text()


def test_a_bot_answering_instantly_never_gets_through(hush, xmpp):
    server = start(hush, min_answer=30)  # no person reads and answers within 30 s... a bot does

    async def scenario():
        bob, bot = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/bot")
        await login(bob, server.port("c2s"))
        await login(bot, server.port("c2s"))
        bot.send_message("bob@localhost", "CHEAP PILLS")
        seen = set()
        st = await bot.expect_stanza(is_challenge("bob@localhost"), "the first challenge")
        for attempt in range(3):
            challenge_id, options, _ = challenge_of(st)
            assert challenge_id not in seen
            seen.add(challenge_id)
            bot.send_message("bob@localhost", answer_number(options))  # even the right answer, instantly
            if attempt < 2:
                # Too fast: another challenge, with other random answers.
                st = await bot.expect_stanza(
                    lambda s: is_challenge("bob@localhost")(s) and challenge_of(s)[0] not in seen, "a new challenge")
        notice = await bot.expect_stanza(is_lockout("bob@localhost"), "the lockout")
        until = retry_after_of(notice)
        assert notice.xml.get("type") == "chat" and until.endswith("Z")
        assert "Too many wrong answers. Please wait 10 minutes before you write to bob@localhost again" in \
            notice.xml.findtext(q(CLIENT_NS, "body"))
        # During the lockout anything it sends is refused, and the wait starts over.
        bot.send_message("bob@localhost", "PILLS AGAIN")
        again = await bot.expect_stanza(
            lambda s: is_error_from("bob@localhost", "policy-violation")(s)
            and s.xml.findtext(q(CLIENT_NS, "body")) == "PILLS AGAIN", "the lockout, reset")
        assert retry_after_of(again) >= until
        await bob.ping_server()
        assert not [s for s in bob.inbox if s.xml.findtext(q(CLIENT_NS, "body")) in ("CHEAP PILLS", "PILLS AGAIN")]

    xmpp.run(scenario())


def test_a_guessing_bot_is_locked_out(hush, xmpp):
    server = start(hush, min_answer=0)

    async def scenario():
        bob, bot = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/bot")
        await login(bob, server.port("c2s"))
        await login(bot, server.port("c2s"))
        bot.send_message("bob@localhost", "hello friend")
        st = await bot.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        seen = {challenge_of(st)[0]}
        for attempt in range(3):
            bot.send_message("bob@localhost", wrong_answer(challenge_of(st)[1]))
            if attempt < 2:
                st = await bot.expect_stanza(
                    lambda s: is_challenge("bob@localhost")(s) and challenge_of(s)[0] not in seen, "a new challenge")
                seen.add(challenge_of(st)[0])
        await bot.expect_stanza(is_lockout("bob@localhost"), "the lockout")
        await bob.ping_server()
        assert not bob.received_matching(is_chat("mallory@localhost", "hello friend"))

    xmpp.run(scenario())


def test_the_form_answer_and_a_new_question_revoking_approval(hush, xmpp):
    server = start(hush, min_answer=0)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "first")
        challenge_id, options, _ = form_of(await mallory.expect_stanza(is_captcha_form("bob@localhost"), "the form"))
        # XEP-0158: the form, submitted to bob's bare JID.
        result = await mallory.iq("set", captcha_submission(challenge_id, "blue"), to="bob@localhost")
        assert result["type"] == "result", str(result)
        approval = await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        secret = approval.xml.findtext(q(NS, "secret"))
        await bob.expect_stanza(is_chat("mallory@localhost", "first"), "the held message")

        def with_secret(body: str) -> ET.Element:
            m = mallory.xmpp.make_message(mto="bob@localhost", mbody=body, mtype="chat")
            s = ET.SubElement(m.xml, q(NS, "secret"))
            s.text = secret
            return m

        with_secret("with my secret").send()
        await bob.expect_stanza(is_chat("mallory@localhost", "with my secret"), "a message carrying the secret")

        # Bob reads and changes his settings: same question, other timing — approvals stand.
        got = await bob.iq("get", f"<query xmlns='{PRIVACY_NS}'><challenge xmlns='{NS}'/></query>")
        element = got.xml.find(f"{q(PRIVACY_NS, 'query')}/{q(NS, 'challenge')}")
        assert element is not None and element.findtext(q(NS, "question")) == QUESTION
        assert [a.text for a in element.findall(q(NS, "answer")) if a.get("correct") == "true"] == ["blue"]
        new_question = (f"<query xmlns='{PRIVACY_NS}'><challenge xmlns='{NS}' min-answer-seconds='0' max-tries='3'>"
                        "<question>Which animal barks?</question><answer correct='true'>dog</answer>"
                        "<answer>cat</answer><answer>fish</answer></challenge></query>")
        assert (await bob.iq("set", new_question))["type"] == "result"
        # A new question is a new key: the approval and the secret stop working.
        with_secret("still me").send()
        st = await mallory.expect_stanza(
            lambda s: is_challenge("bob@localhost")(s) and "Which animal barks?" in challenge_of(s)[2],
            "a challenge with the new question")
        assert "dog" in challenge_of(st)[1]
        # Settings are refused when they make no sense.
        bad = (f"<query xmlns='{PRIVACY_NS}'><challenge xmlns='{NS}'><question>q</question>"
               "<answer correct='true'>a</answer></challenge></query>")
        refused = await bob.iq("set", bad)
        assert refused["type"] == "error" and refused["error"]["condition"] == "bad-request"

    xmpp.run(scenario())


def test_invites_from_strangers_are_challenged_while_contacts_talk(hush, xmpp):
    """(With trust_local_users off, bob's own invite to carol is challenged by carol's server too — he is a
    stranger to her — but she is none to him.)"""
    server = start(hush, min_answer=0)

    async def scenario():
        bob, carol, mallory = (client(xmpp, "bob@localhost/desk"), client(xmpp, "carol@localhost/c"),
                               client(xmpp, "mallory@localhost/x"))
        for c in (bob, carol, mallory):
            await login(c, server.port("c2s"))
        # bob asks carol for her presence: from now on she is no stranger to him (he wrote first).
        bob.xmpp.send_presence(pto="carol@localhost", ptype="subscribe")
        await bob.ping_server()
        mallory.xmpp.send_presence(pto="bob@localhost", ptype="subscribe")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge for the invite")
        carol.send_message("bob@localhost", "lunch?")
        await bob.expect_stanza(is_chat("carol@localhost", "lunch?"), "carol's message, unchallenged")
        assert not bob.received_matching(
            lambda s: s.xml.tag == q(CLIENT_NS, "presence") and s.xml.get("type") == "subscribe"
            and (s.xml.get("from") or "").startswith("mallory@"))
        assert not carol.received_matching(is_challenge("bob@localhost"))
        # An error from a stranger that answers nothing bob sent is dropped, never answered (issue 12: errors
        # carried stranger text past the chain).
        mallory.xmpp.send_message(mto="bob@localhost/desk", mbody="bounced", mtype="error")
        await mallory.ping_server()
        await bob.ping_server()
        assert not bob.received_matching(lambda s: (s.xml.get("from") or "").startswith("mallory@")
                                         and s.xml.get("type") == "error")
        assert not mallory.received_matching(lambda s: s.xml.get("type") == "error")

    xmpp.run(scenario())


def test_dry_run_only_logs(hush, xmpp):
    server = start(hush, min_answer=0, dry_run=["challenge"])

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "straight through")
        await bob.expect_stanza(is_chat("mallory@localhost", "straight through"), "the message, delivered")
        await mallory.ping_server()
        assert not mallory.received_matching(is_challenge("bob@localhost"))

    xmpp.run(scenario())
    assert "dry-run challenge would hold mallory@localhost/x -> bob@localhost" in server.stderr_text()


def test_stranger_across_servers(hush, xmpp):
    """alice@a.test is challenged by bob@b.test's server; the challenge and the answer cross the S2S link."""
    a, b = start_pair(hush, antispim={"chain": ["challenge"]}, challenge=challenge_settings(0))

    async def scenario():
        alice, bob = im_client(xmpp, "alice@a.test/laptop"), im_client(xmpp, "bob@b.test/phone")
        await login(alice, a.port("c2s"))
        await login(bob, b.port("c2s"))
        alice.send_message("bob@b.test", "hello from another server")
        st = await alice.expect_stanza(is_challenge("bob@b.test"), "b.test's challenge, over S2S")
        _, options, body = challenge_of(st)
        assert QUESTION in body and "blue" in options
        alice.send_message("bob@b.test", "blue")
        await alice.expect_stanza(is_approval("bob@b.test"), "the approval")
        held = await bob.expect_stanza(is_chat("alice@a.test", "hello from another server"), "the held message")
        assert held.xml.find(q(DELAY_NS, "delay")) is not None

    xmpp.run(scenario())


def test_message_requests_and_settings_with_hushctl(hush, xmpp, tmp_path):
    server = start(hush, min_answer=0)

    async def strangers_write():
        mallory, carol = client(xmpp, "mallory@localhost/x"), client(xmpp, "carol@localhost/c")
        await login(mallory, server.port("c2s"))
        await login(carol, server.port("c2s"))
        mallory.send_message("bob@localhost", "request one")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        mallory.send_message("bob@localhost", "request two")
        carol.send_message("bob@localhost", "from carol")
        await carol.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        await mallory.ping_server()
        return mallory

    mallory = xmpp.run(strangers_write())
    listing = server.hushctl("requests", "bob@localhost").stdout.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["carol@localhost", "mallory@localhost"], listing
    assert "2 held" in listing[1] and "request one" in listing[1]
    released = server.hushctl("requests", "bob@localhost", "release", "mallory@localhost").stdout
    assert "mallory@localhost approved for bob@localhost; 2 held stanza(s) released" in released
    assert "1 held stanza(s) of carol@localhost discarded" in server.hushctl(
        "requests", "bob@localhost", "reject", "carol@localhost").stdout
    assert server.hushctl("requests", "bob@localhost").stdout == ""

    async def bob_reads():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        for body in ("request one", "request two"):
            st = await bob.expect_stanza(is_chat("mallory@localhost", body), f"released '{body}'")
            assert st.xml.find(q(DELAY_NS, "delay")) is not None
        # Approved: no challenge any more.
        mallory.send_message("bob@localhost", "now approved")
        await bob.expect_stanza(is_chat("mallory@localhost", "now approved"), "a later message")
        assert not bob.received_matching(is_chat("carol@localhost", "from carol"))

    xmpp.run(bob_reads())

    # Settings: the default, then the user's own from a file, validated.
    shown = server.hushctl("challenge", "bob@localhost").stdout
    assert "the server default" in shown and QUESTION in shown
    good = tmp_path / "challenge.xml"
    good.write_text(f"<challenge xmlns='{NS}' max-tries='2'><question>Which animal barks?</question>"
                    "<answer correct='true'>dog</answer><answer>cat</answer></challenge>")
    assert "revoked" in server.hushctl("challenge", "bob@localhost", "set", str(good)).stdout
    shown = server.hushctl("challenge", "bob@localhost").stdout
    assert "Which animal barks?" in shown and "max-tries=\"2\"" in shown and "server default" not in shown
    bad = tmp_path / "bad.xml"
    bad.write_text(f"<challenge xmlns='{NS}'><question>q</question><answer>only wrong</answer></challenge>")
    refused = server.hushctl("challenge", "bob@localhost", "set", str(bad), check=False)
    assert refused.returncode == 1 and "at least one <answer correct='true'/> is required" in refused.stderr


def shape(st) -> tuple:
    """What a stranger can observe of a stanza, with the addresses and random parts taken out."""
    e = st.xml
    body = (e.findtext(q(CLIENT_NS, "body")) or "").replace("ghost@localhost", "X").replace("bob@localhost", "X")
    for answer in ("blue", "green", "red", "purple", "black"):
        body = body.replace(answer, "A")
    children = sorted(c.tag for c in e)
    error = e.find(q(CLIENT_NS, "error"))
    return (e.tag, e.get("type"), len(e.get("id") or ""), children, body if "1) " in body or not body else "text",
            None if error is None else (error.get("type"), sorted(c.tag for c in error)))


def test_no_account_enumeration(hush, xmpp):
    """A stranger writing to an account that exists and to one that does not sees the same: a challenge, an approval
    with a secret after the right answer, a lockout after wrong ones."""
    server = start(hush, min_answer=0)

    async def scenario():
        mallory = client(xmpp, "mallory@localhost/x")
        await login(mallory, server.port("c2s"))
        observed = {}
        for target in ("bob@localhost", "ghost@localhost"):
            seen = []
            mallory.send_message(target, "hello?")
            st = await mallory.expect_stanza(is_challenge(target), f"a challenge from {target}")
            seen.append(shape(st))
            mallory.send_message(target, wrong_answer(challenge_of(st)[1]))
            st = await mallory.expect_stanza(is_challenge(target), f"a second challenge from {target}")
            seen.append(shape(st))
            mallory.send_message(target, answer_number(challenge_of(st)[1]))
            st = await mallory.expect_stanza(is_approval(target), f"the approval from {target}")
            assert len(st.xml.findtext(q(NS, "secret"))) == 32
            seen.append(shape(st))
            observed[target] = seen
        assert observed["bob@localhost"] == observed["ghost@localhost"]
        # Only once it has passed does the address behave as what it is.
        mallory.send_message("ghost@localhost", "anyone?")
        err = await mallory.next_message_error()
        assert err["error"]["condition"] == "service-unavailable"

        # Locked out the same way.
        carol = client(xmpp, "carol@localhost/c")
        await login(carol, server.port("c2s"))
        lockouts = []
        for target in ("bob@localhost", "ghost2@localhost"):
            carol.send_message(target, "hi")
            st = await carol.expect_stanza(is_challenge(target), "a challenge")
            for attempt in range(3):
                carol.send_message(target, wrong_answer(challenge_of(st)[1]))
                if attempt < 2:
                    st = await carol.expect_stanza(is_challenge(target), "another challenge")
            st = await carol.expect_stanza(is_lockout(target), "the lockout")
            lockouts.append(shape(st))
        assert lockouts[0] == lockouts[1]

    xmpp.run(scenario())


def test_held_messages_and_challenges_survive_a_restart(hush, xmpp, storage_backend):
    server = start(hush, min_answer=0, storage=storage_backend)

    async def before():
        mallory = client(xmpp, "mallory@localhost/x")
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "kept across the restart")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        return challenge_of(st)[1]

    options = xmpp.run(before())
    server.restart()

    async def after():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/y")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", answer_number(options))  # the challenge from before the restart
        await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        await bob.expect_stanza(is_chat("mallory@localhost", "kept across the restart"), "the held message")

    xmpp.run(after())
