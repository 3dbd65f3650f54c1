"""XEP-0484 FAST against a real hushd from a raw client (slixmpp has no SASL2): a token asked for in a SASL2 login,
a reconnect with it in one round trip (HT-SHA-256-ENDP and -NONE, the server's answer checked), a replayed count,
another connection's binding data, rotation, invalidation, revocation with hushctl, and a new password ending the
tokens. A missing account answers as a wrong token does."""

from __future__ import annotations

import base64
import hashlib
import hmac

from test_channel_binding import b64, end_point
from test_sasl2 import BIND, BIND2_NS, PASSWORDS, add_users, s2
from xmpp_raw import CLIENT_NS, SASL_NS, RawStream, q

FAST_NS = "urn:xmpp:fast:0"
AGENT = "0b9a3f3e-1c1d-4f5e-9d55-6f1d2a3b4c5d"


def user_agent(agent: str = AGENT) -> str:
    return f"<user-agent id='{agent}'><software>hush tests</software><device>test box</device></user-agent>"


def login_for_token(server, user: str = "alice", mechanism: str = "HT-SHA-256-ENDP", agent: str = AGENT) -> str:
    """A password login asking for a token; returns the token."""
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        features = s.secure()
        fast = features.find(f"{s2('authentication')}/{s2('inline')}/{q(FAST_NS, 'fast')}")
        assert fast is not None
        assert [m.text for m in fast.findall(q(FAST_NS, "mechanism"))] == [
            "HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"]
        s.send(f"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"
               f"{b64(chr(0) + user + chr(0) + PASSWORDS[user])}</initial-response>{user_agent(agent)}"
               f"<request-token xmlns='{FAST_NS}' mechanism='{mechanism}'/>{BIND}</authenticate>")
        success = s.read_element()
        assert success.tag == s2("success"), s.received_text()
        token = success.find(q(FAST_NS, "token"))
        assert token is not None and token.get("expiry", "").endswith("Z")
        return token.get("token")


def fast_login(server, token: str, mechanism: str = "HT-SHA-256-ENDP", count: int | None = 1, user: str = "alice",
               agent: str = AGENT, extra: str = "", cb: bytes | None = None, bind: str = BIND):
    """A one-round-trip login with the token; returns (the server's answer, the stream's binding data)."""
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    s.secure()
    if cb is None:
        cb = end_point(s) if mechanism.endswith("ENDP") else b""
    proof = hmac.new(token.encode(), b"Initiator" + cb, hashlib.sha256).digest()
    counted = f" count='{count}'" if count is not None else ""
    initial = b64(user.encode() + b"\0" + proof)
    s.send(f"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='{mechanism}'><initial-response>"
           f"{initial}</initial-response>{user_agent(agent)}"
           f"<fast xmlns='{FAST_NS}'{counted}{extra}/>{bind}</authenticate>")
    answer = s.read_element()
    s.close()
    return answer, cb


def refused(answer) -> bool:
    # XEP-0484: a token the server does not take is "expired" — the client drops it and logs in another way.
    return answer.tag == s2("failure") and answer.find(q(SASL_NS, "credentials-expired")) is not None


