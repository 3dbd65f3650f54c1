"""Client-to-server behaviour of a real hushd, driven by real clients (slixmpp) and a raw socket (xmpp_raw).

Every test starts its own hushd (see conftest.py); users are made with hushctl like an administrator would.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from conftest import TIMEOUT
from xmpp_raw import CLIENT_NS, SASL_NS, STREAM_NS, TLS_NS, RawStream, q, stream_error_condition

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3"}


def add_users(server, *names: str) -> None:
    for name in names:
        server.adduser(f"{name}@localhost", PASSWORDS[name])


async def expect_message(client, sender, body: str) -> None:
    """The next message the client receives is `body`, from the sender's full bound JID (stamped by the server)."""
    msg = await client.next_message()
    assert msg["body"] == body
    assert msg["from"].full == sender.jid, f"from {msg['from']!r}, expected the sender's full JID {sender.jid!r}"
    assert msg["to"].bare == client.xmpp.boundjid.bare


# ---------------------------------------------------------------------------------------------------------------
# login and messaging
# ---------------------------------------------------------------------------------------------------------------

def test_login_and_message_exchange(hush, xmpp, storage_backend):
    """Two hushctl-made accounts log in (STARTTLS + SCRAM-SHA-256), bind, and exchange messages both ways."""
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob")

    async def scenario():
        alice = xmpp.client("alice@localhost/phone", PASSWORDS["alice"])
        bob = xmpp.client("bob@localhost/laptop", PASSWORDS["bob"])
        assert await alice.connect(server.port("c2s")) == "alice@localhost/phone"
        assert await bob.connect(server.port("c2s")) == "bob@localhost/laptop"
        assert alice.xmpp.is_connected() and bob.xmpp.is_connected()

        alice.send_message("bob@localhost/laptop", "hello bob, to your full JID")
        await expect_message(bob, alice, "hello bob, to your full JID")
        bob.send_message("alice@localhost", "hi alice, to your bare JID")
        await expect_message(alice, bob, "hi alice, to your bare JID")
        alice.send_message("bob@localhost", "unicode: \u00e9t\u00e9 \u2603 <&>")
        await expect_message(bob, alice, "unicode: \u00e9t\u00e9 \u2603 <&>")

        await alice.disconnect()
        await bob.disconnect()

    xmpp.run(scenario())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "PLAIN"])
def test_other_mechanisms_over_starttls(hush, xmpp, mech):
    server = hush()
    add_users(server, "alice", "bob")

    async def scenario():
        alice = xmpp.client("alice@localhost/m", PASSWORDS["alice"], mech=mech)
        bob = xmpp.client("bob@localhost/m", PASSWORDS["bob"])
        assert await alice.connect(server.port("c2s")) == "alice@localhost/m"
        assert alice.xmpp["feature_mechanisms"].mech.name == mech
        await bob.connect(server.port("c2s"))
        alice.send_message("bob@localhost/m", f"via {mech}")
        await expect_message(bob, alice, f"via {mech}")

    xmpp.run(scenario())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
def test_direct_tls(hush, xmpp, mech):
    """XEP-0368 listener: TLS from the first byte, no STARTTLS."""
    server = hush()
    add_users(server, "alice", "bob")

    async def scenario():
        alice = xmpp.client("alice@localhost/direct", PASSWORDS["alice"], mech=mech)
        bob = xmpp.client("bob@localhost/starttls", PASSWORDS["bob"])
        assert await alice.connect(server.port("c2s_direct_tls"), direct_tls=True) == "alice@localhost/direct"
        assert alice.xmpp["feature_mechanisms"].mech.name == mech
        await bob.connect(server.port("c2s"))
        alice.send_message("bob@localhost", "from the direct TLS port")
        await expect_message(bob, alice, "from the direct TLS port")
        bob.send_message("alice@localhost/direct", "back to the direct TLS port")
        await expect_message(alice, bob, "back to the direct TLS port")

    xmpp.run(scenario())


def test_wrong_password_fails_and_account_stays_usable(hush, xmpp):
    server = hush()
    add_users(server, "alice")

    async def scenario():
        wrong = xmpp.client("alice@localhost/x", "not-the-password")
        wrong.xmpp.connect(address=("127.0.0.1", server.port("c2s")))
        failure = await wrong.wait_auth_failure()
        assert failure["condition"] == "not-authorized"
        await wrong.wait_closed()  # slixmpp gives up (no other mechanism allowed) and disconnects

        right = xmpp.client("alice@localhost/x", PASSWORDS["alice"])
        assert await right.connect(server.port("c2s")) == "alice@localhost/x"

        nobody = xmpp.client("nobody@localhost/x", "whatever")
        nobody.xmpp.connect(address=("127.0.0.1", server.port("c2s")))
        failure = await nobody.wait_auth_failure()
        assert failure["condition"] == "not-authorized"

    xmpp.run(scenario())


