"""XMPP over WebSocket (RFC 7395) and XEP-0156 discovery against a real hushd, from a raw WebSocket client
(ws_client.py, on Debian's python3-websockets) and slixmpp users on TCP: a login over wss:// on the https listener
with messages and presence both ways; SASL2, channel binding, stream management resumed on a new WebSocket; the
framing of every server message (each parsed on its own) and its edge cases; the close handshake; every stream
error a bad message earns; the refusal of an insecure ws:// session and the trusted proxy that makes one secure;
Origin, subprotocol, per-IP, failed-login, negotiation and idle deadlines and size limits; host-meta on both
listeners; the anti-SPIM challenge with the stranger, then the receiver, on WebSocket; and the https listener's
certificate reloaded on SIGHUP."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import websockets.exceptions

import ws_client

from test_antispim import (DELAY_NS, NS as ANTISPIM_NS, QUESTION, answer_number, challenge_of, challenge_settings,
                           client as antispim_client, is_approval, is_captcha_form, is_challenge, is_chat)
from test_im import PASSWORDS, befriend, im_client, is_presence, login
from xmpp_client import TIMEOUT
from xmpp_raw import (CLIENT_NS, SASL_NS, STANZAS_ERR_NS, STREAMS_ERR_NS, TLS_NS, RawStream, q,
                      stream_error_condition)
from ws_client import (BIND2_NS, FRAMING_NS, PATH, SASL2_NS, WsSession, b64, check_open, framed,
                       insecure_tls, mechanisms)

XRD_NS = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
CARBONS_NS = "urn:xmpp:carbons:2"
SM_NS = "urn:xmpp:sm:3"
WS_REL = "urn:xmpp:alt-connections:websocket"

C2S = {"kind": "c2s", "address": "127.0.0.1", "port": 0}
HTTP = {"kind": "http", "address": "127.0.0.1", "port": 0}
HTTPS = {"kind": "https", "address": "127.0.0.1", "port": 0}


@pytest.fixture(autouse=True)
def ws_sessions_dropped(hush, xmpp):
    """Every WebSocket a test left open is dropped before its hushd is stopped (a client whose loop no longer runs
    cannot answer the server's closing handshake: hushd would wait its grace period) and its loop closes."""
    yield
    xmpp.loop.run_until_complete(ws_client.abort_all())


def start(hush, *listeners: dict, **sections):
    """hushd with a c2s listener (slixmpp users) and the given web listeners (default: https only)."""
    server = hush(listen=[C2S, *(listeners or (HTTPS,))], **sections)
    for name in ("alice", "bob"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    return server


def wss(server) -> str:
    return f"wss://127.0.0.1:{server.port('https')}{PATH}"


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port('http')}{PATH}"


async def refused_upgrade(url: str, **kwargs) -> int:
    """The HTTP status with which the server refuses the WebSocket upgrade (fails if it is accepted)."""
    try:
        session = await WsSession.connect(url, **kwargs)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await session.abort()
    raise AssertionError(f"the upgrade to {url} with {kwargs} was accepted")


async def opened(url: str, **kwargs) -> WsSession:
    """A WebSocket with the stream opened and the pre-authentication features read."""
    session = await WsSession.connect(url, **kwargs)
    await session.open()
    await session.features()
    return session


# --------------------------------------------------------------------------------------------------------------
# a session over wss://
# --------------------------------------------------------------------------------------------------------------

def test_login_messages_and_presence_over_wss(hush, xmpp):
    """alice in a "browser" (wss://, an Origin header, the default allowed_origins = ["*"]) and bob on TCP are
    contacts: SCRAM-SHA-256, the stream restart, bind, presence both ways and a message each way."""
    server = start(hush)

    async def scenario():
        # Contacts first, made by short-lived TCP resources.
        a, b = im_client(xmpp, "alice@localhost/setup"), im_client(xmpp, "bob@localhost/setup")
        await login(a, server.port("c2s"))
        await login(b, server.port("c2s"))
        await befriend(a, b)
        await a.disconnect()
        await b.disconnect()

        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(bob, server.port("c2s"))

        ws = await WsSession.connect(wss(server), origin="https://webchat.example.net")
        await ws.open()
        features = await ws.features()
        offered = mechanisms(features)
        assert "SCRAM-SHA-256" in offered and "SCRAM-SHA-1" in offered, ws.transcript()
        assert features.find(q(TLS_NS, "starttls")) is None, "STARTTLS offered over WebSocket"
        assert features.find(q(SASL2_NS, "authentication")) is not None, "no SASL2 as on TCP"
        answer = await ws.scram("alice", PASSWORDS["alice"])  # the server's signature is checked too
        assert answer.tag == q(SASL_NS, "success"), ws.transcript()
        check_open(await ws.open(), "localhost")
        features = await ws.features()
        assert features.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None, ws.transcript()
        assert mechanisms(features) == [], "mechanisms offered again after authentication"
        assert await ws.bind("browser") == "alice@localhost/browser"

        # Roster, then initial presence: bob sees alice come online, alice gets bob's presence (the probe).
        await ws.send(f"<iq xmlns='{CLIENT_NS}' type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>")
        roster = await ws.read_until(lambda e: e.get("id") == "roster1", "the roster")
        assert [i.get("jid") for i in roster.iter("{jabber:iq:roster}item")] == ["bob@localhost"]
        await ws.send(f"<presence xmlns='{CLIENT_NS}'/>")
        await bob.expect_stanza(is_presence("alice@localhost/browser"), "alice's presence from the browser")
        bobs = await ws.read_until(lambda e: e.tag == q(CLIENT_NS, "presence")
                                   and e.get("from") == "bob@localhost/laptop", "bob's presence")
        assert bobs.get("type") is None

        # A message each way; the server stamps alice's full JID on hers.
        # The bodies hold what XML escapes and what the framing's own tag scanning must not trip on.
        await ws.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost' type='chat' id='m1'>"
                      f"<body>hello from the browser: tom &amp; jerry &lt;3 'x' \"y\" a&gt;b</body></message>")
        got = await bob.next_message()
        assert got["body"] == "hello from the browser: tom & jerry <3 'x' \"y\" a>b"
        assert got["from"].full == "alice@localhost/browser"
        bob.send_message("alice@localhost/browser", "hello from slixmpp: <open/> </stream:stream> ' \" & <!-- -->")
        message = await ws.read_until(lambda e: e.tag == q(CLIENT_NS, "message")
                                      and e.find(q(CLIENT_NS, "body")) is not None, "bob's message")
        assert message.findtext(q(CLIENT_NS, "body")) == "hello from slixmpp: <open/> </stream:stream> ' \" & <!-- -->"
        assert message.get("from") == "bob@localhost/laptop" and message.get("to") == "alice@localhost/browser"

        # WebSocket pings (control frames) are answered too.
        pong = await ws.conn.ping()
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.ping("still-here")

        # Every message the server sent was one complete element (checked as it arrived: framed()).
        assert len(ws.received) >= 10 and all(framed(m) is not None for m in ws.received)
        assert await ws.close_stream() == 1000
        # Her session is gone: bob sees her leave.
        await bob.expect_stanza(is_presence("alice@localhost/browser", "unavailable"), "alice leaving")

    xmpp.run(scenario())


