"""The Bot Challenge as a person meets it in a real terminal client: profanity (driven through tmux, see
tmux_profanity.py) is the stranger carol writing to bob, a slixmpp client, on a real hushd.

It proves that the challenge is usable without any XEP-0158 support: the question and its numbered options are
plain chat text that appears on profanity's screen; an answer typed too soon and a wrong answer each show their
feedback line there, with a new set of options; the right answer, typed as a number, shows the thanks, and only then
does bob get carol's first message, held until now and stamped with its original time (XEP-0203, urn:xmpp:delay);
what she types afterwards reaches him directly. The answers themselves never reach bob.
"""

from __future__ import annotations

import re

import pytest

from test_antispim import DELAY_NS, QUESTION, client, is_chat, set_min_answer, start
from test_im import PASSWORDS, login
from tmux_profanity import Profanity, squeeze
from xmpp_raw import CLIENT_NS, q

HEADER = "Automatic reply from localhost, on behalf of bob@localhost:"
ASKED = ("bob@localhost only receives messages from people they know. Your message is kept and will be delivered as "
         "soon as you answer this question:")
REPLY_WITH = "Reply with the number or the words of your answer."
TOO_FAST = "That was too fast: take a moment to read the question. 2 tries left."
WRONG = "That is not right; 1 try left."
THANKS = ("Thank you, that is right. Your messages now reach bob@localhost, and those you sent before are delivered "
          "too.")
OPTION = re.compile(r"^\s*(\d+)\) (.+?)\s*$", re.M)


@pytest.fixture
def profanity(tmp_path):
    p = Profanity(tmp_path / "profanity-home").start()
    yield p
    p.close()


def latest_reply(screen: str) -> str:
    """The screen from the last automatic reply on (the newest message of bob's server), or ''."""
    at = screen.rfind(HEADER)
    return screen[at:] if at >= 0 else ""


def challenge_with(first_line: str):
    """A screen check: the newest automatic reply is a complete challenge whose line after the header is
    `first_line`; returns its numbered options {word: number}."""
    def check(screen: str):
        reply = latest_reply(screen)
        text = squeeze(reply)
        if not text.startswith(squeeze(f"{HEADER} {first_line} {QUESTION}")) or REPLY_WITH not in text:
            return None
        numbered = OPTION.findall(reply.split(REPLY_WITH)[0])
        options = {words: number for number, words in numbered}
        assert [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1)) and len(options) == len(numbered) \
            and "blue" in options and len(options) >= 2, f"options on screen: {numbered}\n{reply}"
        return options
    return check


def has_delay(st) -> bool:
    delay = st.xml.find(q(DELAY_NS, "delay"))
    return delay is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", delay.get("stamp", ""))


def test_a_person_in_profanity_answers_the_question(hush, xmpp, profanity):
    # Answers sooner than an hour count as too fast, until bob lowers that to nothing (which keeps carol's challenge).
    server = start(hush, min_answer=3600)
    first = "hi Bob, carol here, typing in a terminal"

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        await profanity.connect("carol@localhost", PASSWORDS["carol"], server.port("c2s"))

        # carol writes first: held, and the question shows in her chat window with bob.
        profanity.type(f"/msg bob@localhost {first}")
        options = await profanity.wait_until(challenge_with(ASKED), "the question with numbered options")
        await bob.ping_server()
        assert not bob.received_matching(is_chat("carol@localhost", first)), "delivered before any answer"

        # She answers right at once: too fast, a new set of options.
        typed = [options["blue"]]
        profanity.type(typed[-1])
        options = await profanity.wait_until(challenge_with(TOO_FAST), "the too-fast feedback and new options")

        # bob no longer asks for a delay; a wrong answer, in words, is told as such.
        await set_min_answer(bob, 0)
        typed.append(next(words for words in options if words != "blue"))
        profanity.type(typed[-1])
        options = await profanity.wait_until(challenge_with(WRONG), "the wrong-answer feedback and new options")

        # The right answer by its number: thanks on screen, and the held message reaches bob, delay-stamped.
        typed.append(options["blue"])
        profanity.type(typed[-1])
        await profanity.wait_until(lambda s: squeeze(f"{HEADER} {THANKS}") in squeeze(latest_reply(s)),
                                   "the thanks for the right answer")
        held = await bob.expect_stanza(lambda st: is_chat("carol@localhost", first)(st) and has_delay(st),
                                       "carol's held first message with its delay stamp")
        assert held.xml.get("type") == "chat"

        # From now on what she types reaches bob directly (no delay: it did not wait).
        later = "thanks, the sky is blue indeed"
        profanity.type(later)
        direct = await bob.expect_stanza(is_chat("carol@localhost", later), "carol's next message")
        assert direct.xml.find(q(DELAY_NS, "delay")) is None

        # None of her answers was passed on to bob.
        for answer in typed:
            assert not bob.received_matching(is_chat("carol@localhost", answer)), f"answer {answer!r} delivered"
        assert not bob.received_matching(
            lambda st: st.xml.tag == q(CLIENT_NS, "message") and (st.xml.get("from") or "").startswith("carol@")
            and st.xml.findtext(q(CLIENT_NS, "body")) not in (None, first, later))

    xmpp.run(scenario())


