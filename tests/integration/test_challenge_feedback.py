"""What a person reads from the Bot Challenge, with slixmpp over real TLS sockets: the question as a plain chat
message naming the server, plain-word feedback for a too fast and a wrong answer, a short approval without the
secret in the sentence, the texts in the sender's language (xml:lang, from the stanza or its stream), and automatic
client traffic (chat states, receipts, markers) that never counts as trying: no challenge, nothing held, and during a
lockout no error and no move of its end (issue 13).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from test_antispim import (DELAY_NS, NS, QUESTION, challenge_of, challenge_settings, client, is_approval,
                           is_challenge, is_chat, is_lockout, retry_after_of, set_min_answer, start, wrong_answer,
                           answer_number)
from test_im import PASSWORDS, login
from xmpp_raw import CLIENT_NS, q

FIRST_LINE = "Automatic reply from localhost, on behalf of bob@localhost:"


def body_of(st) -> str:
    return st.xml.findtext(q(CLIENT_NS, "body")) or ""


def test_every_outcome_in_plain_words(hush, xmpp):
    server = start(hush, min_answer=3600)  # any answer is too fast until bob lowers it

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hello bob, it's Mallory from the choir")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "the question")
        challenge_id, options, body = challenge_of(st)
        lines = body.split("\n")
        assert lines[0] == FIRST_LINE, body  # the server speaks, not bob
        assert lines[1] == ("bob@localhost only receives messages from people they know. Your message is kept and "
                            "will be delivered as soon as you answer this question:"), body
        assert lines[2] == QUESTION and lines[3:7] == [f"{n}) {o}" for n, o in enumerate(options, 1)], body
        assert lines[7] == "Reply with the number or the words of your answer.", body
        assert st.xml.get("type") == "chat" and st.xml.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"

        # Too fast: said so, with the tries left, and a new question.
        mallory.send_message("bob@localhost", answer_number(options))
        st = await mallory.expect_stanza(lambda s: is_challenge("bob@localhost")(s) and challenge_of(s)[0] != challenge_id,
                                         "the too-fast feedback")
        challenge_id, options, body = challenge_of(st)
        assert body.split("\n")[:3] == [FIRST_LINE, "That was too fast: take a moment to read the question. "
                                        "2 tries left.", QUESTION], body

        # Bob gives people more leeway: same question, no minimum time (his settings, not a new key).
        await set_min_answer(bob, 0)
        mallory.send_message("bob@localhost", wrong_answer(options) + ".")  # punctuation does not matter
        st = await mallory.expect_stanza(lambda s: is_challenge("bob@localhost")(s) and challenge_of(s)[0] != challenge_id,
                                         "the wrong-answer feedback")
        challenge_id, options, body = challenge_of(st)
        assert body.split("\n")[:3] == [FIRST_LINE, "That is not right; 1 try left.", QUESTION], body

        # Right, in words and with a capital: the approval is short and has no jargon; the secret is for the client.
        mallory.send_message("bob@localhost", "Blue!")
        approval = await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        assert body_of(approval) == (FIRST_LINE + "\nThank you, that is right. Your messages now reach bob@localhost, "
                                     "and those you sent before are delivered too.")
        secret = approval.xml.findtext(q(NS, "secret"))
        assert secret and secret not in body_of(approval) and approval.xml.get("type") == "chat"
        held = await bob.expect_stanza(is_chat("mallory@localhost", "hello bob, it's Mallory from the choir"),
                                       "the held message")
        assert held.xml.find(q(DELAY_NS, "delay")) is not None

    xmpp.run(scenario())


def test_the_texts_follow_the_senders_language(hush, xmpp):
    german = {"preamble": "Automatische Antwort von {server} für {receiver}:",
              "challenge": "{receiver} nimmt nur Nachrichten von Bekannten an. Beantworte diese Frage:",
              "how_to_answer": "Antworte mit der Nummer oder den Worten deiner Antwort."}
    server = hush(antispim={"trust_local_users": False},
                  **{"antispim.challenge": challenge_settings(0), "antispim.texts.de": german})
    for name in ("bob", "mallory", "carol"):
        server.adduser(f"{name}@localhost", PASSWORDS[name if name != "mallory" else "dave"])

    async def scenario():
        mallory = client(xmpp, "mallory@localhost/x")
        carol = client(xmpp, "carol@localhost/x")
        carol.xmpp.default_lang = "de-CH"  # its stream's language; its stanzas carry none of their own
        await login(mallory, server.port("c2s"))
        await login(carol, server.port("c2s"))
        # The stanza's own xml:lang.
        mallory.xmpp.send_raw("<message to='bob@localhost' type='chat' xml:lang='de'><body>Hallo</body></message>")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "the question in German")
        first = st
        assert body_of(st).split("\n")[:2] == ["Automatische Antwort von localhost für bob@localhost:",
                                               "bob@localhost nimmt nur Nachrichten von Bekannten an. Beantworte "
                                               "diese Frage:"], body_of(st)
        assert st.xml.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
        # The stream's language, stamped by the server on a stanza without one (RFC 6120 §4.7.4).
        carol.send_message("bob@localhost", "Grüezi")
        st = await carol.expect_stanza(is_challenge("bob@localhost"), "the question in German, by stream")
        assert body_of(st).startswith("Automatische Antwort von localhost für bob@localhost:\n"), body_of(st)
        # Texts the language does not set fall back to the default language's.
        mallory.xmpp.send_raw(f"<message to='bob@localhost' type='chat' xml:lang='de'><body>"
                              f"{wrong_answer(challenge_of(first)[1])}</body></message>")
        st = await mallory.expect_stanza(lambda s: is_challenge("bob@localhost")(s)
                                         and "That is not right" in body_of(s), "the default-language feedback")
        assert body_of(st).startswith("Automatische Antwort")

    xmpp.run(scenario())


def locked_until(server, receiver: str, sender: str) -> int:
    """The sender's lockout end as stored (seconds), read from the SQLite file without touching the server."""
    node, domain = receiver.split("@")
    with sqlite3.connect(f"file:{server.workdir / 'data' / 'hush.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT xml FROM documents WHERE domain = ? AND username = ? AND doc_key = ?",
                         (domain, node, f"antispim:state:{sender}")).fetchone()
    assert row, "no challenge state stored"
    marker = "locked-until=\""
    start_at = row[0].index(marker) + len(marker)
    return int(row[0][start_at:row[0].index("\"", start_at)])


