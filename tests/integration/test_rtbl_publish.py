"""Hush's blocklist published as a real-time blocklist (issue 19) and followed by a second Hush over real S2S.

a.test publishes what [antispim.publish] selects on its pubsub service pubsub.a.test (spam_source_domains,
spam_source_jids_sha256, spam_source_ips); b.test follows the service with [[antispim.rtbl]]. b.test fetches the
entry listed before it started and refuses the listed JID's stranger message; an entry added on a.test reaches it
as a pushed item and blocks at once; removed on a.test, it is retracted and b.test lets the sender through again.
On the way, the service's domain federates like a host: a.test's stream to b.test authenticates pubsub.a.test
with dialback (b.test asks pubsub.a.test's authoritative server, a.test, to verify it), and b.test's stream to
pubsub.a.test is accepted by a.test. Every wait is on an event (a log line, a stanza) with a deadline.
"""

from __future__ import annotations

import hashlib

from test_antispim import is_error_from
from test_blocklist import start_server
from test_federation import free_port
from test_http import call
from test_im import PASSWORDS, login

SERVICE = "pubsub.a.test"


def digest(bare: str) -> str:
    return hashlib.sha256(bare.encode()).hexdigest()


def is_chat_from(sender_bare: str, body: str):
    def match(st) -> bool:
        return (st.xml.get("type") == "chat" and (st.xml.get("from") or "").split("/")[0] == sender_bare
                and st.xml.findtext("{jabber:client}body") == body)
    return match