def test_a_person_in_profanity_sees_how_long_to_wait(hush, xmpp, profanity):
    """Three wrong answers: each says how many tries are left, the last says how long to wait in minutes (with the
    UTC end); a message typed during the lockout is refused with the same words, on the screen too."""
    server = start(hush, min_answer=0)
    first = "hello Bob, carol again"

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        await profanity.connect("carol@localhost", PASSWORDS["carol"], server.port("c2s"))
        profanity.type(f"/msg bob@localhost {first}")
        options = await profanity.wait_until(challenge_with(ASKED), "the question")
        for left in ("2 tries left.", "1 try left."):
            profanity.type(next(words for words in options if words != "blue"))
            options = await profanity.wait_until(challenge_with(f"That is not right; {left}"), f"'{left}'")
        profanity.type(next(words for words in options if words != "blue"))
        waited = await profanity.wait_until(
            lambda s: re.search(r"Too many wrong answers\. Please wait 10 minutes before you write to bob@localhost "
                                r"again \(until \d{4}-\d\d-\d\d \d\d:\d\d UTC\)", squeeze(latest_reply(s))),
            "the lockout: how long, in minutes, with the UTC end")
        assert squeeze(latest_reply(waited.string)).startswith(HEADER)
        # During the lockout a message is refused (a stanza error) and says the same; nothing reaches bob.
        profanity.type("please let me in")
        await profanity.wait_until(lambda s: squeeze(s).count("Too many wrong answers. Please wait") >= 2,
                                   "the refusal of a message sent during the lockout")
        await bob.ping_server()
        assert not bob.received_matching(
            lambda st: st.xml.tag == q(CLIENT_NS, "message") and (st.xml.get("from") or "").startswith("carol@"))

    xmpp.run(scenario())


def test_a_person_in_profanity_reads_the_number_and_types_it(hush, xmpp, profanity):
    """The default challenge in a real terminal client: the number shows in words on the screen, the person types
    its digits, the thanks show and the held message reaches bob."""
    from test_challenge_code import ASKED as NUMBER, DIGITS, start_default
    server = start_default(hush)
    first = "hi Bob, carol from the choir"

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        await profanity.connect("carol@localhost", PASSWORDS["carol"], server.port("c2s"))
        profanity.type(f"/msg bob@localhost {first}")
        words = re.compile(re.escape(squeeze(NUMBER)) + r"((?:\s*(?:" + "|".join(DIGITS) + r")\b){4})")
        shown = await profanity.wait_until(lambda s: words.search(squeeze(latest_reply(s))), "the number in words")
        assert shown.string.startswith(squeeze(f"{HEADER} {ASKED}"))
        profanity.type("".join(str(DIGITS.index(w)) for w in shown.group(1).split()))
        await profanity.wait_until(lambda s: squeeze(f"{HEADER} {THANKS}") in squeeze(latest_reply(s)),
                                   "the thanks for the right number")
        await bob.expect_stanza(lambda st: is_chat("carol@localhost", first)(st) and has_delay(st),
                                "carol's held message")

    xmpp.run(scenario())
