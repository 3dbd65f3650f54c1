"""XEP-0388 SASL2 with XEP-0386 Bind2 and XEP-0198 inline, against a real hushd from a raw client: one exchange from
TLS to a bound session with carbons and stream management on, no stream restart; SCRAM-SHA-256-PLUS through it; a
failed password; and a dropped session resumed inside the authentication."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os

from test_channel_binding import b64, end_point
from xmpp_raw import CLIENT_NS, SASL_NS, RawStream, q

SASL2_NS = "urn:xmpp:sasl:2"
BIND2_NS = "urn:xmpp:bind:0"
SM_NS = "urn:xmpp:sm:3"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}


def s2(name: str) -> str:
    return q(SASL2_NS, name)


def add_users(server, *names: str) -> None:
    for name in names:
        server.adduser(f"{name}@localhost", PASSWORDS[name])


BIND = (f"<bind xmlns='{BIND2_NS}'><tag>Phone</tag><enable xmlns='urn:xmpp:carbons:2'/>"
        f"<enable xmlns='{SM_NS}' resume='true'/></bind>")


def plain(user: str, password: str) -> str:
    return b64(f"\0{user}\0{password}")


def authenticate_plain(s: RawStream, user: str, password: str, extra: str = BIND):
    s.send(f"<authenticate xmlns='{SASL2_NS}' mechanism='PLAIN'><initial-response>{plain(user, password)}"
           f"</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>hush tests</software>"
           f"</user-agent>{extra}</authenticate>")
    return s.read_element()


def test_one_exchange_to_a_bound_session_with_carbons_and_sm(hush):
    server = hush()
    add_users(server, "alice", "bob")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        features = s.secure()
        auth = features.find(s2("authentication"))
        assert auth is not None
        assert "SCRAM-SHA-256-PLUS" in [m.text for m in auth.findall(s2("mechanism"))]
        inline_bind = auth.find(f"{s2('inline')}/{q(BIND2_NS, 'bind')}")
        assert [f.get("var") for f in inline_bind.iter(q(BIND2_NS, "feature"))] == ["urn:xmpp:carbons:2", SM_NS]
        assert auth.find(f"{s2('inline')}/{q(SM_NS, 'sm')}") is not None

        success = authenticate_plain(s, "alice", PASSWORDS["alice"])
        assert success.tag == s2("success"), s.received_text()
        full = success.findtext(s2("authorization-identifier"))
        assert full.startswith("alice@localhost/Phone.")
        enabled = success.find(f"{q(BIND2_NS, 'bound')}/{q(SM_NS, 'enabled')}")
        assert enabled is not None and enabled.get("resume") == "true" and enabled.get("id")
        # No stream restart, no bind: the session works at once.
        s.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        pong = s.read_until(q(CLIENT_NS, "iq"))
        assert pong.get("id") == "p1" and pong.get("type") == "result" and pong.get("to") == full
        s.send(f"<r xmlns='{SM_NS}'/>")
        assert s.read_until(q(SM_NS, "a")).get("h") == "1"  # stream management is on
        # Carbons are on: what alice sends from another resource is copied here.
        with RawStream.connect("127.0.0.1", server.port("c2s")) as desk:
            desk.login("alice", PASSWORDS["alice"], resource="desk")
            desk.send("<message to='bob@localhost' type='chat' id='c1'><body>from my desk</body></message>")
            copy = s.read_until(q(CLIENT_NS, "message"))
            assert copy.find("{urn:xmpp:carbons:2}sent") is not None


def test_scram_plus_through_sasl2_and_a_wrong_password(hush):
    server = hush()
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.secure()
        failure = authenticate_plain(s, "alice", "wrong-password", extra="")
        assert failure.tag == s2("failure")
        assert failure.find(q(SASL_NS, "not-authorized")) is not None

        nonce = b64(os.urandom(18))
        gs2 = "p=tls-server-end-point,,"
        first_bare = f"n=alice,r={nonce}"
        s.send(f"<authenticate xmlns='{SASL2_NS}' mechanism='SCRAM-SHA-256-PLUS'><initial-response>"
               f"{b64(gs2 + first_bare)}</initial-response>{BIND}</authenticate>")
        challenge = s.read_element()
        assert challenge.tag == s2("challenge"), s.received_text()
        server_first = base64.b64decode(challenge.text).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORDS["alice"].encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        without_proof = "c=" + b64(gs2.encode() + end_point(s)) + ",r=" + attrs["r"]
        auth_message = ",".join([first_bare, server_first, without_proof]).encode()
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        s.send(f"<response xmlns='{SASL2_NS}'>{b64(without_proof + ',p=' + b64(proof))}</response>")
        success = s.read_element()
        assert success.tag == s2("success"), s.received_text()
        # The server proves it knew the password too: v= is ServerSignature.
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest())
        assert base64.b64decode(success.findtext(s2("additional-data"))) == expected
        assert success.find(q(BIND2_NS, "bound")) is not None


def test_a_dropped_session_resumed_inside_the_authentication(hush):
    server = hush()
    add_users(server, "alice", "bob")
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    s.secure()
    success = authenticate_plain(s, "alice", PASSWORDS["alice"])
    full = success.findtext(s2("authorization-identifier"))
    previd = success.find(f"{q(BIND2_NS, 'bound')}/{q(SM_NS, 'enabled')}").get("id")
    s.cut()
    asyncio.run(server.wait_log("connection lost; the session waits"))
    with RawStream.connect("127.0.0.1", server.port("c2s")) as bob:
        bob.login("bob", PASSWORDS["bob"], resource="desk")
        bob.send(f"<message to='{full}' type='chat' id='m1'><body>while you were away</body></message>")
        bob.send("<iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert bob.read_until(q(CLIENT_NS, "iq")).get("id") == "done"

    with RawStream.connect("127.0.0.1", server.port("c2s")) as again:
        again.secure()
        success = authenticate_plain(again, "alice", PASSWORDS["alice"],
                                     extra=f"<resume xmlns='{SM_NS}' previd='{previd}' h='0'/>{BIND}")
        assert success.tag == s2("success"), again.received_text()
        assert success.findtext(s2("authorization-identifier")) == full  # the same resource
        resumed = success.find(q(SM_NS, "resumed"))
        assert resumed is not None and resumed.get("previd") == previd
        assert success.find(q(BIND2_NS, "bound")) is None  # resumed, not bound anew
        message = again.read_until(q(CLIENT_NS, "message"))
        assert message.findtext(q(CLIENT_NS, "body")) == "while you were away"
