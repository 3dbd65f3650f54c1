"""XEP-0357 push notifications against a real hushd. The app server is a stand-in service, push.test, reached over
S2S as a real one (a vendor's component) would be (push_app_server.py): it records the pubsub publishes that reach
it and answers them when and how a test says. Nothing but a service may be an app server: an enable naming a
user's JID is refused.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from federation import test_ca  # noqa: F401  (a fixture)
from push_app_server import DOMAIN as APP_SERVER, SERVER_NS, AppServer
from xmpp_raw import CLIENT_NS, RawStream, q

PUSH_NS = "urn:xmpp:push:0"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
DATA_NS = "jabber:x:data"
SM_NS = "urn:xmpp:sm:3"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
HOST = "a.test"
ITEM_NOT_FOUND = f"<error type='cancel'><item-not-found xmlns='{STANZAS_NS}'/></error>"


def enable_payload(node: str, secret: str = "eruio234vzxc2kla-91", service: str = APP_SERVER) -> str:
    return (f"<enable xmlns='{PUSH_NS}' jid='{service}' node='{node}'>"
            f"<x xmlns='{DATA_NS}' type='submit'>"
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            f"<field var='secret'><value>{secret}</value></field></x></enable>")


def publish_node(push) -> str:
    assert push.tag == q(SERVER_NS, "iq") and push.get("type") == "set", push
    return push.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}publish").get("node")


def fields(push) -> dict[str, str]:
    form = push.find(f".//{{{PUSH_NS}}}notification/{{{DATA_NS}}}x")
    return {f.get("var"): f.findtext(f"{{{DATA_NS}}}value") for f in form.findall(f"{{{DATA_NS}}}field")}


def condition(answer) -> str | None:
    error = answer.xml.find(f"{{{CLIENT_NS}}}error")
    if error is None:
        return None
    return next((c.tag.split("}", 1)[1] for c in error if c.tag.startswith(f"{{{STANZAS_NS}}}")
                 and not c.tag.endswith("}text")), None)


@pytest.fixture
def app(tmp_path, test_ca):  # noqa: F811
    server = AppServer(tmp_path, test_ca).start()
    yield server
    server.close()


def start(hush, app, storage: str = "sqlite"):
    server = hush(storage=storage, **app.hush_sections(HOST))
    for name, password in PASSWORDS.items():
        server.adduser(f"{name}@{HOST}", password)
    return server


async def enable_and_leave(xmpp, server, *nodes: str, count: int = 1) -> None:
    """alice's phone enables push on `nodes` and disconnects (the `count`th time she leaves in this test)."""
    alice = xmpp.client(f"alice@{HOST}/phone", PASSWORDS["alice"])
    await alice.connect(server.port("c2s"))
    for node in nodes:
        answer = await alice.iq("set", enable_payload(node))
        assert answer["type"] == "result", str(answer)
    await alice.disconnect()
    await server.wait_log_count(f"presence: last activity of alice@{HOST} recorded", count)


