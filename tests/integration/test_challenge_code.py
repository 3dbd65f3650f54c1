"""The default challenge end to end (issue 16): a number, new for every challenge, spelled out in words in a chat
message and labelled the same in an XEP-0158 text-single field, to be typed in digits. A person reads it and gets
through with the held message; answers that passed before, guesses and the old shipped default ("blue") never do; a
message that is no number is held and costs no try. slixmpp clients over real TLS sockets, with the server's
default challenge settings (nothing about the challenge configured but the minimum answer time).
"""

from __future__ import annotations

from test_antispim import (CAPTCHA_NS, DATA_NS, NS, captcha_submission, client, is_approval, is_captcha_form,
                           is_challenge, is_chat, is_lockout)
from test_im import PASSWORDS, login
from xmpp_raw import CLIENT_NS, q

DIGITS = "zero one two three four five six seven eight nine".split()
ASKED = "Please reply with this number, written in digits: "


def start_default(hush, storage: str = "sqlite", min_answer: int = 0):
    server = hush(storage=storage, antispim={"trust_local_users": False},
                  **{"antispim.challenge": {"min_answer_seconds": min_answer}})
    for name in ("alice", "bob", "mallory", "carol", "dave"):
        server.adduser(f"{name}@localhost", PASSWORDS[name if name != "mallory" else "dave"])
    return server


def code_of(st) -> str:
    """The number as a person reads it from the challenge's text: the words after the sentence, one per digit."""
    body = st.xml.findtext(q(CLIENT_NS, "body")) or ""
    line = next(line for line in body.splitlines() if line.startswith(ASKED))
    return "".join(str(DIGITS.index(word)) for word in line[len(ASKED):].split())


def text_field_of(form) -> tuple[str, str, str]:
    """(challenge id, field type, label) of the XEP-0158 form's qa field."""
    x = form.xml.find(f"{q(CAPTCHA_NS, 'captcha')}/{q(DATA_NS, 'x')}")
    fields = {f.get("var"): f for f in x.findall(q(DATA_NS, "field"))}
    assert fields["qa"].find(q(DATA_NS, "option")) is None  # nothing to pick from
    return fields["challenge"].findtext(q(DATA_NS, "value")), fields["qa"].get("type"), fields["qa"].get("label")


def is_not_right(sender_bare: str):
    def match(st) -> bool:
        return is_challenge(sender_bare)(st) and "That is not right" in (st.xml.findtext(q(CLIENT_NS, "body")) or "")
    return match


def test_a_person_reads_the_number_and_gets_through(hush, xmpp, storage_backend):
    server = start_default(hush, storage=storage_backend)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hi Bob, it's Mallory from the choir")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "the challenge")
        code = code_of(st)
        assert len(code) == 4 and code[0] != "0", st.xml.findtext(q(CLIENT_NS, "body"))
        body = st.xml.findtext(q(CLIENT_NS, "body"))
        assert code not in body  # only in words: the digits are what the person types
        form = await mallory.expect_stanza(is_captcha_form("bob@localhost"), "the XEP-0158 form")
        challenge_id, kind, label = text_field_of(form)
        assert challenge_id == st.xml.find(q(NS, "question")).get("challenge")
        assert kind == "text-single" and label.startswith(ASKED) and label in body
        # A message that is no number (here the answer the old shipped question had) is held with the first and
        # costs no try: no feedback before the approval, and the right number passes at the first try. (One
        # sender's stanzas are decided one after the other, so feedback on "blue" would come before the approval.)
        mallory.send_message("bob@localhost", "blue")
        mallory.send_message("bob@localhost", " ".join(code))  # "7 4 0 2": spaces are fine
        await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        assert not mallory.received_matching(is_not_right("bob@localhost"))
        first = await bob.expect_stanza(is_chat("mallory@localhost", "hi Bob, it's Mallory from the choir"),
                                        "the held message")
        assert first.xml.find(q("urn:xmpp:delay", "delay")) is not None
        await bob.expect_stanza(is_chat("mallory@localhost", "blue"), "the second held message")
        assert not bob.received_matching(is_chat("mallory@localhost", " ".join(code)))  # the answer stays out

    xmpp.run(scenario())


def test_the_form_answer_takes_the_typed_number(hush, xmpp):
    server = start_default(hush)

    async def scenario():
        bob, carol = client(xmpp, "bob@localhost/desk"), client(xmpp, "carol@localhost/x")
        await login(bob, server.port("c2s"))
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", "hello from the form")
        code = code_of(await carol.expect_stanza(is_challenge("bob@localhost"), "the challenge"))
        challenge_id, _, _ = text_field_of(await carol.expect_stanza(is_captcha_form("bob@localhost"), "the form"))
        result = await carol.iq("set", captcha_submission(challenge_id, code), to="bob@localhost")
        assert result["type"] == "result", str(result)
        await carol.expect_stanza(is_approval("bob@localhost"), "the approval")
        await bob.expect_stanza(is_chat("carol@localhost", "hello from the form"), "the held message")

    xmpp.run(scenario())


def test_an_answer_that_passed_before_and_guesses_fail(hush, xmpp):
    """The bots of issue 16: one replays the number a person passed with, then guesses; every try fails (unless
    its draw happens to equal the replayed one, 1 in 9,000, which the test tells apart) and the lockout follows."""
    server = start_default(hush)

    async def scenario():
        bob, carol, dave = (client(xmpp, f"{n}@localhost/x") for n in ("bob", "carol", "dave"))
        for c in (bob, carol, dave):
            await login(c, server.port("c2s"))
        carol.send_message("bob@localhost", "hi, carol")
        passed = code_of(await carol.expect_stanza(is_challenge("bob@localhost"), "carol's challenge"))
        carol.send_message("bob@localhost", passed)
        await carol.expect_stanza(is_approval("bob@localhost"), "carol's approval")

        dave.send_message("bob@localhost", "cheap watches")
        current = code_of(await dave.expect_stanza(is_challenge("bob@localhost"), "dave's challenge"))
        guesses = [passed, "1234", "9999"]
        for n, guess in enumerate(guesses):
            if guess == current:
                guess = "1000" if current != "1000" else "1001"  # the draw matched: a wrong one instead
            dave.send_message("bob@localhost", guess)
            if n < len(guesses) - 1:
                st = await dave.expect_stanza(is_not_right("bob@localhost"), f"guess {n + 1} is not right")
                next_code = code_of(st)
                assert next_code != "" and st.xml.find(q(NS, "question")) is not None
                current = next_code  # every try brings a new number
        await dave.expect_stanza(is_lockout("bob@localhost"), "the lockout after three wrong tries")
        await bob.ping_server()
        assert not bob.received_matching(is_chat("dave@localhost", "cheap watches"))

    xmpp.run(scenario())