def test_hushctl_manages_accounts(hush, xmpp):
    """adduser (twice: exit 1), users, passwd, deluser, each effective on the running server."""
    server = hush()
    add_users(server, "alice", "bob")
    again = server.hushctl("adduser", "alice@localhost", "other", check=False)
    assert again.returncode == 1, again
    listed = server.hushctl("users").stdout.split()
    assert "alice@localhost" in listed and "bob@localhost" in listed
    server.hushctl("passwd", "alice@localhost", "new-password")
    server.hushctl("deluser", "bob@localhost")
    assert "bob@localhost" not in server.hushctl("users").stdout.split()

    async def scenario():
        old = xmpp.client("alice@localhost/x", PASSWORDS["alice"])
        old.xmpp.connect(address=("127.0.0.1", server.port("c2s")))
        await old.wait_auth_failure()
        new = xmpp.client("alice@localhost/x", "new-password")
        assert await new.connect(server.port("c2s")) == "alice@localhost/x"
        gone = xmpp.client("bob@localhost/x", PASSWORDS["bob"])
        gone.xmpp.connect(address=("127.0.0.1", server.port("c2s")))
        await gone.wait_auth_failure()

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# raw protocol checks
# ---------------------------------------------------------------------------------------------------------------

def test_plain_refused_before_tls(hush):
    server = hush()
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        header = s.open_stream("localhost")
        assert header.tag == q(STREAM_NS, "stream")
        features = s.features()
        starttls = features.find(q(TLS_NS, "starttls"))
        assert starttls is not None, s.received_text()
        assert starttls.find(q(TLS_NS, "required")) is not None, s.received_text()
        assert features.find(q(SASL_NS, "mechanisms")) is None, "SASL offered before TLS: " + s.received_text()

        # Even with the right password, PLAIN in clear text is refused.
        answer = s.auth_plain("alice", PASSWORDS["alice"])
        assert answer.tag == q(SASL_NS, "failure"), s.received_text()
        assert answer.find(q(SASL_NS, "encryption-required")) is not None, s.received_text()


