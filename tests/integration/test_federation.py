"""Federation end to end: hushd ↔ hushd over real TLS sockets (dialback with self-signed certificates, SASL EXTERNAL
with a test CA), attacks on incoming server-to-server streams from raw sockets (spoofed 'from', spoofed dialback,
unknown hosts), and bounces for domains that cannot be reached. test_prosody.py does the same against Prosody.

Domains are *.test; every server finds its peers through [s2s.hosts], nothing asks real DNS.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import xml.etree.ElementTree as ET

import pytest

from conftest import TIMEOUT
from federation import test_ca  # noqa: F401  (a fixture)
from test_im import PASSWORDS, im_client, is_presence, login, subscribe
from xmpp_raw import (CLIENT_NS, SASL_NS, STREAM_NS, TLS_NS, RawStream, q, stream_error_condition)

SERVER_NS = "jabber:server"
DIALBACK_NS = "jabber:server:dialback"
DIALBACK_FEATURE_NS = "urn:xmpp:features:dialback"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def free_port() -> int:
    """A loopback port nobody listens on right now (servers that must know each other's port before starting)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hush(hush, domain: str, s2s_port: int = 0, peers: dict[str, int] | None = None,
               cert: tuple[str, str] | None = None, direct_tls: bool = False, domains: dict | None = None,
               antispim: dict | None = None, challenge: dict | None = None, **s2s):
    """A hushd serving `domain` with a client listener and an s2s listener on `s2s_port` (XEP-0368 direct TLS when
    `direct_tls`, and then its peers are reached that way too); `peers` maps remote domains to their s2s port on
    127.0.0.1 ([s2s.hosts]); `domains` are [s2s.domains."x"] tables. The Bot Challenge is off unless `antispim`
    says otherwise: these tests are about federation (test_antispim.py challenges across servers)."""
    sections = {
        "server": {"hosts": [domain]},
        "listen": [{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                   {"kind": "s2s_direct_tls" if direct_tls else "s2s", "address": "127.0.0.1", "port": s2s_port}],
        "s2s": s2s,
        "antispim": antispim if antispim is not None else {"chain": ["pass"]},
    }
    if challenge:
        sections["antispim.challenge"] = challenge
    if peers:
        prefix = "tls:" if direct_tls else ""
        sections["s2s.hosts"] = {d: f"{prefix}127.0.0.1:{p}" for d, p in peers.items()}
    for remote, table in (domains or {}).items():
        sections[f's2s.domains."{remote}"'] = table
    if cert:
        sections["tls"] = {"certificate": str(cert[0]), "key": str(cert[1])}
    return hush(**sections)


def start_pair(hush, certs: dict[str, tuple[str, str]] | None = None, direct_tls: bool = False,
               a_options: dict | None = None, antispim: dict | None = None, challenge: dict | None = None, **s2s):
    """a.test and b.test, each knowing where the other is."""
    port_a, port_b = free_port(), free_port()
    certs = certs or {}
    a = start_hush(hush, "a.test", port_a, {"b.test": port_b}, certs.get("a.test"), direct_tls,
                   antispim=antispim, challenge=challenge, **{**s2s, **(a_options or {})})
    b = start_hush(hush, "b.test", port_b, {"a.test": port_a}, certs.get("b.test"), direct_tls,
                   antispim=antispim, challenge=challenge, **s2s)
    a.adduser("alice@a.test", PASSWORDS["alice"])
    b.adduser("bob@b.test", PASSWORDS["bob"])
    return a, b


async def converse(xmpp, a, b) -> None:
    """alice@a.test and bob@b.test subscribe to each other, see each other's presence and exchange messages."""
    alice = im_client(xmpp, "alice@a.test/laptop")
    bob = im_client(xmpp, "bob@b.test/phone")
    await login(alice, a.port("c2s"))
    await login(bob, b.port("c2s"))
    await subscribe(alice, bob)
    await subscribe(bob, alice)
    # Mutual subscription: each now sees the other's presence (probes and broadcasts across the federation).
    bob.xmpp.send_presence(pstatus="on the train")
    await alice.expect_stanza(is_presence("bob@b.test/phone", None, "on the train"), "bob's presence via b.test")
    alice.send_message("bob@b.test", "hello from a.test")
    msg = await bob.next_message()
    assert (msg["from"].full, msg["body"]) == ("alice@a.test/laptop", "hello from a.test")
    bob.send_message("alice@a.test/laptop", "hello back from b.test")
    msg = await alice.next_message()
    assert (msg["from"].full, msg["body"]) == ("bob@b.test/phone", "hello back from b.test")


def test_hush_to_hush_with_dialback(hush, xmpp):
    a, b = start_pair(hush)
    xmpp.run(converse(xmpp, a, b))
    # Self-signed certificates: each side proved its domain with dialback, answered by the other's authoritative
    # server (itself), and nobody offered SASL EXTERNAL.
    for server, mine, peer in ((a, "a.test", "b.test"), (b, "b.test", "a.test")):
        log = server.stderr_text()
        assert f"authenticated as {mine} (dialback)" in log, server.describe()
        assert f"{peer} authenticated for {mine} (dialback)" in log, server.describe()
        assert f"dialback key of {mine} for {peer}" in log and "is valid" in log, server.describe()
        assert "SASL EXTERNAL" not in log


def test_hush_to_hush_with_sasl_external(hush, xmpp, test_ca):
    certs = {d: test_ca.issue(d) for d in ("a.test", "b.test")}
    a, b = start_pair(hush, certs, ca_file=str(test_ca.cert_path), require_valid_certificates=True)
    xmpp.run(converse(xmpp, a, b))
    for server, mine, peer in ((a, "a.test", "b.test"), (b, "b.test", "a.test")):
        log = server.stderr_text()
        assert f"authenticated as {mine} (SASL EXTERNAL)" in log, server.describe()
        assert f"{peer} authenticated (SASL EXTERNAL" in log, server.describe()
        assert "(dialback)" not in log


def test_hush_to_hush_over_direct_tls(hush, xmpp):
    """XEP-0368: s2s_direct_tls listeners, peers reached with "tls:" static routes, no STARTTLS on the wire."""
    a, b = start_pair(hush, direct_tls=True)
    assert "s2s_direct_tls" in a.ports and "s2s" not in a.ports
    xmpp.run(converse(xmpp, a, b))
    assert "direct TLS" in a.stderr_text(), a.describe()
    assert "authenticated as a.test (dialback)" in a.stderr_text(), a.describe()


def test_idle_outgoing_stream_closes_and_reopens_on_demand(hush, xmpp):
    a, b = start_pair(hush, a_options={"idle_timeout": 1})

    async def scenario():
        alice = im_client(xmpp, "alice@a.test/laptop")
        bob = im_client(xmpp, "bob@b.test/phone")
        await login(alice, a.port("c2s"))
        await login(bob, b.port("c2s"))
        alice.send_message("bob@b.test/phone", "first")
        assert (await bob.next_message())["body"] == "first"
        # a.test's stream to b.test carries nothing more: after idle_timeout it closes; b.test sees the close.
        await b.wait_log("s2s-in 127.0.0.1 a.test: disconnected")
        alice.send_message("bob@b.test/phone", "second")
        assert (await bob.next_message())["body"] == "second"

    xmpp.run(scenario())
    log = a.stderr_text()
    assert "s2s-out b.test 127.0.0.1: unused for 1 s, closing" in log, a.describe()
    assert log.count("s2s-out b.test 127.0.0.1: authenticated as a.test (dialback)") == 2, a.describe()


def test_required_valid_certificate_refuses_a_self_signed_peer(hush, xmpp):
    """a.test insists on a valid certificate for b.test alone; b.test's is self-signed, so nothing goes there —
    and every stanza comes back with an error rather than vanishing."""
    a, b = start_pair(hush, a_options={"domains": {"b.test": {"require_valid_certificate": True}}})

    async def scenario():
        alice = im_client(xmpp, "alice@a.test/laptop")
        await login(alice, a.port("c2s"))
        alice.xmpp.send_message(mto="bob@b.test", mbody="hello?", mtype="chat")
        err = await alice.next_message_error()
        assert err["error"]["condition"] == "remote-server-not-found"
        assert "requires valid certificates" in err["error"]["text"]

    xmpp.run(scenario())


# ---- attacks from raw sockets -----------------------------------------------------------------------------------

def s2s_header(to: str, from_: str | None) -> str:
    from_attr = f" from='{from_}'" if from_ else ""
    return (f"<?xml version='1.0'?><stream:stream xmlns='{SERVER_NS}' xmlns:stream='{STREAM_NS}' "
            f"xmlns:db='{DIALBACK_NS}' to='{to}'{from_attr} version='1.0'>")


def open_secured(port: int, to: str, from_: str, client_cert: tuple[str, str] | None = None):
    """A raw peer server: stream, STARTTLS (presenting client_cert if any), stream again. Returns (stream, header,
    features)."""
    raw = RawStream.connect("127.0.0.1", port)
    raw.open_stream(header=s2s_header(to, from_))
    features = raw.features()
    assert features.find(q(TLS_NS, "starttls")) is not None, ET.tostring(features)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client_cert:
        ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    raw.starttls(ctx)
    header = raw.open_stream(header=s2s_header(to, from_))
    return raw, header, raw.features()


def expect_stream_error(raw: RawStream, condition: str) -> None:
    element = raw.read_until(q(STREAM_NS, "error"))
    assert stream_error_condition(element) == condition, ET.tostring(element)
    raw.wait_closed()


def authenticate_external(raw: RawStream, to: str, from_: str) -> None:
    raw.send(f"<auth xmlns='{SASL_NS}' mechanism='EXTERNAL'>{base64.b64encode(from_.encode()).decode()}</auth>")
    answer = raw.read_element()
    assert answer.tag == q(SASL_NS, "success"), ET.tostring(answer)
    raw.open_stream(header=s2s_header(to, from_))
    raw.features()


def test_stanzas_need_an_authenticated_from_and_a_local_to(hush, xmpp, test_ca):
    a = start_hush(hush, "a.test", ca_file=str(test_ca.cert_path))
    a.adduser("alice@a.test", PASSWORDS["alice"])
    evil = test_ca.issue("evil.test")

    async def scenario():
        alice = im_client(xmpp, "alice@a.test/laptop")
        await login(alice, a.port("c2s"))

        # Before authenticating: stanzas are refused.
        raw, _, features = open_secured(a.port("s2s"), "a.test", "evil.test")
        assert features.find(q(SASL_NS, "mechanisms")) is None  # no certificate, no EXTERNAL
        assert features.find(q(DIALBACK_FEATURE_NS, "dialback")) is not None
        raw.send("<message from='mallory@evil.test' to='alice@a.test' type='chat'><body>early</body></message>")
        expect_stream_error(raw, "not-authorized")

        # Authenticated as evil.test (a valid certificate, SASL EXTERNAL), claiming to be someone else.
        raw, _, features = open_secured(a.port("s2s"), "a.test", "evil.test", evil)
        mechanisms = [m.text for m in features.iter(q(SASL_NS, "mechanism"))]
        assert mechanisms == ["EXTERNAL"], ET.tostring(features)
        authenticate_external(raw, "a.test", "evil.test")
        raw.send("<message from='boss@b.test' to='alice@a.test' type='chat'><body>spoofed</body></message>")
        expect_stream_error(raw, "invalid-from")

        # To a domain this server does not serve.
        raw, _, _ = open_secured(a.port("s2s"), "a.test", "evil.test", evil)
        authenticate_external(raw, "a.test", "evil.test")
        raw.send("<message from='mallory@evil.test' to='someone@elsewhere.test' type='chat'><body>relay?</body>"
                 "</message>")
        expect_stream_error(raw, "host-unknown")

        # What an authenticated peer may send is delivered — and it is the first thing alice gets.
        raw, _, _ = open_secured(a.port("s2s"), "a.test", "evil.test", evil)
        authenticate_external(raw, "a.test", "evil.test")
        raw.send("<message from='mallory@evil.test/x' to='alice@a.test' type='chat' id='m1'><body>legit</body>"
                 "</message>")
        msg = await alice.next_message()
        assert (msg["from"].full, msg["body"]) == ("mallory@evil.test/x", "legit")
        raw.close()

    xmpp.run(scenario())


def test_dialback_cannot_be_spoofed(hush, xmpp):
    """A raw peer claims to be b.test with a made-up dialback key. a.test asks b.test's authoritative server (a real
    hushd), which says the key is not its own: the claim is refused and nothing from the impostor is delivered."""
    a, b = start_pair(hush)

    async def scenario():
        alice = im_client(xmpp, "alice@a.test/laptop")
        await login(alice, a.port("c2s"))
        raw, header, features = open_secured(a.port("s2s"), "a.test", "b.test")
        assert header.get("id")
        raw.send(f"<db:result from='b.test' to='a.test'>{'ab' * 32}</db:result>")
        answer = raw.read_until(q(DIALBACK_NS, "result"))
        assert (answer.get("type"), answer.get("from"), answer.get("to")) == ("invalid", "a.test", "b.test")
        raw.send("<message from='bob@b.test/x' to='alice@a.test' type='chat'><body>spoofed</body></message>")
        expect_stream_error(raw, "not-authorized")
        # The real b.test still gets through (its stream is separate), and alice's first message is its.
        bob = im_client(xmpp, "bob@b.test/phone")
        await login(bob, b.port("c2s"))
        bob.send_message("alice@a.test/laptop", "the real bob")
        msg = await alice.next_message()
        assert (msg["from"].full, msg["body"]) == ("bob@b.test/phone", "the real bob")

    xmpp.run(scenario())
    assert "dialback key of b.test for a.test" in b.stderr_text() and "is NOT valid" in b.stderr_text()


def test_stream_to_unknown_host_is_refused(hush):
    a = start_hush(hush, "a.test")
    raw = RawStream.connect("127.0.0.1", a.port("s2s"))
    raw.open_stream(header=s2s_header("nobody.test", "b.test"))
    expect_stream_error(raw, "host-unknown")


# ---- unreachable peers ------------------------------------------------------------------------------------------

def test_unreachable_domain_bounces_every_queued_stanza(hush, xmpp):
    closed = free_port()  # nothing listens there: connection refused
    a = start_hush(hush, "a.test", peers={"down.test": closed})
    a.adduser("alice@a.test", PASSWORDS["alice"])

    async def scenario():
        alice = im_client(xmpp, "alice@a.test/laptop")
        await login(alice, a.port("c2s"))
        for i in range(3):
            alice.xmpp.send_message(mto="bob@down.test", mbody=f"m{i}", mtype="chat")
        bounced = {}
        for _ in range(3):
            err = await alice.next_message_error()
            bounced[err["body"]] = err["error"]["condition"]
            assert err["from"].bare == "bob@down.test"
        assert bounced == {f"m{i}": "remote-server-not-found" for i in range(3)}
        # Backing off: the next stanza bounces at once, saying when the next attempt will be.
        alice.xmpp.send_message(mto="bob@down.test", mbody="m3", mtype="chat")
        err = await alice.next_message_error()
        assert err["error"]["condition"] == "remote-server-not-found"
        assert "next attempt" in err["error"]["text"], err

    xmpp.run(scenario())
    assert a.stderr_text().count("s2s-out down.test: cannot connect") == 1, a.describe()


def test_silent_peer_times_out(hush, xmpp):
    """A peer that accepts the TCP connection and never says a word: queued stanzas bounce with
    <remote-server-timeout/> once connect_timeout has passed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        a = start_hush(hush, "a.test", peers={"silent.test": listener.getsockname()[1]}, connect_timeout=2)
        a.adduser("alice@a.test", PASSWORDS["alice"])

        async def scenario():
            alice = im_client(xmpp, "alice@a.test/laptop")
            await login(alice, a.port("c2s"))
            alice.xmpp.send_message(mto="bob@silent.test", mbody="anyone there?", mtype="chat")
            err = await alice.next_message_error()
            assert err["error"]["condition"] == "remote-server-timeout"
            assert err["body"] == "anyone there?"

        xmpp.run(scenario())
        assert accepted, "hushd never connected to the silent peer"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for s in accepted:
            s.close()