def test_close_handshake_ends_the_session(hush, xmpp):
    server = start(hush)

    async def scenario():
        ws = await WsSession.connect(wss(server))
        assert await ws.login("alice", PASSWORDS["alice"], resource="tab") == "alice@localhost/tab"
        await ws.send(f"<close xmlns='{FRAMING_NS}'/>")
        closing = await ws.recv()
        assert closing.tag == q(FRAMING_NS, "close") and len(closing) == 0, ws.transcript()
        assert await ws.wait_closed() == 1000
        # The session is gone from the router: an iq to the full JID bounces.
        bob = im_client(xmpp, "bob@localhost/probe")
        await login(bob, server.port("c2s"))
        answer = await bob.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="alice@localhost/tab")
        assert answer["type"] == "error" and answer.xml.find(
            f"{q(CLIENT_NS, 'error')}/{q(STANZAS_ERR_NS, 'service-unavailable')}") is not None, str(answer)

    xmpp.run(scenario())


def test_sasl2_and_bind2_over_websocket(hush, xmpp):
    """SASL2 as on TCP: one exchange to a bound session, no stream restart."""
    server = start(hush)

    async def scenario():
        ws = await WsSession.connect(wss(server))
        await ws.open()
        features = await ws.features()
        auth = features.find(q(SASL2_NS, "authentication"))
        assert auth is not None and "PLAIN" in [m.text for m in auth.findall(q(SASL2_NS, "mechanism"))], \
            ws.transcript()
        await ws.send(f"<authenticate xmlns='{SASL2_NS}' mechanism='PLAIN'><initial-response>"
                      f"{b64(chr(0) + 'alice' + chr(0) + PASSWORDS['alice'])}</initial-response>"
                      f"<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>hush tests</software>"
                      f"</user-agent><bind xmlns='{BIND2_NS}'><tag>Web</tag></bind></authenticate>")
        success = await ws.recv()
        assert success.tag == q(SASL2_NS, "success"), ws.transcript()
        assert success.findtext(q(SASL2_NS, "authorization-identifier")).startswith("alice@localhost/Web.")
        await ws.ping("bound-at-once")

    xmpp.run(scenario())


def test_fragmented_messages_and_nested_stanzas(hush, xmpp):
    """A stanza sent in several WebSocket frames (RFC 6455 continuation frames) is one message; a carbon copy's
    forwarded stanza keeps its own xmlns='jabber:client' inside the framed message."""
    server = start(hush)

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(bob, server.port("c2s"))
        ws = await WsSession.connect(wss(server))
        await ws.login("alice", PASSWORDS["alice"], resource="browser")
        await ws.online()
        await ws.conn.send(iter([f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat'>",
                                 "<body>in three ", "frames</body></message>"]))
        assert (await bob.next_message())["body"] == "in three frames"

        await ws.send(f"<iq xmlns='{CLIENT_NS}' type='set' id='carbons'><enable xmlns='{CARBONS_NS}'/></iq>")
        enabled = await ws.read_until(lambda e: e.get("id") == "carbons", "the carbons answer")
        assert enabled.get("type") == "result", ws.transcript()
        phone = im_client(xmpp, "alice@localhost/phone")
        await login(phone, server.port("c2s"))
        phone.send_message("bob@localhost", "sent from my phone")
        carbon = await ws.read_until(lambda e: e.find(q(CARBONS_NS, "sent")) is not None, "the carbon copy")
        inner = carbon.find(f"{q(CARBONS_NS, 'sent')}/{{urn:xmpp:forward:0}}forwarded/{q(CLIENT_NS, 'message')}")
        assert inner is not None and inner.findtext(q(CLIENT_NS, "body")) == "sent from my phone", ws.transcript()

    xmpp.run(scenario())


