"""The security limits of a real hushd, seen from raw sockets: connections per IP, failed logins per connection,
negotiation and idle deadlines, and a reader too slow for its outbox. Each limit closes only the offending stream."""

from __future__ import annotations

import socket
import time

from test_c2s import PASSWORDS, add_users
from xmpp_raw import CLIENT_NS, SASL_NS, RawStream, q, stream_error_condition


def ping(s: RawStream, ident: str) -> None:
    """A server ping round trip: proves the stream is alive and orders everything before it."""
    s.send(f"<iq type='get' id='{ident}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    reply = s.read_until(q(CLIENT_NS, "iq"))
    assert reply.get("id") == ident and reply.get("type") == "result", s.received_text()


def test_connections_per_ip_are_limited(hush):
    server = hush(limits={"max_connections_per_ip": 2})
    port = server.port("c2s")
    first = RawStream.connect("127.0.0.1", port)
    second = RawStream.connect("127.0.0.1", port)
    first.open_stream()
    second.open_stream()
    with RawStream.connect("127.0.0.1", port) as third:
        error = third.read_element()
        assert stream_error_condition(error) == "policy-violation", third.received_text()
        third.wait_closed()
    # The admitted ones are untouched; once one leaves, a newcomer is admitted again.
    first.features()
    second.close()
    deadline = time.monotonic() + 10
    while True:
        with RawStream.connect("127.0.0.1", port) as again:
            again.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
            element = again.read_element()
            if stream_error_condition(element) is None:
                break  # features: admitted
            assert stream_error_condition(element) == "policy-violation", again.received_text()
        assert time.monotonic() < deadline, "the released slot was never given back"
    first.close()


def test_failed_logins_close_the_stream(hush):
    server = hush(limits={"auth_failures_per_connection": 2, "auth_failures_before_delay": 100})
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.secure()
        first = s.auth_plain("alice", "wrong-1")
        assert first.tag == q(SASL_NS, "failure") and first.find(q(SASL_NS, "not-authorized")) is not None
        second = s.auth_plain("alice", "wrong-2")
        assert second.tag == q(SASL_NS, "failure"), s.received_text()
        error = s.read_element()
        assert stream_error_condition(error) == "policy-violation", s.received_text()
        s.wait_closed()
    # The account itself is fine.
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        assert s.login("alice", PASSWORDS["alice"]) == "alice@localhost/raw"


def test_repeated_failures_from_one_address_are_slowed_down(hush):
    server = hush(limits={"auth_failures_per_connection": 10, "auth_failures_before_delay": 1})
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.secure()
        started = time.monotonic()
        s.auth_plain("alice", "wrong-1")  # free
        free = time.monotonic() - started
        started = time.monotonic()
        answer = s.auth_plain("alice", "wrong-2")  # the first slowed one: one second
        slowed = time.monotonic() - started
        assert answer.tag == q(SASL_NS, "failure"), s.received_text()
        assert slowed >= 0.9 > free, (free, slowed)


def test_negotiation_deadline(hush):
    server = hush(limits={"handshake_timeout": 1})
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream()
        s.features()
        error = s.read_element(timeout=10)  # nothing more sent: the server gives up
        assert stream_error_condition(error) == "connection-timeout", s.received_text()
        s.wait_closed()


def test_idle_deadline_and_keepalives(hush):
    server = hush(limits={"idle_timeout": 2})
    add_users(server, "alice", "bob")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as idle, \
            RawStream.connect("127.0.0.1", server.port("c2s")) as lively:
        idle.login("alice", PASSWORDS["alice"])
        lively.login("bob", PASSWORDS["bob"])
        error = idle.read_element(timeout=10)
        assert stream_error_condition(error) == "connection-timeout", idle.received_text()
        idle.wait_closed()
        # Whitespace keepalives count as traffic: a stream sending them outlives the deadline several times.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lively.send(" ")
            try:
                lively.read_element(timeout=0.5)
            except TimeoutError:
                continue
            raise AssertionError(f"unexpected element on a live stream: {lively.received_text()!r}")
        ping(lively, "still-here")


def test_slow_reader_is_closed_without_harming_the_sender(hush):
    """A client that never reads makes its outbox grow; past max_outbox_bytes its stream is closed with
    <resource-constraint/>, and the sender's stream keeps working."""
    server = hush(limits={"max_outbox_bytes": 65536})
    add_users(server, "alice", "bob")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob, \
            RawStream.connect("127.0.0.1", server.port("c2s")) as alice:
        bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        bob.login("bob", PASSWORDS["bob"], resource="slow")
        alice.login("alice", PASSWORDS["alice"])
        body = "x" * 60000
        sent = 0
        # Far more than the kernel buffers plus the outbox limit hold; bob reads nothing meanwhile.
        while sent < 400:
            alice.send(f"<message to='bob@localhost/slow' type='chat'><body>{body}</body></message>")
            sent += 1
            if sent % 50 == 0:
                ping(alice, f"p{sent}")  # the sender is never slowed down by the slow reader
        deadline = time.monotonic() + 15
        while "outbox over" not in server.stderr_text():
            assert time.monotonic() < deadline, "the slow reader's stream was never closed"
            ping(alice, "wait")
        assert "stream error resource-constraint" in server.stderr_text()
        # bob's session is gone from the router: an iq to its full JID now bounces.
        alice.send("<iq type='get' id='probe-bob' to='bob@localhost/slow'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = alice.read_until(q(CLIENT_NS, "iq"))
        deadline = time.monotonic() + 15
        while reply.get("id") != "probe-bob" or reply.get("type") != "error":
            assert time.monotonic() < deadline, alice.received_text()[-2000:]
            alice.send("<iq type='get' id='probe-bob' to='bob@localhost/slow'><ping xmlns='urn:xmpp:ping'/></iq>")
            reply = alice.read_until(q(CLIENT_NS, "iq"))
        assert reply.find(f"{q(CLIENT_NS, 'error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}service-unavailable") \
            is not None, alice.received_text()[-2000:]
        ping(alice, "after")
