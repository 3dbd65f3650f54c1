"""SCRAM-*-PLUS with channel binding (RFC 5802, XEP-0440) against a real hushd, from a raw client that binds to the
TLS connection it has: tls-server-end-point (RFC 5929), which a client computes from the server's certificate.
(tls-exporter, Hush's first choice, needs TLS keying-material export, which Python's ssl module does not expose;
the unit tests cover it with OpenSSL on both sides.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from xmpp_raw import SASL_NS, RawStream, q

CB_NS = "urn:xmpp:sasl-cb:0"
PASSWORD = "alice-secret-1"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def scram_plus(s: RawStream, user: str, password: str, cb_type: str, cb_data: bytes,
               mechanism: str = "SCRAM-SHA-256-PLUS"):
    """One SCRAM-SHA-256-PLUS exchange; returns the server's last element (<success/> or <failure/>)."""
    nonce = b64(os.urandom(18))
    gs2 = f"p={cb_type},,"
    first_bare = f"n={user},r={nonce}"
    s.send(f"<auth xmlns='{SASL_NS}' mechanism='{mechanism}'>{b64(gs2 + first_bare)}</auth>")
    challenge = s.read_element()
    if challenge.tag != q(SASL_NS, "challenge"):
        return challenge
    server_first = base64.b64decode(challenge.text).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = "c=" + b64(gs2.encode() + cb_data) + ",r=" + attrs["r"]
    auth_message = ",".join([first_bare, server_first, without_proof]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    s.send(f"<response xmlns='{SASL_NS}'>{b64(without_proof + ',p=' + b64(proof))}</response>")
    return s.read_element()


def secured(server) -> tuple[RawStream, list[str], list[str]]:
    """A raw stream after STARTTLS, with the mechanisms and channel-binding types offered."""
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    features = s.secure()
    mechanisms = [m.text for m in features.find(q(SASL_NS, "mechanisms"))]
    binding = features.find(q(CB_NS, "sasl-channel-binding"))
    types = [b.get("type") for b in binding] if binding is not None else []
    return s, mechanisms, types


def end_point(s: RawStream) -> bytes:
    # The server's certificate is ECDSA with SHA-256: its hash for tls-server-end-point is SHA-256 (RFC 5929 §4.1).
    return hashlib.sha256(s.sock.getpeercert(binary_form=True)).digest()


def test_scram_plus_binds_to_the_connection(hush):
    server = hush()
    server.adduser("alice@localhost", PASSWORD)
    s, mechanisms, types = secured(server)
    with s:
        assert mechanisms[:2] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
        assert types == ["tls-exporter", "tls-server-end-point"]
        answer = scram_plus(s, "alice", PASSWORD, "tls-server-end-point", end_point(s))
        assert answer.tag == q(SASL_NS, "success"), s.received_text()


def test_scram_plus_with_another_connections_data_fails(hush):
    """What a relay in the middle would present: the right password, bound to a different TLS connection."""
    server = hush()
    server.adduser("alice@localhost", PASSWORD)
    s, _, _ = secured(server)
    with s:
        answer = scram_plus(s, "alice", PASSWORD, "tls-server-end-point", hashlib.sha256(b"another certificate").digest())
        assert answer.tag == q(SASL_NS, "failure")
        assert answer.find(q(SASL_NS, "not-authorized")) is not None
        # tls-unique is not offered (TLS 1.3 has none): refused at once, without a challenge.
        answer = scram_plus(s, "alice", PASSWORD, "tls-unique", b"x" * 12)
        assert answer.tag == q(SASL_NS, "failure")


def test_a_downgraded_client_fails_when_strict(hush):
    """A client that can bind but saw no -PLUS offer says "y": the server did offer it, so someone may have removed
    it. With [sasl] strict_channel_binding that fails (RFC 5802 §6); by default it is let through, for clients that
    can bind only to tls-unique (slixmpp, whose logins the rest of the suite is made of)."""
    server = hush(sasl={"strict_channel_binding": True})
    server.adduser("alice@localhost", PASSWORD)
    s, _, _ = secured(server)
    with s:
        first = "y,,n=alice,r=" + b64(os.urandom(18))
        s.send(f"<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{b64(first)}</auth>")
        answer = s.read_element()
        assert answer.tag == q(SASL_NS, "failure")
        assert answer.find(q(SASL_NS, "not-authorized")) is not None