def test_a_second_hush_follows_the_published_blocklist_over_s2s(hush, xmpp):
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b}, http=True, antispim={"chain": ["blocklist"]})
    for user, password in (("mallory", PASSWORDS["dave"]), ("eve", PASSWORDS["carol"])):
        a.adduser(f"{user}@a.test", password)
    token = a.hushctl("token", "create", "ops").stdout.strip()

    def admin(method: str, path: str, body=None) -> None:
        res, text = call(a, method, path, body, token)
        assert res.status in (201, 204), (res.status, text)

    # Listed before b.test starts: mallory (published hashed: hash_jids is off, the node never holds JIDs) and a
    # domain and a range, which b.test fetches with the rest.
    admin("POST", "/api/blocklist", {"kind": "jid", "value": "mallory@a.test", "reason": "spam"})
    admin("POST", "/api/blocklist", {"kind": "domain", "value": "spam.test"})
    admin("POST", "/api/blocklist", {"kind": "ip", "value": "192.0.2.0/24"})

    async def published():
        await a.wait_log(f"pubsub: rtbl spam_source_jids_sha256 on {SERVICE}: 1 published, 0 retracted, 1 item(s)")
        await a.wait_log(f"pubsub: rtbl spam_source_domains on {SERVICE}: 1 published, 0 retracted, 1 item(s)")
        await a.wait_log(f"pubsub: rtbl spam_source_ips on {SERVICE}: 1 published, 0 retracted, 1 item(s)")

    xmpp.run(published())
    b = start_server(hush, "b.test", port_b, {"a.test": port_a, SERVICE: port_a},
                     antispim={"chain": ["blocklist"]}, **{"antispim.rtbl": [{"service": SERVICE}]})
    b.adduser("bob@b.test", PASSWORDS["bob"])
    jids_node = f"antispim: rtbl {SERVICE} spam_source_jids_sha256"

    async def scenario():
        # The first fetch: everything a.test listed, the JID as its digest.
        await b.wait_log(f"{jids_node}: 1 entry (trust: block)")
        await b.wait_log(f"antispim: rtbl {SERVICE} spam_source_domains: 1 entry (trust: block)")
        await b.wait_log(f"antispim: rtbl {SERVICE} spam_source_ips: 1 entry (trust: block)")
        await b.wait_log(f"antispim: rtbl subscribed to {SERVICE} spam_source_jids_sha256")
        bob = xmpp.client("bob@b.test/phone", PASSWORDS["bob"])
        await login(bob, b.port("c2s"))
        mallory = xmpp.client("mallory@a.test/bot", PASSWORDS["dave"])
        await login(mallory, a.port("c2s"))
        eve = xmpp.client("eve@a.test/laptop", PASSWORDS["carol"])
        await login(eve, a.port("c2s"))

        # What the node holds, as anyone may read it (access open): the digest, with the report payload.
        items = await eve.iq("get", "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                    "<items node='spam_source_jids_sha256'/></pubsub>", to=SERVICE)
        assert items.xml.get("type") == "result", items
        found = items.xml.findall(".//{http://jabber.org/protocol/pubsub}item")
        assert [i.get("id") for i in found] == [digest("mallory@a.test")]
        assert found[0].find("{urn:xmpp:reporting:1}report").get("reason") == "urn:xmpp:reporting:spam"

        mallory.send_message("bob@b.test", "cheap pills")
        err = await mallory.expect_stanza(is_error_from("bob@b.test", "policy-violation"), "b.test's refusal")
        assert "real-time blocklist" in err.xml.findtext(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text")

        # eve is not listed yet: a stranger, and let through (the chain is the blocklist alone).
        eve.send_message("bob@b.test", "hello before")
        await bob.expect_stanza(is_chat_from("eve@a.test", "hello before"), "eve's first message")

        # Listed on a.test: pushed to b.test as an item, which blocks at once.
        admin("POST", "/api/blocklist", {"kind": "jid", "value": "eve@a.test"})
        await b.wait_log(f"{jids_node}: 2 entries (trust: block)")
        eve.send_message("bob@b.test", "buy now")
        await eve.expect_stanza(is_error_from("bob@b.test", "policy-violation"), "b.test's refusal of eve")

        # Removed on a.test: retracted, and b.test lets her through again.
        admin("DELETE", "/api/blocklist/jid/eve@a.test")
        await a.wait_log(f"pubsub: rtbl spam_source_jids_sha256 on {SERVICE}: 0 published, 1 retracted, 1 item(s)")
        await b.wait_log_count(f"{jids_node}: 1 entry (trust: block)", 2)
        eve.send_message("bob@b.test", "sorry, hello again")
        await bob.expect_stanza(is_chat_from("eve@a.test", "sorry, hello again"), "eve's message after retraction")
        assert not bob.received_matching(lambda s: (s.xml.get("from") or "").startswith("mallory@"))
        assert not bob.received_matching(is_chat_from("eve@a.test", "buy now"))

        # An open-publish node on the service (docs/pubsub.md): a right that comes from the publish model alone is
        # for a.test's accounts. bob, of another server, may subscribe and read, never publish: what he published
        # would reach every subscriber from a.test's own service, past its anti-SPIM layer.
        ps = "http://jabber.org/protocol/pubsub"
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                "<value>http://jabber.org/protocol/pubsub#node_config</value></field>"
                "<field var='pubsub#publish_model'><value>open</value></field></x>")
        created = await eve.iq("set", f"<pubsub xmlns='{ps}'><create node='lobby'/><configure>{form}</configure>"
                                      "</pubsub>", to=SERVICE)
        assert created.xml.get("type") == "result", created
        item = "<item><entry xmlns='http://www.w3.org/2005/Atom'><title>hi</title></entry></item>"
        refused = await bob.iq("set", f"<pubsub xmlns='{ps}'><publish node='lobby'>{item}</publish></pubsub>",
                               to=SERVICE)
        assert refused.xml.get("type") == "error", refused
        assert refused.xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None
        accepted = await eve.iq("set", f"<pubsub xmlns='{ps}'><publish node='lobby'>{item}</publish></pubsub>",
                                to=SERVICE)
        assert accepted.xml.get("type") == "result", accepted

    xmpp.run(scenario())

    # What b.test holds came from the nodes: ids only (the JID as its digest), nothing in clear.
    b_log = b.stderr_text()
    assert f"blocked-jid-sha256:{digest('mallory@a.test')}" in b_log, b.describe()

    # The service's domain federated like a host, both ways, with dialback (self-signed certificates).
    a_log = a.stderr_text()
    assert f"authenticated as {SERVICE} (dialback)" in a_log, a.describe()         # a's stream to b.test
    assert f"dialback key of {SERVICE} for b.test" in a_log, a.describe()           # a, authoritative for it
    assert f"b.test authenticated for {SERVICE} (dialback)" in a_log, a.describe()  # b's stream to the service
    assert f"{SERVICE} authenticated for b.test (dialback)" in b_log, b.describe()

