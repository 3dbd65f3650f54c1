"""XEP-0060 real-time blocklists end to end: a real Prosody 0.12 hosts the pubsub service; Hush subscribes to its
spam_source_domains and spam_source_jids_sha256 nodes over S2S, fetches what is listed, applies pushed items and
retractions at once, and refuses a listed sender's stranger messages."""

from __future__ import annotations

import hashlib

from federation import prosody, self_signed  # noqa: F401  (fixtures)
from test_antispim import is_error_from
from test_blocklist import start_server
from test_federation import free_port
from test_im import PASSWORDS, login

PUBSUB = "pubsub.prosody.test"


def publish(node: str, item: str) -> str:
    return (f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'><item id='{item}'>"
            "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></publish></pubsub>")


def retract(node: str, item: str) -> str:
    return (f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='{node}' notify='true'>"
            f"<item id='{item}'/></retract></pubsub>")


def test_rtbl_nodes_from_a_prosody_pubsub_service(hush, prosody, xmpp, tmp_path):
    hush_s2s = free_port()
    cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
    p = prosody("prosody.test", *cert, peers={"hush.test": hush_s2s}, pubsub=PUBSUB,
                admins=["moderator@prosody.test"]).start()
    p.register("moderator", PASSWORDS["carol"])
    p.register("bob", PASSWORDS["bob"])

    async def prepare():
        moderator = xmpp.client("moderator@prosody.test/m", PASSWORDS["carol"], mech=None)
        await login(moderator, p.c2s_port)
        for node in ("spam_source_domains", "spam_source_jids_sha256"):
            created = await moderator.iq("set", f"<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                                f"<create node='{node}'/></pubsub>", to=PUBSUB)
            assert created.xml.get("type") == "result", created
        done = await moderator.iq("set", publish("spam_source_domains", "spam1.test"), to=PUBSUB)
        assert done.xml.get("type") == "result", done
        return moderator

    moderator = xmpp.run(prepare())
    h = start_server(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port, PUBSUB: p.s2s_port},
                     antispim={"chain": ["blocklist", "challenge"]},
                     **{"antispim.rtbl": [{"service": PUBSUB,
                                           "nodes": ["spam_source_domains", "spam_source_jids_sha256"]}]})
    h.adduser("alice@hush.test", PASSWORDS["alice"])
    bob_digest = hashlib.sha256(b"bob@prosody.test").hexdigest()

    async def scenario():
        # The item published before Hush started arrives with the first fetch.
        await h.wait_log(f"antispim: rtbl {PUBSUB} spam_source_domains: 1 entry (trust: block)")
        await h.wait_log(f"antispim: rtbl subscribed to {PUBSUB} spam_source_jids_sha256")
        alice = xmpp.client("alice@hush.test/laptop", PASSWORDS["alice"])
        await login(alice, h.port("c2s"))
        bob = xmpp.client("bob@prosody.test/phone", PASSWORDS["bob"], mech=None)
        await login(bob, p.c2s_port)
        # Pushed: bob's hashed JID. His next stranger message to alice is refused.
        assert (await moderator.iq("set", publish("spam_source_jids_sha256", bob_digest), to=PUBSUB)) \
            .xml.get("type") == "result"
        await h.wait_log(f"antispim: rtbl {PUBSUB} spam_source_jids_sha256: 1 entry (trust: block)")
        bob.send_message("alice@hush.test", "cheap pills")
        err = await bob.expect_stanza(is_error_from("alice@hush.test", "policy-violation"), "Hush's refusal")
        assert "real-time blocklist" in err.xml.findtext(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text")
        assert not alice.received_matching(lambda s: (s.xml.get("from") or "").startswith("bob@"))
        # Retracted: the domain entry goes away at once.
        assert (await moderator.iq("set", retract("spam_source_domains", "spam1.test"), to=PUBSUB)) \
            .xml.get("type") == "result"
        await h.wait_log(f"antispim: rtbl {PUBSUB} spam_source_domains: 0 entries (trust: block)")

    xmpp.run(scenario())