def test_framing_edge_cases(hush, xmpp):
    """What a tag scanner could trip on, both ways: CDATA holding tags, '>' and quotes in attribute values, a burst
    of stanzas (one WebSocket message each, in order) and one stanza far bigger than a socket read."""
    server = start(hush)

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(bob, server.port("c2s"))
        ws = await WsSession.connect(wss(server))
        await ws.login("alice", PASSWORDS["alice"], resource="browser")
        await ws.online()

        await ws.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat' id='a&gt;b\"c'>"
                      f"<body><![CDATA[</message> <open/> <close/>]]></body></message>")
        got = await bob.next_message()
        assert got["body"] == "</message> <open/> <close/>" and got["id"] == 'a>b"c'
        await ws.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat' id=\"q'>x\">"
                      f"<body>quoted</body></message>")
        got = await bob.next_message()
        assert got["body"] == "quoted" and got["id"] == "q'>x"

        msg = bob.xmpp.make_message(mto="alice@localhost/browser", mbody="odd id", mtype="chat")
        msg["id"] = "x'y\">z</message>"
        msg.send()
        odd = await ws.read_until(lambda e: e.tag == q(CLIENT_NS, "message"), "the message with the odd id")
        assert odd.get("id") == "x'y\">z</message>" and odd.findtext(q(CLIENT_NS, "body")) == "odd id"

        for i in range(20):
            bob.send_message("alice@localhost/browser", f"burst {i}")
        big = "€" * 60000  # 180 kB of UTF-8
        bob.send_message("alice@localhost/browser", big)
        bodies = []
        while len(bodies) < 21:
            e = await ws.read_until(lambda e: e.tag == q(CLIENT_NS, "message"), "the burst")
            bodies.append(e.findtext(q(CLIENT_NS, "body")))
        assert bodies == [f"burst {i}" for i in range(20)] + [big]

    xmpp.run(scenario())


def test_stream_management_resumes_on_a_new_websocket(hush, xmpp):
    """XEP-0198 over WebSocket (converse.js enables it): a dropped WebSocket's session is resumed on a new one
    and what arrived meanwhile is delivered."""
    server = start(hush)

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(bob, server.port("c2s"))
        first = await WsSession.connect(wss(server))
        await first.login("alice", PASSWORDS["alice"], resource="browser")
        await first.send(f"<enable xmlns='{SM_NS}' resume='true'/>")
        enabled = await first.read_until(lambda e: e.tag == q(SM_NS, "enabled"), "<enabled/>")
        previd = enabled.get("id")
        assert enabled.get("resume") == "true" and previd, first.transcript()
        await first.abort()  # the network goes away: no <close/>
        await server.wait_log("connection lost; the session waits")
        bob.send_message("alice@localhost/browser", "while you were away")
        await bob.ping_server()

        again = await WsSession.connect(wss(server))
        features = await again.authenticate("alice", PASSWORDS["alice"])
        assert features.find(q(SM_NS, "sm")) is not None, again.transcript()
        await again.send(f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>")
        resumed = await again.recv()
        assert resumed.tag == q(SM_NS, "resumed") and resumed.get("previd") == previd, again.transcript()
        message = await again.read_until(lambda e: e.tag == q(CLIENT_NS, "message"), "the message sent meanwhile")
        assert message.findtext(q(CLIENT_NS, "body")) == "while you were away"
        await again.ping("after-resume")

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# stream errors
# --------------------------------------------------------------------------------------------------------------

def test_a_stanza_as_the_first_message(hush, xmpp):
    server = start(hush)

    async def scenario():
        ws = await WsSession.connect(wss(server))
        await ws.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost'><body>no open</body></message>")
        first = await ws.recv()
        assert first.tag == q(FRAMING_NS, "open"), ws.transcript()  # RFC 6120 §4.9.1.1: a header, then the error
        await ws.expect_stream_error("bad-format")

    xmpp.run(scenario())


BAD_MESSAGES = {
    "half-an-element": ("<message xmlns='jabber:client' to='bob@localhost'><body>half", "bad-format"),
    "two-elements": ("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", "bad-format"),
    "text": ("hello", "bad-format"),
    "not-well-formed": ("<message xmlns='jabber:client'><body>x</mess></message>", "not-well-formed"),
    "binary-frame": (b"<presence xmlns='jabber:client'/>", "bad-format"),
    "second-open": (f"<open xmlns='{FRAMING_NS}' to='localhost' version='1.0'/>", "bad-format"),
    # Deeper than [limits] max_depth (32), as on TCP.
    "too-deep": ("<message xmlns='jabber:client'>" + "<x>" * 40 + "</x>" * 40 + "</message>", "policy-violation"),
}


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_bad_messages_end_the_stream(hush, xmpp, case):
    payload, condition = BAD_MESSAGES[case]
    server = start(hush)

    async def scenario():
        ws = await opened(wss(server))
        await ws.send(payload)
        await ws.expect_stream_error(condition)
        # Nobody else is harmed: a new session logs in.
        other = await WsSession.connect(wss(server))
        await other.login("bob", PASSWORDS["bob"])
        await other.ping()

    xmpp.run(scenario())


@pytest.mark.parametrize("header, condition", [
    pytest.param("<open xmlns='urn:example:not-framing' to='localhost' version='1.0'/>", "invalid-namespace",
                 id="wrong-namespace"),
    pytest.param(f"<open xmlns='{FRAMING_NS}' to='elsewhere.example' version='1.0'/>", "host-unknown",
                 id="unknown-host"),
])
def test_bad_open(hush, xmpp, header, condition):
    server = start(hush)

    async def scenario():
        ws = await WsSession.connect(wss(server))
        await ws.send(header)
        first = await ws.recv()
        assert first.tag == q(FRAMING_NS, "open"), ws.transcript()  # RFC 6120 §4.9.1.1: a header, then the error
        await ws.expect_stream_error(condition)

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# secure or not: wss://, ws://, trusted proxies
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("http_section, headers", [
    ({}, {}),
    # Forwarding headers from an address that is not a trusted proxy count for nothing.
    ({"trusted_proxies": ["192.0.2.1"]}, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}),
    # A trusted proxy that does not say the client came over https.
    ({"trusted_proxies": ["127.0.0.1"]}, {"X-Forwarded-For": "198.51.100.7"}),
    ({"trusted_proxies": ["127.0.0.1"]}, {"X-Forwarded-Proto": "http", "X-Forwarded-For": "198.51.100.7"}),
], ids=["plain", "untrusted-forwarding", "trusted-without-proto", "trusted-proto-http"])
def test_insecure_websocket_is_refused(hush, xmpp, http_section, headers):
    server = start(hush, HTTP, http=http_section)

    async def scenario():
        ws = await WsSession.connect(ws_url(server), headers=headers)
        # A client that does not wait: its credentials follow its <open/> at once. They must count for nothing.
        await ws.send(f"<open xmlns='{FRAMING_NS}' to='localhost' version='1.0'/>")
        await ws.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>"
                      f"{b64(chr(0) + 'alice' + chr(0) + PASSWORDS['alice'])}</auth>")
        check_open(await ws.recv(), "localhost", ws.transcript())
        error = await ws.expect_stream_error("policy-violation")
        assert (error.findtext(q(STREAMS_ERR_NS, "text")) or "").strip(), "no <text/> saying why"
        # Nothing to log in with was ever offered, and nothing was accepted.
        assert not any("<mechanism" in m or "<success" in m for m in ws.received), ws.transcript()
        assert "authenticated as alice@localhost" not in server.stderr_text()

    xmpp.run(scenario())


