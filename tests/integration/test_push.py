"""XEP-0357 push notifications against a real hushd. The app server is a stand-in: a slixmpp client logged in as
pushbot@localhost/app records the pubsub publishes that reach it (an app server is any XMPP entity the client names;
a real one is a component of the client vendor's, reached over S2S the same way).
"""

from __future__ import annotations

import asyncio

from xmpp_raw import CLIENT_NS, RawStream, q

PUSH_NS = "urn:xmpp:push:0"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
DATA_NS = "jabber:x:data"
SM_NS = "urn:xmpp:sm:3"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "pushbot": "pushbot-secret-3"}
APP_SERVER = "pushbot@localhost/app"


def add_users(server, *names: str) -> None:
    for name in names:
        server.adduser(f"{name}@localhost", PASSWORDS[name])


def enable_payload(node: str, secret: str = "eruio234vzxc2kla-91") -> str:
    return (f"<enable xmlns='{PUSH_NS}' jid='{APP_SERVER}' node='{node}'>"
            f"<x xmlns='{DATA_NS}' type='submit'>"
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            f"<field var='secret'><value>{secret}</value></field></x></enable>")


def is_push(st) -> bool:
    return st.xml.tag == q(CLIENT_NS, "iq") and st.xml.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}publish") is not None


def fields(st) -> dict[str, str]:
    form = st.xml.find(f".//{{{PUSH_NS}}}notification/{{{DATA_NS}}}x")
    return {f.get("var"): f.findtext(f"{{{DATA_NS}}}value") for f in form.findall(f"{{{DATA_NS}}}field")}


def test_an_offline_account_s_app_server_is_told_without_the_message(hush, xmpp, storage_backend):
    """alice's client enables push and leaves. bob writes: the message goes to offline storage and alice's app
    server gets a summary-only notification (count, no sender, no body) with her client's secret. After she
    disables that node and enables another, the next message is announced on the new node only."""
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "pushbot")

    async def scenario():
        app = xmpp.client(APP_SERVER, PASSWORDS["pushbot"])
        await app.connect(server.port("c2s"))
        alice = xmpp.client("alice@localhost/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        info = await alice.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to="alice@localhost")
        assert PUSH_NS in [f.get("var") for f in info.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
        answer = await alice.iq("set", enable_payload("n1"))
        assert answer["type"] == "result", str(answer)
        await alice.disconnect()
        await server.wait_log("presence: last activity of alice@localhost recorded")

        bob = xmpp.client("bob@localhost/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message("alice@localhost", "meet at noon?")
        push = await app.expect_stanza(is_push, "a push notification")
        assert push["from"].full == "alice@localhost" and push["type"] == "set"
        assert push.xml.find(f".//{{{PUBSUB_NS}}}publish").get("node") == "n1"
        assert fields(push) == {"FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1"}
        assert "meet at noon" not in str(push) and "bob" not in str(push)
        options = push.xml.find(f".//{{{PUBSUB_NS}}}publish-options/{{{DATA_NS}}}x")
        assert {f.get("var"): f.findtext(f"{{{DATA_NS}}}value") for f in options}["secret"] == "eruio234vzxc2kla-91"

        alice = xmpp.client("alice@localhost/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        assert (await alice.next_message())["body"] == "meet at noon?"  # woken, she finds it waiting
        answer = await alice.iq("set", f"<disable xmlns='{PUSH_NS}' jid='{APP_SERVER}' node='n1'/>")
        assert answer["type"] == "result", str(answer)
        answer = await alice.iq("set", enable_payload("n2", "other-secret"))
        assert answer["type"] == "result", str(answer)
        await alice.disconnect()
        await server.wait_log_count("presence: last activity of alice@localhost recorded", 2)
        bob.send_message("alice@localhost", "still on?")
        push = await app.expect_stanza(is_push, "the second push notification")
        assert push.xml.find(f".//{{{PUBSUB_NS}}}publish").get("node") == "n2"  # the first thing after: n1 is off
        await bob.disconnect()
        await app.disconnect()

    xmpp.run(scenario())


def test_a_session_waiting_to_be_resumed_wakes_the_phone(hush, xmpp):
    """A phone whose connection dropped (XEP-0198, resumable) gets a push for a message kept for it, then resumes
    and finds the message — the push is what makes it reconnect."""
    server = hush()
    add_users(server, "alice", "bob", "pushbot")

    async def scenario():
        app = xmpp.client(APP_SERVER, PASSWORDS["pushbot"])
        await app.connect(server.port("c2s"))

        def phone():
            s = RawStream.connect("127.0.0.1", server.port("c2s"))
            s.login("alice", PASSWORDS["alice"], resource="phone")
            s.send(f"<iq type='set' id='push1'>{enable_payload('n1')}</iq>")
            assert s.read_until(q(CLIENT_NS, "iq")).get("type") == "result"
            s.send(f"<enable xmlns='{SM_NS}' resume='true'/>")
            previd = s.read_until(f"{{{SM_NS}}}enabled").get("id")
            s.cut()
            return previd

        previd = await asyncio.to_thread(phone)
        await server.wait_log("connection lost; the session waits")
        bob = xmpp.client("bob@localhost/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message("alice@localhost/phone", "wake up")
        push = await app.expect_stanza(is_push, "a push notification")
        assert push.xml.find(f".//{{{PUBSUB_NS}}}publish").get("node") == "n1"

        def resume():
            with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
                s.authenticate("alice", PASSWORDS["alice"])
                s.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
                assert s.read_element().tag == f"{{{SM_NS}}}resumed"
                message = s.read_until(q(CLIENT_NS, "message"))
                return message.findtext(q(CLIENT_NS, "body"))

        assert await asyncio.to_thread(resume) == "wake up"
        await bob.disconnect()
        await app.disconnect()

    xmpp.run(scenario())
