"""XEP-0198 stream management against a real hushd: acks both ways, resumption after the TCP connection is cut
with messages in flight (a raw client, to control exactly what was read and acknowledged, and slixmpp, a real
client library), and what happens when the resumption window passes (the messages go to offline storage).

Cutting means what a phone losing its network does to the server: no </stream:stream>, a TCP reset.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from conftest import TIMEOUT
from xmpp_raw import CLIENT_NS, STANZAS_ERR_NS, STREAM_NS, RawStream, q, stream_error_condition

SM_NS = "urn:xmpp:sm:3"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}


def add_users(server, *names: str) -> None:
    for name in names:
        server.adduser(f"{name}@localhost", PASSWORDS[name])


def sm(name: str) -> str:
    return q(SM_NS, name)


def raw_alice(server, resource: str = "phone") -> RawStream:
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    features = s.authenticate("alice", PASSWORDS["alice"])
    assert features.find(sm("sm")) is not None, ET.tostring(features)
    assert s.bind(resource) == f"alice@localhost/{resource}"
    return s


def enable(s: RawStream, resume: bool = True, max_seconds: int | None = None) -> ET.Element:
    attrs = " resume='true'" if resume else ""
    if max_seconds is not None:
        attrs += f" max='{max_seconds}'"
    s.send(f"<enable xmlns='{SM_NS}'{attrs}/>")
    return s.read_until(sm("enabled"))


def bodies_until_ack_request(s: RawStream, count: int) -> list[str]:
    """Read `count` messages (skipping the server's <r/> requests); return their bodies in order."""
    out = []
    while len(out) < count:
        e = s.read_element()
        if e.tag == q(CLIENT_NS, "message"):
            out.append(e.findtext(q(CLIENT_NS, "body")))
    return out


def send_from_bob(server, bodies: list[str], to: str = "alice@localhost/phone") -> None:
    """bob (a raw client: one connection, messages in this order) writes each body to `to`, then leaves cleanly
    after the server has handled them all (his ping's answer comes after them)."""
    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob:
        bob.login("bob", PASSWORDS["bob"], resource="desk")
        for i, body in enumerate(bodies):
            bob.send(f"<message to='{to}' type='chat' id='b{i}'><body>{body}</body></message>")
        bob.send("<iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = bob.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "done" and reply.get("type") == "result"
        bob.send("</stream:stream>")


def test_acks_both_ways_and_a_count_too_high(hush):
    """<r/> is answered with the stanzas handled; the server asks after ack_after_stanzas stanzas; an <a/> claiming
    more than was sent ends the stream with <handled-count-too-high/> (XEP-0198 §4)."""
    server = hush(stream_management={"ack_after_stanzas": 3})
    add_users(server, "alice", "bob")
    with raw_alice(server) as alice:
        s = alice
        s.send(f"<r xmlns='{SM_NS}'/>")  # before enabling: nothing to answer, and no harm
        s.send("<iq type='get' id='p0'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert s.read_until(q(CLIENT_NS, "iq")).get("id") == "p0"
        enabled = enable(s, resume=False)
        assert enabled.get("id") is None and enabled.get("resume") is None
        s.send(f"<enable xmlns='{SM_NS}'/>")  # twice: refused
        assert s.read_element().find(q(STANZAS_ERR_NS, "unexpected-request")) is not None
        s.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert s.read_until(q(CLIENT_NS, "iq")).get("id") == "p1"
        s.send(f"<r xmlns='{SM_NS}'/>")
        assert s.read_until(sm("a")).get("h") == "1"  # the ping; nothing before <enable/> counts

        send_from_bob(server, ["one", "two", "three"])
        # The iq result and the three messages: four sent, and the server asked once three were unacknowledged.
        seen = []
        while sm("r") not in seen:
            seen.append(s.read_element().tag)
        assert seen.count(q(CLIENT_NS, "message")) >= 2
        s.send(f"<a xmlns='{SM_NS}' h='99'/>")
        error = s.read_until(q(STREAM_NS, "error"))
        assert stream_error_condition(error) == "undefined-condition"
        too_high = error.find(sm("handled-count-too-high"))
        assert too_high is not None and too_high.get("h") == "99"
        assert too_high.get("send-count") in {"2", "3", "4"}


def test_resume_after_a_cut_delivers_every_message_once_in_order(hush):
    """alice's phone enables resumption, reads three messages and acknowledges one; the connection is cut; two
    more arrive while she is away. She resumes on a new connection, saying she handled one: the server says how
    many of hers it handled, sends the four she had not acknowledged in order, exactly once, and the session goes
    on — nobody saw her go offline."""
    server = hush()
    add_users(server, "alice", "bob")
    alice = raw_alice(server)
    enabled = enable(alice)
    previd = enabled.get("id")
    assert enabled.get("resume") == "true" and previd and len(previd) >= 16
    assert int(enabled.get("max")) == 300
    alice.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert alice.read_until(q(CLIENT_NS, "iq")).get("id") == "p1"  # stanza 1 sent to her

    send_from_bob(server, ["m1", "m2", "m3"])
    assert bodies_until_ack_request(alice, 3) == ["m1", "m2", "m3"]
    alice.send(f"<a xmlns='{SM_NS}' h='2'/>")  # the ping result and m1
    alice.cut()
    asyncio.run(server.wait_log("connection lost; the session waits 300 s to be resumed"))
    send_from_bob(server, ["m4", "m5"])

    with RawStream.connect("127.0.0.1", server.port("c2s")) as again:
        features = again.authenticate("alice", PASSWORDS["alice"])
        assert features.find(sm("sm")) is not None
        again.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='2'/>")
        resumed = again.read_element()
        assert resumed.tag == sm("resumed"), ET.tostring(resumed)
        assert resumed.get("previd") == previd
        assert resumed.get("h") == "1"  # her ping
        # Everything she had not acknowledged, in order, and nothing twice: her ping's answer comes after them.
        again.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
        bodies = []
        while True:
            e = again.read_element()
            if e.tag == q(CLIENT_NS, "message"):
                bodies.append(e.findtext(q(CLIENT_NS, "body")))
                assert e.get("to") == "alice@localhost/phone"
            elif e.tag == q(CLIENT_NS, "iq") and e.get("id") == "p2":
                break
        assert bodies == ["m2", "m3", "m4", "m5"]
        # The session goes on under the same resource, counting on.
        send_from_bob(server, ["m6"])
        assert bodies_until_ack_request(again, 1) == ["m6"]
        again.send(f"<r xmlns='{SM_NS}'/>")
        assert again.read_until(sm("a")).get("h") == "2"  # both pings
    log = server.stderr_text()
    assert "resumed alice@localhost/phone" in log and "the session ends" not in log


def test_resume_of_a_live_connection_and_of_another_accounts_id(hush):
    """The client may come back before the server noticed the old connection died: the new one takes the session
    over and the old one is dropped. bob cannot resume alice's session: the answer is the one an unknown id
    gets."""
    server = hush()
    add_users(server, "alice", "bob")
    old = raw_alice(server)
    previd = enable(old).get("id")
    send_from_bob(server, ["before"])
    assert bodies_until_ack_request(old, 1) == ["before"]

    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob:
        bob.authenticate("bob", PASSWORDS["bob"])
        bob.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
        failed_other = bob.read_element()
        bob.send(f"<resume xmlns='{SM_NS}' previd='0123456789abcdef0123456789abcdef' h='0'/>")
        failed_unknown = bob.read_element()
        assert ET.tostring(failed_other) == ET.tostring(failed_unknown)
        assert failed_other.tag == sm("failed")
        assert failed_other.find(q(STANZAS_ERR_NS, "item-not-found")) is not None

    with RawStream.connect("127.0.0.1", server.port("c2s")) as again:
        again.authenticate("alice", PASSWORDS["alice"])
        again.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
        resumed = again.read_element()
        assert resumed.tag == sm("resumed"), ET.tostring(resumed)
        assert bodies_until_ack_request(again, 1) == ["before"]  # never acknowledged: sent again
        old.wait_closed()  # the connection she left is dropped
        send_from_bob(server, ["after"])
        assert bodies_until_ack_request(again, 1) == ["after"]
    old.close()


def test_window_passes_messages_go_offline_and_contacts_see_her_leave(hush, xmpp, storage_backend):
    """Nobody resumes within the window: the session ends as a session ends — bob, who had her directed presence,
    gets her unavailable then and not at the cut — and the messages she never acknowledged are in offline storage
    for her next login (SQLite and PostgreSQL). A late <resume/> fails with the count the server had."""
    server = hush(storage=storage_backend, stream_management={"resume_timeout": 30})
    add_users(server, "alice", "bob")

    async def scenario():
        bob = xmpp.client("bob@localhost/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        alice = await asyncio.to_thread(raw_alice, server)
        previd = (await asyncio.to_thread(enable, alice, True, 2)).get("id")  # she asks for 2 s, not 30
        alice.send("<presence/><presence to='bob@localhost/desk'/>")  # available, and to bob directly
        await bob.expect_stanza(lambda s: s.name == "presence" and s["from"].full == "alice@localhost/phone"
                                and s["type"] == "available", "alice's directed presence")
        bob.send_message("alice@localhost/phone", "while you sleep 1")
        bob.send_message("alice@localhost/phone", "while you sleep 2")
        assert await asyncio.to_thread(bodies_until_ack_request, alice, 2) == ["while you sleep 1",
                                                                              "while you sleep 2"]
        await asyncio.to_thread(alice.cut)
        await server.wait_log("connection lost; the session waits 2 s to be resumed")
        unavailable = await bob.expect_stanza(lambda s: s.name == "presence" and s["type"] == "unavailable",
                                              "alice's unavailable presence", timeout=TIMEOUT)
        assert unavailable["from"].full == "alice@localhost/phone"
        assert server.stderr_text().count("not resumed within 2 s") == 1  # and not before the window passed

        def late_resume():
            with RawStream.connect("127.0.0.1", server.port("c2s")) as late:
                late.authenticate("alice", PASSWORDS["alice"])
                late.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
                return late.read_element()

        failed = await asyncio.to_thread(late_resume)
        assert failed.tag == sm("failed") and failed.get("h") == "2"  # her two presences
        assert failed.find(q(STANZAS_ERR_NS, "item-not-found")) is not None

        alice_again = xmpp.client("alice@localhost/laptop", PASSWORDS["alice"])
        await alice_again.connect(server.port("c2s"))
        got = [await alice_again.next_message(), await alice_again.next_message()]
        assert [m["body"] for m in got] == ["while you sleep 1", "while you sleep 2"]
        assert all(m.xml.find("{urn:xmpp:delay}delay") is not None for m in got)  # from offline storage
        # XEP-0313: archived once, when first delivered; the offline copies carry the same stanza-ids.
        from test_mam import mam, stanza_ids
        ids = [stanza_ids(m, "alice@localhost") for m in got]
        page = await mam(alice_again)
        assert page.bodies == ["while you sleep 1", "while you sleep 2"]
        assert ids == [[item["id"]] for item in page.items]
        await alice_again.disconnect()
        await bob.disconnect()

    xmpp.run(scenario())


def test_slixmpp_resumes_after_its_connection_is_cut(hush, xmpp):
    """A real client library: slixmpp with XEP-0198 enables resumption; its TCP connection is aborted while bob
    writes to it; it reconnects and resumes, and has every message exactly once, in order."""
    server = hush()
    add_users(server, "alice", "bob")

    async def scenario():
        alice = xmpp.client("alice@localhost/phone", PASSWORDS["alice"])
        alice.xmpp.register_plugin("xep_0198")
        resumed = asyncio.Event()
        enabled = asyncio.Event()
        alice.xmpp.add_event_handler("session_resumed", lambda _e: resumed.set())
        alice.xmpp.add_event_handler("sm_enabled", lambda _e: enabled.set())
        await alice.connect(server.port("c2s"))
        await asyncio.wait_for(enabled.wait(), TIMEOUT)
        bob = xmpp.client("bob@localhost/desk", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))

        for i in range(5):
            bob.send_message("alice@localhost/phone", f"n{i}")
        first = await alice.next_message()
        assert first["body"] == "n0"
        alice.xmpp.transport.abort()  # what was in flight is lost on her side
        await server.wait_log("connection lost; the session waits")
        for i in range(5, 10):
            bob.send_message("alice@localhost/phone", f"n{i}")
        await bob.ping_server()  # the server handled all ten
        alice.xmpp.connect(address=("127.0.0.1", server.port("c2s")))
        await asyncio.wait_for(resumed.wait(), TIMEOUT)
        bodies = ["n0"]
        while len(bodies) < 10:
            bodies.append((await alice.next_message())["body"])
        assert bodies == [f"n{i}" for i in range(10)]
        await bob.ping_server()
        assert alice.messages.empty()  # nothing twice
        await alice.disconnect()
        await bob.disconnect()

    xmpp.run(scenario())


def test_a_client_that_never_acknowledges_loses_nothing(hush, xmpp):
    """alice's client enables acks and never answers one: past max_unacked the server ends her session
    (<resource-constraint/>) instead of keeping everything, and every message she was sent — the ones written to
    her connection unacknowledged and the ones after — is in offline storage for her next login."""
    server = hush(stream_management={"max_unacked": 10})
    add_users(server, "alice", "bob")
    alice = raw_alice(server)
    enable(alice, resume=False)
    alice.send("<presence/>")  # available: messages to her bare JID come here, not to offline storage
    send_from_bob(server, [f"x{i}" for i in range(12)], to="alice@localhost")
    error = alice.read_until(q(STREAM_NS, "error"))
    assert stream_error_condition(error) == "resource-constraint"
    alice.close()

    async def scenario():
        again = xmpp.client("alice@localhost/laptop", PASSWORDS["alice"])
        await again.connect(server.port("c2s"))
        bodies = sorted([(await again.next_message())["body"] for _ in range(12)], key=lambda b: int(b[1:]))
        assert bodies == [f"x{i}" for i in range(12)]
        await again.disconnect()

    xmpp.run(scenario())


def test_a_detached_session_that_fills_up_ends_and_loses_nothing(hush, xmpp):
    """alice's phone drops its connection; more messages arrive for her than a waiting session keeps
    (max_unacked): the session ends at once instead of waiting, and every message — the kept ones and the one
    that did not fit — is in offline storage for her next login."""
    server = hush(stream_management={"max_unacked": 10})
    add_users(server, "alice", "bob")
    alice = raw_alice(server)
    enable(alice)
    alice.cut()
    asyncio.run(server.wait_log("connection lost; the session waits"))
    send_from_bob(server, [f"y{i}" for i in range(12)])
    asyncio.run(server.wait_log("over 10 unacknowledged stanzas while detached: the session ends"))

    async def scenario():
        again = xmpp.client("alice@localhost/laptop", PASSWORDS["alice"])
        await again.connect(server.port("c2s"))
        bodies = sorted([(await again.next_message())["body"] for _ in range(12)], key=lambda b: int(b[1:]))
        assert bodies == [f"y{i}" for i in range(12)]
        await again.disconnect()

    xmpp.run(scenario())