def test_channel_binding_only_where_the_tls_is_ours(hush, xmpp):
    """Over wss:// the TLS connection is hushd's: SCRAM-SHA-256-PLUS is offered, as on TCP, and binds to it
    (tls-server-end-point). Behind a proxy the TLS is the proxy's: nothing to bind to, so no -PLUS is offered."""
    server = start(hush, HTTP, HTTPS, http={"trusted_proxies": ["127.0.0.1"]})

    async def scenario():
        ws = await WsSession.connect(wss(server))
        await ws.open()
        offered = mechanisms(await ws.features())
        assert "SCRAM-SHA-256-PLUS" in offered, ws.transcript()
        end_point = hashlib.sha256(ws.server_certificate()).digest()
        answer = await ws.scram("alice", PASSWORDS["alice"], "SCRAM-SHA-256-PLUS", "tls-server-end-point", end_point)
        assert answer.tag == q(SASL_NS, "success"), ws.transcript()

        proxied = await WsSession.connect(ws_url(server), headers={"X-Forwarded-Proto": "https",
                                                                   "X-Forwarded-For": "198.51.100.7"})
        await proxied.open()
        offered = mechanisms(await proxied.features())
        assert "SCRAM-SHA-256" in offered and not any(m.endswith("-PLUS") for m in offered), proxied.transcript()

    xmpp.run(scenario())


def test_idle_deadline_and_websocket_pings(hush, xmpp):
    """[limits] idle_timeout closes a silent session with <connection-timeout/>; WebSocket pings are traffic."""
    server = start(hush, limits={"idle_timeout": 2})

    async def scenario():
        idle = await WsSession.connect(wss(server))
        await idle.login("alice", PASSWORDS["alice"], resource="idle")
        lively = await WsSession.connect(wss(server))
        await lively.login("bob", PASSWORDS["bob"], resource="lively")
        closed = asyncio.ensure_future(idle.expect_stream_error("connection-timeout", timeout=15))
        deadline = time.monotonic() + 5  # past the deadline two times over
        while time.monotonic() < deadline:
            pong = await lively.conn.ping()  # each round trip paced by the server's pong
            await asyncio.wait_for(pong, TIMEOUT)
            try:
                unexpected = await asyncio.wait_for(lively.conn.recv(), 0.3)
            except asyncio.TimeoutError:
                continue
            raise AssertionError(f"unexpected message on a live session: {unexpected!r}")
        await closed
        await lively.ping("still-here")

    xmpp.run(scenario())