def test_a_token_logs_in_in_one_round_trip_and_the_server_proves_it_knows_it(hush, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice")
    token = login_for_token(server)
    for count in (1, None):  # with a count, and without one as Conversations logs in
        answer, cb = fast_login(server, token, count=count)
        assert answer.tag == s2("success"), answer
        expected = hmac.new(token.encode(), b"Responder" + cb, hashlib.sha256).digest()
        assert base64.b64decode(answer.findtext(s2("additional-data"))) == expected
        assert answer.findtext(s2("authorization-identifier")).startswith("alice@localhost/Phone.")
        assert answer.find(q(BIND2_NS, "bound")) is not None
        assert answer.find(q(FAST_NS, "token")) is None  # a young token is not replaced
    # The same count again is a replay (TLS 0-RTT data, say); a lower one too; a count that is no positive number is
    # malformed, not absent.
    assert fast_login(server, token, count=2)[0].tag == s2("success")
    assert refused(fast_login(server, token, count=2)[0])
    assert refused(fast_login(server, token, count=1)[0])
    bad, _ = fast_login(server, token, count=0)
    assert bad.tag == s2("failure") and bad.find(q(SASL_NS, "malformed-request")) is not None
    assert fast_login(server, token, count=3)[0].tag == s2("success")
    # Bound to the mechanism it was asked for: a token for -ENDP does not log in without the binding (-NONE).
    assert refused(fast_login(server, token, mechanism="HT-SHA-256-NONE", count=4)[0])
    # A token asked for -NONE works with -NONE.
    plain = login_for_token(server, mechanism="HT-SHA-256-NONE", agent="a-browser")
    answer, _ = fast_login(server, plain, mechanism="HT-SHA-256-NONE", agent="a-browser")
    assert answer.tag == s2("success")
    expected = hmac.new(plain.encode(), b"Responder", hashlib.sha256).digest()
    assert base64.b64decode(answer.findtext(s2("additional-data"))) == expected


def test_wrong_tokens_other_connections_and_missing_accounts_get_one_answer(hush):
    server = hush()
    add_users(server, "alice", "bob")
    token = login_for_token(server)
    # Bound to the connection: another connection's (here: made-up) binding data fails.
    assert refused(fast_login(server, token, cb=b"\x00" * 32)[0])
    # Bound to the client: another user-agent id has no token.
    assert refused(fast_login(server, token, agent="another-client")[0])
    # Bound to the account: bob cannot use alice's token.
    assert refused(fast_login(server, token, user="bob")[0])
    # A made-up token, an existing account and a missing one: the same failure.
    existing, _ = fast_login(server, "made-up-token")
    missing, _ = fast_login(server, "made-up-token", user="nobody")
    assert refused(existing) and refused(missing)
    assert [c.tag for c in existing] == [c.tag for c in missing]
    # Asking to invalidate on a failed login ends nothing.
    assert refused(fast_login(server, "made-up-token", extra=" invalidate='true'")[0])
    # None of that spent the token.
    assert fast_login(server, token, count=5)[0].tag == s2("success")


def test_rotation_keeps_the_old_token_until_the_new_one_is_used(hush, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice")
    old = login_for_token(server)
    answer, _ = fast_login(server, old, count=1, extra="", bind=f"<request-token xmlns='{FAST_NS}' "
                                                               f"mechanism='HT-SHA-256-ENDP'/>{BIND}")
    assert answer.tag == s2("success")
    new = answer.find(q(FAST_NS, "token")).get("token")
    assert new and new != old
    # The success carrying the new one might have been lost — twice: the old one still works...
    again, _ = fast_login(server, old, count=2, bind=f"<request-token xmlns='{FAST_NS}' "
                                                    f"mechanism='HT-SHA-256-ENDP'/>{BIND}")
    assert again.tag == s2("success")
    newer = again.find(q(FAST_NS, "token")).get("token")
    assert fast_login(server, old, count=3)[0].tag == s2("success")
    # ...a token never used is replaced by the next one...
    assert refused(fast_login(server, new, count=4)[0])
    # ...and the old one goes once the new one is used.
    assert fast_login(server, newer, count=5)[0].tag == s2("success")
    assert refused(fast_login(server, old, count=6)[0])


def test_invalidate_revoke_and_a_new_password_end_tokens(hush):
    server = hush()
    add_users(server, "alice")
    # XEP-0484 invalidate: the login works, the token is gone after it (a client logging out for good).
    token = login_for_token(server)
    assert fast_login(server, token, count=1, extra=" invalidate='true'")[0].tag == s2("success")
    assert refused(fast_login(server, token, count=2)[0])

    # hushctl lists and revokes a client's tokens; a running hushd sees it at the next login.
    token = login_for_token(server)
    listed = server.hushctl("fast", "list", "alice@localhost").stdout
    assert AGENT in listed and "HT-SHA-256-ENDP" in listed
    assert fast_login(server, token, count=1)[0].tag == s2("success")
    assert "revoked 1" in server.hushctl("fast", "revoke", "alice@localhost", AGENT).stdout
    assert refused(fast_login(server, token, count=2)[0])
    assert server.hushctl("fast", "list", "alice@localhost").stdout == ""
    assert server.hushctl("fast", "revoke", "alice@localhost", check=False).returncode == 1

    # A new password ends every token.
    token = login_for_token(server)
    server.hushctl("passwd", "alice@localhost", "a-new-password-3")
    assert refused(fast_login(server, token, count=1)[0])


def test_fast_off_offers_no_tokens(hush):
    server = hush(sasl={"fast": False})
    add_users(server, "alice")
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        features = s.secure()
        assert features.find(f"{s2('authentication')}/{s2('inline')}/{q(FAST_NS, 'fast')}") is None
        s.send(f"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"
               f"{b64(chr(0) + 'alice' + chr(0) + PASSWORDS['alice'])}</initial-response>{user_agent()}"
               f"<request-token xmlns='{FAST_NS}' mechanism='HT-SHA-256-NONE'/>{BIND}</authenticate>")
        success = s.read_element()
        assert success.tag == s2("success") and success.find(q(FAST_NS, "token")) is None
    answer, _ = fast_login(server, "whatever", mechanism="HT-SHA-256-NONE")
    assert answer.tag == s2("failure") and answer.find(q(SASL_NS, "invalid-mechanism")) is not None