def test_an_offline_account_s_app_server_is_told_without_the_message(hush, xmpp, app, storage_backend):
    """alice's client enables push and leaves. bob writes: the message goes to offline storage and alice's app
    server gets a summary-only notification (count, no sender, no body) with her client's secret. After she
    disables that node and enables another, the next message is announced on the new node only."""
    server = start(hush, app, storage_backend)

    async def scenario():
        alice = xmpp.client(f"alice@{HOST}/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        info = await alice.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=f"alice@{HOST}")
        assert PUSH_NS in [f.get("var") for f in info.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
        answer = await alice.iq("set", enable_payload("n1"))
        assert answer["type"] == "result", str(answer)
        await alice.disconnect()
        await server.wait_log(f"presence: last activity of alice@{HOST} recorded")

        bob = xmpp.client(f"bob@{HOST}/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message(f"alice@{HOST}", "meet at noon?")
        push = await asyncio.to_thread(app.next_stanza)
        assert (push.get("from"), push.get("to"), publish_node(push)) == (f"alice@{HOST}", APP_SERVER, "n1")
        assert fields(push) == {"FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1"}
        text = ET.tostring(push, encoding="unicode")
        assert "meet at noon" not in text and "bob" not in text
        options = push.find(f".//{{{PUBSUB_NS}}}publish-options/{{{DATA_NS}}}x")
        assert {f.get("var"): f.findtext(f"{{{DATA_NS}}}value") for f in options}["secret"] == "eruio234vzxc2kla-91"
        await asyncio.to_thread(app.answer, server.port("s2s"), HOST, push)

        alice = xmpp.client(f"alice@{HOST}/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        assert (await alice.next_message())["body"] == "meet at noon?"  # woken, she finds it waiting
        answer = await alice.iq("set", f"<disable xmlns='{PUSH_NS}' jid='{APP_SERVER}' node='n1'/>")
        assert answer["type"] == "result", str(answer)
        answer = await alice.iq("set", enable_payload("n2", "other-secret"))
        assert answer["type"] == "result", str(answer)
        await alice.disconnect()
        await server.wait_log_count(f"presence: last activity of alice@{HOST} recorded", 2)
        bob.send_message(f"alice@{HOST}", "still on?")
        push = await asyncio.to_thread(app.next_stanza)
        assert publish_node(push) == "n2"  # the first thing after: n1 is off
        await bob.disconnect()

    xmpp.run(scenario())


def test_an_app_server_must_be_a_service_and_only_the_account_enables(hush, xmpp, app):
    """An enable naming a user's JID — a local account, a remote one, this server — is refused with
    <not-acceptable/>, and nothing is kept: bob, online, never gets an iq set for alice's offline message. Someone
    else's enable or disable gets <service-unavailable/>, whether the account exists or not."""
    server = start(hush, app)

    async def scenario():
        bob = xmpp.client(f"bob@{HOST}/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        alice = xmpp.client(f"alice@{HOST}/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        for service in (f"bob@{HOST}", f"bob@{HOST}/desk", "stranger@elsewhere.test", HOST):
            answer = await alice.iq("set", enable_payload("n1", service=service))
            assert (answer["type"], condition(answer)) == ("error", "not-acceptable"), str(answer)
        answer = await alice.iq("set", enable_payload("n" * 1025))  # the node is sent back with every notification
        assert (answer["type"], condition(answer)) == ("error", "not-acceptable"), str(answer)

        for account in (f"alice@{HOST}", f"nobody@{HOST}"):
            for payload in (enable_payload("spy"), f"<disable xmlns='{PUSH_NS}' jid='{APP_SERVER}'/>"):
                answer = await bob.iq("set", payload, to=account)
                assert (answer["type"], condition(answer)) == ("error", "service-unavailable"), (account, str(answer))

        await alice.disconnect()
        await server.wait_log(f"presence: last activity of alice@{HOST} recorded")
        bob.send_message(f"alice@{HOST}", "anyone?")
        await server.wait_log(f"offline: a message for alice@{HOST} stored")  # after the push service was asked
        alice = xmpp.client(f"alice@{HOST}/phone", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        assert (await alice.next_message())["body"] == "anyone?"
        await bob.ping_server()
        # Stored, and no notification went anywhere: bob has no iq set, push.test no stanza.
        assert not bob.received_matching(lambda st: st.xml.tag == q(CLIENT_NS, "iq") and st["type"] == "set")
        assert "push: notified" not in server.stderr_text()
        assert app.received_nothing_more()
        await alice.disconnect()
        await bob.disconnect()

    xmpp.run(scenario())


def test_an_app_server_s_error_disables_the_registration(hush, xmpp, app, storage_backend):
    """XEP-0357 §8: the app server answers a notification with <item-not-found/> — the registration is gone, and
    the next offline message notifies only alice's other registration. A 'wait' error would keep it."""
    server = start(hush, app, storage_backend)

    async def scenario():
        await enable_and_leave(xmpp, server, "gone", "kept")
        bob = xmpp.client(f"bob@{HOST}/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message(f"alice@{HOST}", "one")
        first = [await asyncio.to_thread(app.next_stanza) for _ in range(2)]
        assert [publish_node(p) for p in first] == ["gone", "kept"]
        await asyncio.to_thread(app.answer, server.port("s2s"), HOST, first[0], ITEM_NOT_FOUND)
        await asyncio.to_thread(app.answer, server.port("s2s"), HOST, first[1])
        await server.wait_log(f"push: alice@{HOST} disabled {APP_SERVER} node gone")
        await server.wait_log(f"push: {APP_SERVER} answered the notification of alice@{HOST} on node kept")

        bob.send_message(f"alice@{HOST}", "two")
        # Both would go out together, "gone" first, on the one stream: the next one is "kept", so "gone" was not sent.
        assert publish_node(await asyncio.to_thread(app.next_stanza)) == "kept"
        await bob.disconnect()

    xmpp.run(scenario())


def test_a_burst_of_offline_messages_sends_one_notification_while_it_is_unanswered(hush, xmpp, app):
    """Five messages while the app server has not answered the first notification: one notification. Once it
    answers, the next message notifies again."""
    server = start(hush, app)

    async def scenario():
        await enable_and_leave(xmpp, server, "n1")
        bob = xmpp.client(f"bob@{HOST}/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        for i in range(5):
            bob.send_message(f"alice@{HOST}", f"burst {i}")
        first = await asyncio.to_thread(app.next_stanza)
        assert publish_node(first) == "n1"
        await server.wait_log_count(f"push: notified 0 app server(s) of alice@{HOST}, 1 still unanswered", 4)
        assert server.stderr_text().count(f"push: notified 1 app server(s) of alice@{HOST}") == 1
        await asyncio.to_thread(app.answer, server.port("s2s"), HOST, first)
        await server.wait_log(f"push: {APP_SERVER} answered the notification of alice@{HOST} on node n1")

        bob.send_message(f"alice@{HOST}", "after the answer")
        second = await asyncio.to_thread(app.next_stanza)  # the second notification, nothing in between
        assert publish_node(second) == "n1" and second.get("id") != first.get("id")
        await bob.disconnect()

    xmpp.run(scenario())


def test_a_session_waiting_to_be_resumed_wakes_the_phone(hush, xmpp, app):
    """A phone whose connection dropped (XEP-0198, resumable) gets a push for a message kept for it, then resumes
    and finds the message — the push is what makes it reconnect."""
    server = start(hush, app)

    async def scenario():
        def phone():
            s = RawStream.connect("127.0.0.1", server.port("c2s"))
            s.login("alice", PASSWORDS["alice"], domain=HOST, resource="phone")
            s.send(f"<iq type='set' id='push1'>{enable_payload('n1')}</iq>")
            assert s.read_until(q(CLIENT_NS, "iq")).get("type") == "result"
            s.send(f"<enable xmlns='{SM_NS}' resume='true'/>")
            previd = s.read_until(f"{{{SM_NS}}}enabled").get("id")
            s.cut()
            return previd

        previd = await asyncio.to_thread(phone)
        await server.wait_log("connection lost; the session waits")
        bob = xmpp.client(f"bob@{HOST}/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message(f"alice@{HOST}/phone", "wake up")
        push = await asyncio.to_thread(app.next_stanza)
        assert publish_node(push) == "n1"

        def resume():
            with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
                s.authenticate("alice", PASSWORDS["alice"], domain=HOST)
                s.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
                assert s.read_element().tag == f"{{{SM_NS}}}resumed"
                message = s.read_until(q(CLIENT_NS, "message"))
                return message.findtext(q(CLIENT_NS, "body"))

        assert await asyncio.to_thread(resume) == "wake up"
        await bob.disconnect()

    xmpp.run(scenario())