def test_a_trusted_proxy_with_https_makes_ws_secure(hush, xmpp):
    """Behind a TLS-terminating proxy (trusted, X-Forwarded-Proto: https) plain ws:// logs in; the client's address
    is X-Forwarded-For's last one."""
    server = start(hush, HTTP, http={"trusted_proxies": ["127.0.0.1"]})

    async def scenario():
        ws = await WsSession.connect(ws_url(server), headers={"X-Forwarded-Proto": "https",
                                                              "X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
        assert await ws.login("alice", PASSWORDS["alice"], resource="proxied") == "alice@localhost/proxied"
        await ws.ping()
        await server.wait_log("198.51.100.7")
        assert await ws.close_stream() == 1000

    xmpp.run(scenario())


def test_per_ip_limit_counts_the_forwarded_address(hush, xmpp):
    """Through a trusted proxy each client is counted under its X-Forwarded-For address, not the proxy's."""
    server = start(hush, HTTP, http={"trusted_proxies": ["127.0.0.1"]}, limits={"max_connections_per_ip": 1})

    def via(client_ip: str) -> dict:
        return {"headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": client_ip}}

    async def scenario():
        first = await opened(ws_url(server), **via("198.51.100.7"))
        assert await refused_upgrade(ws_url(server), **via("198.51.100.7")) == 429
        other = await opened(ws_url(server), **via("198.51.100.8"))  # another client through the same proxy
        for session, name in ((other, "bob"), (first, "alice")):
            answer = await session.scram(name, PASSWORDS[name])
            assert answer.tag == q(SASL_NS, "success"), session.transcript()

    xmpp.run(scenario())


def fetch_host_meta(port: int) -> bytes:
    """The start of the answer to a GET on a new connection; b"" when the server closed it unanswered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(b"GET /.well-known/host-meta HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def test_http_connections_per_ip_are_limited(hush, xmpp):
    """Plain HTTP connections (slow headers, idle keep-alives) count per IP too: over the limit the connection is
    closed unanswered; a freed place is served again."""
    server = start(hush, HTTP, limits={"max_connections_per_ip": 2})
    port = server.port("http")
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        assert fetch_host_meta(port) == b""  # closed without an answer (a FIN, or a reset if the request was unread)
        xmpp.run(server.wait_log("refused, over max_connections_per_ip (2)"))
        idle.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the freed slot is released when the server sees the close
            answer = fetch_host_meta(port)
            if answer.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
        assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        for s in idle:
            s.close()


def test_forwarded_for_from_anyone_else_changes_no_address(hush, xmpp):
    """X-Forwarded-For from a client that is not a trusted proxy is ignored: no way around the per-IP limit."""
    server = start(hush, limits={"max_connections_per_ip": 1})

    async def scenario():
        first = await opened(wss(server), headers={"X-Forwarded-For": "198.51.100.7"})
        assert await refused_upgrade(wss(server), headers={"X-Forwarded-For": "198.51.100.8"}) == 429
        answer = await first.scram("alice", PASSWORDS["alice"])
        assert answer.tag == q(SASL_NS, "success"), first.transcript()
        assert "198.51.100." not in server.stderr_text()

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# handshake checks and limits
# --------------------------------------------------------------------------------------------------------------

def test_origin_allowed_and_refused(hush, xmpp):
    server = start(hush, websocket={"allowed_origins": ["https://chat.example.org"]})

    async def scenario():
        allowed = await opened(wss(server), origin="https://chat.example.org")
        assert await refused_upgrade(wss(server), origin="https://evil.example") == 403
        assert await refused_upgrade(wss(server), origin="https://chat.example.org.evil.example") == 403
        assert await refused_upgrade(wss(server), origin="http://chat.example.org") == 403
        assert await refused_upgrade(wss(server), origin="null") == 403  # a sandboxed page or a file
        no_origin = await opened(wss(server))  # not a browser: allowed
        for session, name in ((no_origin, "bob"), (allowed, "alice")):
            answer = await session.scram(name, PASSWORDS[name])
            assert answer.tag == q(SASL_NS, "success"), session.transcript()

    xmpp.run(scenario())


def test_the_xmpp_subprotocol_is_required(hush, xmpp):
    server = start(hush)

    async def scenario():
        assert await refused_upgrade(wss(server), subprotocols=None) == 400
        assert await refused_upgrade(wss(server), subprotocols=("chat",)) == 400
        ws = await opened(wss(server), subprotocols=("chat", "xmpp"))
        assert ws.conn.subprotocol == "xmpp"

    xmpp.run(scenario())


def test_connections_per_ip_count_websockets_and_tcp(hush, xmpp):
    server = start(hush, limits={"max_connections_per_ip": 2})

    async def scenario():
        ws = await opened(wss(server))
        tcp = RawStream.connect("127.0.0.1", server.port("c2s"))
        tcp.open_stream()
        tcp.features()
        assert await refused_upgrade(wss(server)) == 429
        with RawStream.connect("127.0.0.1", server.port("c2s")) as third:
            assert stream_error_condition(third.read_element()) == "policy-violation", third.received_text()
        # The admitted ones are untouched; once the WebSocket leaves, a newcomer is admitted again.
        tcp.starttls()
        tcp.open_stream()
        assert tcp.features().find(q(SASL_NS, "mechanisms")) is not None, tcp.received_text()
        assert await ws.close_stream() == 1000
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                again = await opened(wss(server))
                break
            except websockets.exceptions.InvalidStatusCode as e:
                assert e.status_code == 429 and time.monotonic() < deadline, "the released slot was never given back"
        answer = await again.scram("alice", PASSWORDS["alice"])
        assert answer.tag == q(SASL_NS, "success"), again.transcript()
        tcp.close()

    xmpp.run(scenario())


def test_failed_logins_close_the_websocket(hush, xmpp):
    server = start(hush, limits={"auth_failures_per_connection": 2, "auth_failures_before_delay": 100})

    async def scenario():
        ws = await opened(wss(server))
        for wrong in ("wrong-1", "wrong-2"):
            answer = await ws.scram("alice", wrong)
            assert answer.tag == q(SASL_NS, "failure") and answer.find(q(SASL_NS, "not-authorized")) is not None, \
                ws.transcript()
        await ws.expect_stream_error("policy-violation")
        # The account itself is fine.
        again = await WsSession.connect(wss(server))
        assert await again.login("alice", PASSWORDS["alice"]) == "alice@localhost/ws"

    xmpp.run(scenario())


def test_slow_down_after_failures_counts_the_forwarded_address(hush, xmpp):
    """Behind a trusted proxy the per-address slow-down after failed logins applies to the client's forwarded
    address, not to the proxy (whose other clients would all be slowed down)."""
    server = start(hush, HTTP, http={"trusted_proxies": ["127.0.0.1"]},
                   limits={"auth_failures_per_connection": 10, "auth_failures_before_delay": 1})

    def via(client_ip: str) -> dict:
        return {"headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": client_ip}}

    async def timed_failure(session: WsSession) -> float:
        started = time.monotonic()
        answer = await session.scram("alice", "wrong")
        assert answer.tag == q(SASL_NS, "failure"), session.transcript()
        return time.monotonic() - started

    async def scenario():
        guesser = await opened(ws_url(server), **via("198.51.100.7"))
        free = await timed_failure(guesser)
        slowed = await timed_failure(guesser)  # the first slowed one: one second
        neighbour = await opened(ws_url(server), **via("198.51.100.8"))
        other = await timed_failure(neighbour)
        assert slowed >= 0.9 > free and other < 0.9, (free, slowed, other)

    xmpp.run(scenario())


def test_negotiation_deadline(hush, xmpp):
    server = start(hush, limits={"handshake_timeout": 2})

    async def scenario():
        stalled = await opened(wss(server))          # opened, then nothing
        silent = await WsSession.connect(wss(server))  # not even <open/>
        started = time.monotonic()
        await stalled.expect_stream_error("connection-timeout", timeout=15)
        await silent.expect_stream_error("connection-timeout", timeout=15)
        assert silent.received and framed(silent.received[0]).tag == q(FRAMING_NS, "open"), silent.transcript()
        assert time.monotonic() - started < 12

    xmpp.run(scenario())


def test_an_oversized_message_closes_only_its_websocket(hush, xmpp):
    server = start(hush, limits={"max_stanza_bytes": 8192})

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(bob, server.port("c2s"))
        big = await WsSession.connect(wss(server))
        await big.login("alice", PASSWORDS["alice"], resource="big")
        fine = await WsSession.connect(wss(server))
        await fine.login("alice", PASSWORDS["alice"], resource="fine")
        await fine.online()
        await big.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat'>"
                       f"<body>{'x' * 7000}</body></message>")  # under the limit: delivered
        assert len((await bob.next_message())["body"]) == 7000
        await big.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat'>"
                       f"<body>{'y' * 20000}</body></message>")
        assert await big.wait_closed() == 1009
        # The other session carries on, both ways.
        await fine.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost/laptop' type='chat'>"
                        f"<body>still here</body></message>")
        assert (await bob.next_message())["body"] == "still here"
        bob.send_message("alice@localhost/fine", "good")
        reply = await fine.read_until(lambda e: e.tag == q(CLIENT_NS, "message"), "bob's answer")
        assert reply.findtext(q(CLIENT_NS, "body")) == "good"
        assert bob.messages.empty()  # nothing of the oversized message came through

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# XEP-0156 discovery, and the https listener serving what http serves
# --------------------------------------------------------------------------------------------------------------

def get(server, kind: str, path: str, method: str = "GET", headers: dict | None = None):
    if kind == "https":
        conn = http.client.HTTPSConnection("127.0.0.1", server.port("https"), timeout=10, context=insecure_tls())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=10)
    conn.request(method, path, headers=headers or {})
    res = conn.getresponse()
    body = res.read().decode()
    conn.close()
    return res, body


def websocket_links(server, kind: str, headers: dict | None = None) -> tuple[list[str], list[str]]:
    """The websocket hrefs of host-meta (XRD) and host-meta.json, each checked for its content type and CORS."""
    res, body = get(server, kind, "/.well-known/host-meta", headers=headers)
    assert res.status == 200 and res.getheader("Content-Type", "").startswith("application/xrd+xml"), (res.status,
                                                                                                      body)
    assert res.getheader("Access-Control-Allow-Origin") == "*"
    xrd = ET.fromstring(body)
    assert xrd.tag == q(XRD_NS, "XRD"), body
    xml_links = [link.get("href") for link in xrd.findall(q(XRD_NS, "Link")) if link.get("rel") == WS_REL]
    res, body = get(server, kind, "/.well-known/host-meta.json", headers=headers)
    assert res.status == 200 and res.getheader("Content-Type", "").startswith("application/json"), (res.status, body)
    assert res.getheader("Access-Control-Allow-Origin") == "*"
    json_links = [link["href"] for link in json.loads(body).get("links", []) if link.get("rel") == WS_REL]
    return xml_links, json_links


def test_host_meta_and_the_rest_on_both_listeners(hush):
    server = start(hush, HTTP, HTTPS)
    token = server.hushctl("token", "create", "ops").stdout.strip()
    for kind, scheme in (("http", "ws"), ("https", "wss")):
        expected = [f"{scheme}://127.0.0.1:{server.port(kind)}{PATH}"]
        assert websocket_links(server, kind) == (expected, expected), kind
        # CORS preflight, as a browser sends before fetching from another origin.
        for path in ("/.well-known/host-meta", "/.well-known/host-meta.json"):
            res, _ = get(server, kind, path, "OPTIONS", {"Origin": "https://webchat.example.net",
                                                         "Access-Control-Request-Method": "GET"})
            assert res.status in (200, 204), (kind, path, res.status)
            assert res.getheader("Access-Control-Allow-Origin") == "*", (kind, path)
            assert "GET" in res.getheader("Access-Control-Allow-Methods", ""), (kind, path)
        # The https listener serves what http serves.
        res, body = get(server, kind, "/blocklist.xml")
        assert res.status == 200 and res.getheader("Content-Type").startswith("application/xml"), (kind, body)
        res, body = get(server, kind, "/metrics")
        assert res.status == 200 and "hush_blocklist_entries 0" in body, kind
        res, body = get(server, kind, "/admin")
        assert res.status == 200 and 'id="entries"' in body, kind
        assert get(server, kind, "/api/blocklist")[0].status == 401, kind
        res, body = get(server, kind, "/api/blocklist", headers={"Authorization": f"Bearer {token}"})
        assert res.status == 200 and json.loads(body) == [], (kind, body)


@pytest.mark.parametrize("public_url, href", [
    ("https://chat.example.org", "wss://chat.example.org/xmpp-websocket"),
    ("https://example.org/chat/", "wss://example.org/chat/xmpp-websocket"),  # behind a proxy, under a path
    ("http://chat.example.org:8080", "ws://chat.example.org:8080/xmpp-websocket"),
])
def test_host_meta_with_public_url(hush, public_url, href):
    server = start(hush, HTTP, HTTPS, http={"public_url": public_url})
    for kind in ("http", "https"):
        assert websocket_links(server, kind) == ([href], [href]), kind


def test_host_meta_does_not_reflect_a_hostile_host_header(hush):
    """Without public_url the link is made of the Host header: one that would break out of the XRD attribute or
    the URL is refused, or at least never changes the document's structure."""
    server = start(hush, HTTP)
    for host in ("evil.example'/><Link rel='urn:xmpp:alt-connections:websocket' href='wss://evil.example/x",
                 'evil.example"><script>', "evil.example/path?x=", "evil.example#"):
        res, body = get(server, "http", "/.well-known/host-meta", headers={"Host": host})
        if res.status == 200:
            links = ET.fromstring(body).findall(q(XRD_NS, "Link"))
            assert len(links) <= 1 and all(link.get("href", "").endswith("/xmpp-websocket") for link in links), body
            assert "evil.example/x" not in body and "<script>" not in body, body
        else:
            assert 400 <= res.status < 500, (host, res.status)
        res, body = get(server, "http", "/.well-known/host-meta.json", headers={"Host": host})
        if res.status == 200:
            hrefs = [link["href"] for link in json.loads(body)["links"]]
            assert all(h.endswith("/xmpp-websocket") and "/x/" not in h and "?" not in h and "#" not in h
                       for h in hrefs), body
        else:
            assert 400 <= res.status < 500, (host, res.status)


def test_host_meta_behind_a_trusted_proxy(hush):
    server = start(hush, HTTP, http={"trusted_proxies": ["127.0.0.1"]})
    secure = ["wss://chat.example.net/xmpp-websocket"]
    assert websocket_links(server, "http", {"Host": "chat.example.net", "X-Forwarded-Proto": "https"}) \
        == (secure, secure)
    plain = ["ws://chat.example.net/xmpp-websocket"]
    assert websocket_links(server, "http", {"Host": "chat.example.net"}) == (plain, plain)
    # X-Forwarded-Host is believed from no one, a trusted proxy included: a client could choose it otherwise.
    assert websocket_links(server, "http", {"Host": "chat.example.net", "X-Forwarded-Host": "evil.example",
                                            "X-Forwarded-Proto": "https"}) == (secure, secure)


def test_host_meta_ignores_forwarding_headers_from_anyone_else(hush):
    server = start(hush, HTTP)
    own = websocket_links(server, "http", {"Host": "chat.example.net"})
    assert own == (["ws://chat.example.net/xmpp-websocket"],) * 2
    assert websocket_links(server, "http", {"Host": "chat.example.net", "X-Forwarded-Host": "evil.example",
                                            "X-Forwarded-Proto": "https"}) == own


def test_websocket_disabled(hush, xmpp):
    server = start(hush, HTTP, HTTPS, websocket={"enabled": False})
    for kind in ("http", "https"):
        assert websocket_links(server, kind) == ([], []), kind

    async def scenario():
        assert await refused_upgrade(wss(server)) == 404
        assert await refused_upgrade(ws_url(server)) == 404

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# the same pipeline: anti-SPIM
# --------------------------------------------------------------------------------------------------------------

class Seen:
    """An element received on the WebSocket, shaped as test_antispim's predicates expect (st.xml)."""

    def __init__(self, element: ET.Element):
        self.xml = element


def test_a_stranger_on_websocket_is_challenged(hush, xmpp):
    """test_antispim's first scenario with the stranger in a browser: mallory's message is held, she gets the
    challenge over her WebSocket, answers it, and bob then gets the held message."""
    server = hush(listen=[C2S, HTTPS], antispim={"trust_local_users": False},
                  **{"antispim.challenge": challenge_settings(0)})
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("mallory@localhost", PASSWORDS["dave"])

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        mallory = await WsSession.connect(wss(server))
        await mallory.login("mallory", PASSWORDS["dave"], resource="browser")
        await mallory.online()
        await mallory.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost' type='chat'>"
                           f"<body>hi Bob, we met at the conference</body></message>")
        challenge = Seen(await mallory.read_until(lambda e: is_challenge("bob@localhost")(Seen(e)), "the challenge"))
        challenge_id, options, body = challenge_of(challenge)
        assert QUESTION in body and "blue" in options
        form = await mallory.read_until(lambda e: is_captcha_form("bob@localhost")(Seen(e)), "the XEP-0158 form")
        assert form.get("id") == challenge_id
        await bob.ping_server()
        assert not bob.received_matching(is_chat("mallory@localhost", "hi Bob, we met at the conference"))
        await mallory.send(f"<message xmlns='{CLIENT_NS}' to='bob@localhost' type='chat'>"
                           f"<body>{answer_number(options)}</body></message>")
        approval = await mallory.read_until(lambda e: is_approval("bob@localhost")(Seen(e)), "the approval")
        assert len(approval.findtext(q(ANTISPIM_NS, "secret")) or "") == 32
        held = await bob.expect_stanza(is_chat("mallory@localhost", "hi Bob, we met at the conference"),
                                       "the held message")
        assert held.xml.find(q(DELAY_NS, "delay")) is not None
        assert held["from"].full == "mallory@localhost/browser"

    xmpp.run(scenario())
    assert "mallory@localhost approved by bob@localhost; 1 held stanza(s) delivered" in server.stderr_text()