def test_raw_starttls_offers_mechanisms_and_plain_login(hush):
    server = hush()
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("localhost")
        s.features()
        s.starttls()
        s.open_stream("localhost")
        features = s.features()
        assert features.find(q(TLS_NS, "starttls")) is None, "STARTTLS offered again inside TLS"
        mechanisms = features.find(q(SASL_NS, "mechanisms"))
        assert mechanisms is not None, s.received_text()
        offered = {m.text for m in mechanisms.findall(q(SASL_NS, "mechanism"))}
        assert {"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} <= offered, offered
        answer = s.auth_plain("alice", PASSWORDS["alice"])
        assert answer.tag == q(SASL_NS, "success"), s.received_text()
        s.open_stream("localhost")
        s.features()
        assert s.bind("raw1") == "alice@localhost/raw1"


def test_stanza_before_bind_closes_stream(hush):
    """RFC 6120 §7.1: after SASL, only resource binding; anything else is <not-authorized/>, nothing delivered."""
    server = hush()
    add_users(server, "alice", "bob")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob, \
            RawStream.connect("127.0.0.1", server.port("c2s")) as alice:
        bob.login("bob", PASSWORDS["bob"], resource="r")
        alice.secure()
        assert alice.auth_plain("alice", PASSWORDS["alice"]).tag == q(SASL_NS, "success")
        alice.open_stream("localhost")
        alice.features()
        alice.send("<message to='bob@localhost/r' type='chat'><body>unbound</body></message>")
        error = alice.read_element()
        assert stream_error_condition(error) == "not-authorized", alice.received_text()
        alice.wait_closed()
        bob.send("<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = bob.read_element()
        assert reply.tag == q(CLIENT_NS, "iq") and reply.get("id") == "ping1", bob.received_text()


def test_unknown_host(hush):
    server = hush()
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("no-such-host.example")
        error = s.read_element()
        assert stream_error_condition(error) == "host-unknown", s.received_text()
        s.wait_closed()


# ---------------------------------------------------------------------------------------------------------------
# errors, limits, sessions
# ---------------------------------------------------------------------------------------------------------------

def test_message_to_unknown_account_bounces(hush, xmpp):
    server = hush()
    add_users(server, "alice")

    async def scenario():
        alice = xmpp.client("alice@localhost/x", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"))
        alice.send_message("nobody@localhost", "is anyone there?")
        error = await alice.next_message_error()
        assert error["type"] == "error"
        assert error["error"]["condition"] == "service-unavailable", str(error)
        assert error["from"].bare == "nobody@localhost", str(error)

        # A domain that can never exist (.invalid, RFC 6761: answered without asking DNS): federation bounces it.
        alice.send_message("someone@nowhere.invalid", "hello out there")
        error = await alice.next_message_error()
        assert error["error"]["condition"] == "remote-server-not-found", str(error)
        assert error["from"].bare == "someone@nowhere.invalid", str(error)

    xmpp.run(scenario())


def test_spoofed_from_is_refused(hush):
    """A client may not claim another JID in 'from': <invalid-from/>, and nothing reaches the victim."""
    server = hush()
    add_users(server, "alice", "bob")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob, \
            RawStream.connect("127.0.0.1", server.port("c2s")) as alice:
        assert bob.login("bob", PASSWORDS["bob"], resource="r") == "bob@localhost/r"
        alice.login("alice", PASSWORDS["alice"], resource="r")
        alice.send("<message to='bob@localhost/r' from='carol@localhost/x' type='chat'><body>spoof</body></message>")
        error = alice.read_element()
        assert stream_error_condition(error) == "invalid-from", alice.received_text()
        alice.wait_closed()
        # Bob's next stanza is the answer to his own ping, not the spoofed message.
        bob.send("<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = bob.read_element()
        assert reply.tag == q(CLIENT_NS, "iq") and reply.get("id") == "ping1", bob.received_text()


def test_oversized_stanza_closes_only_that_stream(hush, xmpp):
    limit = 8192
    server = hush(limits={"max_stanza_bytes": limit})
    add_users(server, "alice", "bob", "carol")

    async def scenario():
        alice = xmpp.client("alice@localhost/a", PASSWORDS["alice"])
        bob = xmpp.client("bob@localhost/b", PASSWORDS["bob"])
        carol = xmpp.client("carol@localhost/c", PASSWORDS["carol"])
        for c in (alice, bob, carol):
            await c.connect(server.port("c2s"))

        # A stanza below the limit is fine.
        carol.send_message("alice@localhost/a", "y" * (limit // 2))
        await expect_message(alice, carol, "y" * (limit // 2))

        carol.xmpp.send_raw("<message to='alice@localhost/a' type='chat'><body>" + "x" * (3 * limit)
                            + "</body></message>")
        error = await carol.next_stream_error()
        assert error["condition"] == "policy-violation", str(error)
        await carol.wait_closed()

        # The others are unaffected, and the oversized message was not delivered.
        bob.send_message("alice@localhost/a", "after the violation, to alice")
        await expect_message(alice, bob, "after the violation, to alice")
        alice.send_message("bob@localhost/b", "after the violation, to bob")
        await expect_message(bob, alice, "after the violation, to bob")

    xmpp.run(scenario())


def test_same_resource_kicks_first_session(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")

    async def scenario():
        first = xmpp.client("alice@localhost/desk", PASSWORDS["alice"])
        await first.connect(server.port("c2s"))
        second = xmpp.client("alice@localhost/desk", PASSWORDS["alice"])
        assert await second.connect(server.port("c2s")) == "alice@localhost/desk"

        error = await first.next_stream_error()
        assert error["condition"] == "conflict", str(error)
        await first.wait_closed()

        # The resource now belongs to the second session.
        bob = xmpp.client("bob@localhost/x", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"))
        bob.send_message("alice@localhost/desk", "which desk?")
        await expect_message(second, bob, "which desk?")
        assert first.messages.empty()

    xmpp.run(scenario())


def test_ping_and_disco_info_on_server(hush, xmpp):
    server = hush()
    add_users(server, "alice")

    async def scenario():
        alice = xmpp.client("alice@localhost/x", PASSWORDS["alice"])
        await alice.connect(server.port("c2s"), presence=False)
        # Raises IqError / IqTimeout unless the server answers with a result.
        await alice.ping_server()
        info = await alice.xmpp["xep_0030"].get_info(jid="localhost", timeout=TIMEOUT)
        assert info["type"] == "result"
        features = set(info["disco_info"]["features"])
        assert "http://jabber.org/protocol/disco#info" in features, features
        assert "urn:xmpp:ping" in features, features
        identities = {(i[0], i[1]) for i in info["disco_info"]["identities"]}
        assert ("server", "im") in identities, identities

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# process behaviour
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("section, line, key", [
    ("[server]\nhosts = [\"localhost\"]\nthredas = 2\n", 3, "server.thredas"),
    ("[server]\nhosts = [\"localhost\"]\n\n[limits]\nmax_stanza_bytes = 10\n", 5, "limits.max_stanza_bytes"),
], ids=["unknown-key", "out-of-range"])
def test_bad_config_exits_2_with_location(tmp_path, hush_binaries, section, line, key):
    config = tmp_path / "bad.toml"
    config.write_text(section)
    result = subprocess.run([str(hush_binaries["hushd"]), "--config", str(config)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2, result
    pattern = re.compile(rf"^{re.escape(str(config))}:{line}:\d+: {re.escape(key)}: \S", re.M)
    assert len(pattern.findall(result.stderr)) == 1, result.stderr
    assert "hushd: ready" not in result.stdout


def test_sigterm_sends_system_shutdown(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")

    async def scenario():
        alice = xmpp.client("alice@localhost/x", PASSWORDS["alice"])
        bob = xmpp.client("bob@localhost/y", PASSWORDS["bob"], mech="PLAIN")
        await alice.connect(server.port("c2s"))
        await bob.connect(server.port("c2s_direct_tls"), direct_tls=True)
        server.signal(signal.SIGTERM)
        for c in (alice, bob):
            error = await c.next_stream_error()
            assert error["condition"] == "system-shutdown", str(error)
            await c.wait_closed()

    xmpp.run(scenario())
    assert server.wait() == 0, server.describe()