def test_chat_states_during_a_lockout_neither_move_its_end_nor_get_held(hush, xmpp):
    server = start(hush, min_answer=0)
    states = ["<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
              "</message>",
              "<message to='bob@localhost' type='chat'><inactive xmlns='http://jabber.org/protocol/chatstates'/>"
              "</message>",
              "<message to='bob@localhost' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/>"
              "<body/></message>"]

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hello bob")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "the question")
        for attempt in range(3):
            mallory.send_message("bob@localhost", wrong_answer(challenge_of(st)[1]))
            if attempt < 2:
                st = await mallory.expect_stanza(
                    lambda s: is_challenge("bob@localhost")(s) and "That is not right" in body_of(s), "feedback")
        notice = await mallory.expect_stanza(is_lockout("bob@localhost"), "the lockout")
        assert body_of(notice).split("\n")[0] == FIRST_LINE
        assert "Please wait 10 minutes before you write to bob@localhost again (until " in body_of(notice)
        before = locked_until(server, "bob@localhost", "mallory@localhost")
        assert retry_after_of(notice).endswith("Z")
        # A restart would store a later end: let the clock pass a whole second first (a deliberate gap in time, not
        # a wait for the server), then the client's own traffic.
        second = int(time.time())
        while int(time.time()) == second:
            await asyncio.sleep(0.05)
        for raw in states:
            mallory.xmpp.send_raw(raw)
        await mallory.ping_server()
        await bob.ping_server()
        assert locked_until(server, "bob@localhost", "mallory@localhost") == before
        assert not mallory.received_matching(lambda s: s.xml.get("type") == "error")

    xmpp.run(scenario())
    listing = server.hushctl("requests", "bob@localhost").stdout.splitlines()
    assert len(listing) == 1 and "1 held" in listing[0], listing  # only "hello bob": no chat state was held


def test_automatic_client_traffic_never_counts_as_trying(hush, xmpp):
    """Chat states, receipts and markers a stranger's client sends on its own are dropped: they draw no challenge,
    are not held, and during a lockout they neither get an error nor restart the wait (issue 13)."""
    server = start(hush, min_answer=0)
    automatic = [
        "<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<message to='bob@localhost' type='chat'><inactive xmlns='http://jabber.org/protocol/chatstates'/>"
        "<no-store xmlns='urn:xmpp:hints'/></message>",
        "<message to='bob@localhost'><received xmlns='urn:xmpp:receipts' id='x1'/></message>",
        "<message to='bob@localhost'><displayed xmlns='urn:xmpp:chat-markers:0' id='x1'/></message>",
    ]

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        for raw in automatic:
            mallory.xmpp.send_raw(raw)
        await mallory.ping_server()
        await bob.ping_server()
        assert not mallory.received_matching(is_challenge("bob@localhost"))  # no first contact yet
        assert not bob.received_matching(lambda s: s.xml.tag == q(CLIENT_NS, "message"))
        mallory.send_message("bob@localhost", "hello bob")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "the challenge")
        for attempt in range(3):
            mallory.send_message("bob@localhost", wrong_answer(challenge_of(st)[1]))
            if attempt < 2:
                st = await mallory.expect_stanza(is_challenge("bob@localhost"), "a new challenge")
        await mallory.expect_stanza(is_lockout("bob@localhost"), "the lockout")
        # Locked out: the client keeps sending chat states. None is answered, none restarts the lockout.
        for raw in automatic:
            mallory.xmpp.send_raw(raw)
        await mallory.ping_server()
        assert not mallory.received_matching(lambda s: s.xml.get("type") == "error")

    xmpp.run(scenario())
    listing = server.hushctl("requests", "bob@localhost").stdout.splitlines()
    assert len(listing) == 1 and "1 held" in listing[0], listing  # only "hello bob"
    assert server.stderr_text().count("challenge defer") == 0  # no lockout restart was decided