def test_a_receiver_on_websocket_gets_the_held_message_only_once_approved(hush, xmpp):
    """The same scenario with bob in the browser: nothing of mallory's reaches his WebSocket until she answers."""
    server = hush(listen=[C2S, HTTPS], antispim={"trust_local_users": False},
                  **{"antispim.challenge": challenge_settings(0)})
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("mallory@localhost", PASSWORDS["dave"])

    async def scenario():
        bob = await WsSession.connect(wss(server))
        await bob.login("bob", PASSWORDS["bob"], resource="browser")
        await bob.online()
        mallory = antispim_client(xmpp, "mallory@localhost/x")
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hi Bob, we met at the conference")
        _, options, _ = challenge_of(await mallory.expect_stanza(is_challenge("bob@localhost"),
                                                                 "a challenge from bob"))
        await bob.ping("after-the-challenge")
        assert not any("we met at the conference" in m for m in bob.received), bob.transcript()
        mallory.send_message("bob@localhost", answer_number(options))
        await mallory.expect_stanza(is_approval("bob@localhost"), "the approval")
        held = await bob.read_until(lambda e: is_chat("mallory@localhost", "hi Bob, we met at the conference")(Seen(e)),
                                    "the held message")
        assert held.find(q(DELAY_NS, "delay")) is not None
        assert not any(f">{answer_number(options)}</body>" in m for m in bob.received)  # the answer is not passed on

    xmpp.run(scenario())


