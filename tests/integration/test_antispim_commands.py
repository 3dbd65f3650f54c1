"""What the receiver of strangers' messages is told and can do, end to end with slixmpp clients: advice when the
question looks too easy (a passed sender blocked) or too hard (lockouts pile up), and the XEP-0050 ad-hoc commands
to configure the challenge and to release, reject or report the message requests.
"""

from __future__ import annotations

from test_antispim import (DATA_NS, NS, PRIVACY_NS, QUESTION, answer_number, challenge_of, client, is_approval,
                           is_challenge, is_chat, is_lockout, start, wrong_answer)
from test_im import login
from xmpp_raw import CLIENT_NS, q


def is_advice(st) -> bool:
    e = st.xml
    return e.tag == q(CLIENT_NS, "message") and e.get("from") == "localhost" and e.find(q(NS, "advice")) is not None


async def lock_out(stranger, target: str) -> None:
    stranger.send_message(target, "hi")
    st = await stranger.expect_stanza(is_challenge(target), "a challenge")
    for attempt in range(3):
        stranger.send_message(target, wrong_answer(challenge_of(st)[1]))
        if attempt < 2:
            st = await stranger.expect_stanza(is_challenge(target), "another challenge")
    await stranger.expect_stanza(is_lockout(target), "the lockout")


def test_advice_when_the_question_looks_too_easy_or_too_hard(hush, xmpp):
    server = start(hush, min_answer=0)

    async def scenario():
        bob = client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        # Someone passes, then bob blocks them: the question was too easy.
        mallory = client(xmpp, "mallory@localhost/x")
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "spam after all")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        mallory.send_message("bob@localhost", answer_number(challenge_of(st)[1]))
        await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        result = await bob.iq("set", "<block xmlns='urn:xmpp:blocking'><item jid='mallory@localhost'/></block>")
        assert result["type"] == "result"
        advice = await bob.expect_stanza(is_advice, "advice about an easy question")
        assert "probably too easy" in advice.xml.findtext(q(CLIENT_NS, "body"))
        # Three strangers locked out in a day: bob hears of it once.
        for name in ("alice", "carol"):
            stranger = client(xmpp, f"{name}@localhost/s")
            await login(stranger, server.port("c2s"))
            await lock_out(stranger, "bob@localhost")
        await bob.ping_server()
        assert not bob.received_matching(is_advice)
        other = client(xmpp, "mallory@localhost/y")
        await login(other, server.port("c2s"))
        await lock_out(other, "alice@localhost")  # someone else's lockout does not count for bob
        await bob.ping_server()
        assert not bob.received_matching(is_advice)
        third = client(xmpp, "dave@localhost/s")
        await login(third, server.port("c2s"))
        await lock_out(third, "bob@localhost")
        advice = await bob.expect_stanza(is_advice, "advice about many lockouts")
        assert "3 strangers were locked out" in advice.xml.findtext(q(CLIENT_NS, "body"))

    xmpp.run(scenario())


COMMANDS_NS = "http://jabber.org/protocol/commands"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"


def submit_form(node: str, session: str, fields: dict[str, list[str]]) -> str:
    xml = "".join(f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>"
                  for var, values in fields.items())
    return (f"<command xmlns='{COMMANDS_NS}' node='{node}' sessionid='{session}' action='complete'>"
            f"<x xmlns='{DATA_NS}' type='submit'>{xml}</x></command>")


def test_adhoc_commands_configure_and_message_requests(hush, xmpp):
    server = start(hush, min_answer=0)

    async def scenario():
        bob, mallory = client(xmpp, "bob@localhost/desk"), client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        # Listed in disco (XEP-0050 §2.2), as clients discover them.
        items = await bob.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}' node='{COMMANDS_NS}'/>", to="localhost")
        nodes = {i.get("node"): i.get("name") for i in items.xml.iter(q(DISCO_ITEMS_NS, "item"))}
        assert nodes == {f"{NS}#configure": "Anti-spam question", f"{NS}#requests": "Message requests"}

        # Message requests: mallory writes twice, bob accepts from the command's form; delivered at once.
        mallory.send_message("bob@localhost", "request via adhoc")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge")
        mallory.send_message("bob@localhost", "second one")
        await mallory.ping_server()
        started = await bob.iq("set", f"<command xmlns='{COMMANDS_NS}' node='{NS}#requests' action='execute'/>",
                               to="localhost")
        command = started.xml.find(q(COMMANDS_NS, "command"))
        assert command.get("status") == "executing"
        options = [o.findtext(q(DATA_NS, "value")) for o in command.iter(q(DATA_NS, "option"))]
        assert "mallory@localhost" in options
        done = await bob.iq("set", submit_form(f"{NS}#requests", command.get("sessionid"),
                                               {"senders": ["mallory@localhost"], "action": ["release"]}),
                            to="localhost")
        finished = done.xml.find(q(COMMANDS_NS, "command"))
        assert finished.get("status") == "completed"
        assert "2 stanza(s) delivered" in finished.findtext(q(COMMANDS_NS, "note"))
        for body in ("request via adhoc", "second one"):
            await bob.expect_stanza(is_chat("mallory@localhost", body), f"released '{body}'")

        # The settings form: a new question, saved and in effect.
        started = await bob.iq("set", f"<command xmlns='{COMMANDS_NS}' node='{NS}#configure' action='execute'/>",
                               to="localhost")
        command = started.xml.find(q(COMMANDS_NS, "command"))
        fields = {f.get("var"): f for f in command.iter(q(DATA_NS, "field"))}
        assert fields["question"].findtext(q(DATA_NS, "value")) == QUESTION
        done = await bob.iq("set", submit_form(f"{NS}#configure", command.get("sessionid"), {
            "enabled": ["1"], "strangers": ["challenge"], "question": ["Which animal barks?"],
            "good": ["dog"], "wrong": ["cat", "fish"], "min-answer-seconds": ["0"], "max-tries": ["3"],
            "long-interval-minutes": ["10"]}), to="localhost")
        assert done.xml.find(q(COMMANDS_NS, "command")).get("status") == "completed"
        got = await bob.iq("get", f"<query xmlns='{PRIVACY_NS}'><challenge xmlns='{NS}'/></query>")
        assert got.xml.find(f"{q(PRIVACY_NS, 'query')}/{q(NS, 'challenge')}").findtext(q(NS, "question")) == \
            "Which animal barks?"
        # A submission that makes no sense is refused, and a stale session is refused.
        started = await bob.iq("set", f"<command xmlns='{COMMANDS_NS}' node='{NS}#configure' action='execute'/>",
                               to="localhost")
        session = started.xml.find(q(COMMANDS_NS, "command")).get("sessionid")
        bad = await bob.iq("set", submit_form(f"{NS}#configure", session, {"question": ["q"], "good": ["a"]}),
                           to="localhost")
        assert bad["type"] == "error" and bad["error"]["condition"] == "bad-request"
        stale = await bob.iq("set", submit_form(f"{NS}#configure", session, {"question": ["q"]}), to="localhost")
        assert stale["type"] == "error" and stale.xml.find(f".//{q(COMMANDS_NS, 'bad-sessionid')}") is not None

    xmpp.run(scenario())
