"""The server's XEP-0115 caps cache end to end (what PEP's +notify filtering reads, XEP-0163 §4): a slixmpp client
whose presence announces caps is asked for its disco#info (node#ver) once, and the answer is kept when it hashes to
the ver — a second client announcing the same ver is known at once, without a query; an answer that does not hash to
its ver is refused. The query comes from the account's bare JID, as XEP-0163 PEP services ask. Observed through hushd's debug log ("caps: <full JID> has N features"), the hush_caps_vers metric
and what the clients received; every wait is on an event, with a deadline.
"""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET

from test_im import add_users, im_client, settle
from xmpp_raw import CLIENT_NS, q

CAPS_NS = "http://jabber.org/protocol/caps"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
NOTIFY = "urn:xmpp:avatar:metadata+notify"


def start(hush):
    return hush(listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                        {"kind": "http", "address": "127.0.0.1", "port": 0}])


def metric(server, name: str) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return line.split(" ", 1)[1]
    return None


def is_caps_query(st) -> bool:
    e = st.xml
    query = e.find(q(DISCO_INFO_NS, "query"))
    # Asked by the account's PEP service: from the account's bare JID (XEP-0163 services do so).
    sender = e.get("from") or ""
    return (e.tag == q(CLIENT_NS, "iq") and e.get("type") == "get" and "@" in sender and "/" not in sender
            and query is not None and "#" in (query.get("node") or ""))


async def caps_client(xmpp, server, jid: str):
    """A client with XEP-0115 (and a +notify interest), logged in, its caps computed; no presence sent yet.
    Returns (client, number of features its disco#info lists)."""
    client = im_client(xmpp, jid, "xep_0115")
    await client.connect(server.port(), presence=False)
    client.xmpp["xep_0030"].add_feature(NOTIFY)
    await client.xmpp["xep_0115"].update_caps(broadcast=False)
    info = await client.xmpp["xep_0030"].get_info(local=True)
    return client, len(info["features"])


def test_caps_are_asked_once_verified_and_cached(hush, xmpp):
    server = start(hush)
    add_users(server, "alice", "bob")

    async def scenario():
        alice, features = await caps_client(xmpp, server, "alice@localhost/phone")
        alice.xmpp.send_presence()
        await server.wait_log(f"caps: alice@localhost/phone has {features} features")
        assert len(alice.received_matching(is_caps_query)) == 1
        assert metric(server, "hush_caps_vers") == "1"

        # The same client software: the same ver, known at once — nothing asked.
        bob, bob_features = await caps_client(xmpp, server, "bob@localhost/pc")
        assert bob_features == features
        bob.xmpp.send_presence()
        await server.wait_log(f"caps: bob@localhost/pc has {features} features")
        await settle(bob, alice)
        assert bob.received_matching(is_caps_query) == []
        assert len(alice.received_matching(is_caps_query)) == 1
        assert metric(server, "hush_caps_vers") == "1"

    xmpp.run(scenario())


def test_an_answer_that_does_not_hash_to_the_ver_is_not_cached(hush, xmpp):
    server = start(hush)
    add_users(server, "carol")

    async def scenario():
        carol = im_client(xmpp, "carol@localhost/desk")
        await carol.connect(server.port(), presence=False)
        # Announces a ver its disco#info for that node does not hash to.
        node, ver = "https://client.example/caps", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
        info = await carol.xmpp["xep_0030"].get_info(local=True)
        await carol.xmpp["xep_0030"].set_info(node=f"{node}#{ver}", info=info)
        presence = carol.xmpp.make_presence()
        presence.appendxml(ET.Element(f"{{{CAPS_NS}}}c", {"hash": "sha-1", "node": node, "ver": ver}))
        presence.send()
        await server.wait_log(f"caps: carol@localhost/desk's disco#info does not hash to its ver {ver}")
        assert len(carol.received_matching(is_caps_query)) == 1
        assert metric(server, "hush_caps_vers") == "0"
        assert "caps: carol@localhost/desk has" not in server.stderr_text()

    xmpp.run(scenario())