# --------------------------------------------------------------------------------------------------------------
# SIGHUP: a new certificate on the https listener
# --------------------------------------------------------------------------------------------------------------

def served_certificate(port: int) -> bytes:
    """The DER certificate a new TLS connection to the port gets (not verified)."""
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        with insecure_tls().wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def test_sighup_reloads_the_https_certificate(hush, xmpp, tmp_path):
    server = start(hush)
    data_dir = server.workdir / "data"
    crt, key = data_dir / "selfsigned.crt", data_dir / "selfsigned.key"
    old = ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert served_certificate(server.port("https")) == old

    new_crt, new_key = tmp_path / "new.crt", tmp_path / "new.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(new_key), "-out", str(new_crt)], check=True, capture_output=True, timeout=30)
    new = ssl.PEM_cert_to_DER_cert(new_crt.read_text())
    assert new != old
    # The key first, then the certificate, each replaced at once (a reader never sees half a file).
    os.replace(new_key, key)
    os.replace(new_crt, crt)
    server.signal(signal.SIGHUP)

    async def scenario():
        await server.wait_log("SIGHUP: TLS certificate reloaded")
        assert hashlib.sha256(served_certificate(server.port("https"))).hexdigest() == hashlib.sha256(new).hexdigest()
        ws = await WsSession.connect(wss(server))  # and a session over the new certificate works
        assert await ws.login("alice", PASSWORDS["alice"]) == "alice@localhost/ws"

    xmpp.run(scenario())
