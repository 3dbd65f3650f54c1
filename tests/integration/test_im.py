"""The IM core end to end: RFC 6121 rosters, subscriptions and presence, roster versioning, XEP-0160 offline messages
(with XEP-0203 delay), XEP-0191 blocking, XEP-0016 privacy lists, XEP-0280 carbons, XEP-0352 CSI, the stream
features and XEP-0115 caps, and the per-account services (vcard-temp, private XML storage, last activity, XEP-0077).

Every test starts its own hushd (conftest.py); users are made with hushctl. Clients are slixmpp (with automatic
subscription handling turned off: the tests answer requests themselves) or raw sockets (xmpp_raw.py). Every
stanza a slixmpp client receives lands in its inbox (Client.expect_stanza / received_matching). Negative checks
("bob received nothing") use a barrier instead of a sleep: the client pings the server after the event that could
have produced the stanza; the server queues stanzas for a session in order, so anything it delivered before the
ping's answer has arrived by then.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import TIMEOUT
from xmpp_raw import BIND_NS, CLIENT_NS, SASL_NS, STANZAS_ERR_NS, RawStream, q

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3", "dave": "dave-secret-4"}

ROSTER_NS = "jabber:iq:roster"
BLOCKING_NS = "urn:xmpp:blocking"
BLOCKING_ERRORS_NS = "urn:xmpp:blocking:errors"
PRIVACY_NS = "jabber:iq:privacy"
CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
DELAY_NS = "urn:xmpp:delay"
CSI_NS = "urn:xmpp:csi:0"
CAPS_NS = "http://jabber.org/protocol/caps"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DATA_FORMS_NS = "jabber:x:data"
VCARD_NS = "vcard-temp"
PRIVATE_NS = "jabber:iq:private"
LAST_NS = "jabber:iq:last"
REGISTER_NS = "jabber:iq:register"
REGISTER_FEATURE_NS = "http://jabber.org/features/iq-register"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def add_users(server, *names: str) -> None:
    for name in names:
        server.adduser(f"{name}@localhost", PASSWORDS[name])


def im_client(xmpp, jid: str, *plugins: str):
    """A conftest Client for jid ('alice@localhost/phone') that leaves subscription requests to the test."""
    client = xmpp.client(jid, PASSWORDS[jid.split("@")[0]])
    client.xmpp.auto_authorize = None  # slixmpp would otherwise approve every request itself...
    client.xmpp.auto_subscribe = False  # ...and ask back
    for plugin in plugins:
        client.xmpp.register_plugin(plugin)
    return client


async def login(client, port: int, roster: bool = True, presence: bool = True, status: str | None = None) -> None:
    """Connect; fetch the roster (the resource then gets roster pushes and subscription requests, RFC 6121
    §2.1.6, §3.1.3); send initial presence. Returns once the server has handled all of it."""
    await client.connect(port, presence=False)
    if roster:
        result = await client.iq("get", f"<query xmlns='{ROSTER_NS}'/>")
        assert result["type"] == "result", str(result)
    if presence:
        client.xmpp.send_presence(pstatus=status)
    await client.ping_server()


async def settle(*clients) -> None:
    """Barrier: each client in turn pings the server and waits for the answer."""
    for client in clients:
        await client.ping_server()


def bare(jid: str | None) -> str:
    return (jid or "").split("/")[0]


# ---- predicates over received stanzas (slixmpp stanza objects; .xml is the ElementTree element) -----------------

def is_presence(sender: str, ptype: str | None = None, status: str | None = None):
    """Presence from exactly `sender` (a full or bare JID as the server stamps it), of type ptype (None: available)."""
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "presence") and e.get("from") == sender and e.get("type") == ptype
                and (status is None or e.findtext(q(CLIENT_NS, "status")) == status))
    return match


def is_any_presence_from(sender_bare: str):
    def match(st) -> bool:
        return st.xml.tag == q(CLIENT_NS, "presence") and bare(st.xml.get("from")) == sender_bare
    return match


def is_roster_push(contact: str | None = None, subscription: str | None = None):
    """A roster push (for this contact, with this subscription state, when given). The server may push an item
    again without a visible change (e.g. when a request makes it 'pending in', which items do not show), so tests
    wait for the state they expect rather than for the next push."""
    def match(st) -> bool:
        e = st.xml
        if e.tag != q(CLIENT_NS, "iq") or e.get("type") != "set":
            return False
        item = e.find(f"{q(ROSTER_NS, 'query')}/{q(ROSTER_NS, 'item')}")
        return (item is not None and (contact is None or item.get("jid") == contact)
                and (subscription is None or item.get("subscription") == subscription))
    return match


def push_item(st) -> ET.Element:
    return st.xml.find(f"{q(ROSTER_NS, 'query')}/{q(ROSTER_NS, 'item')}")


def push_ver(st) -> str | None:
    return st.xml.find(q(ROSTER_NS, "query")).get("ver")


def is_message(body: str | None = None, sender: str | None = None):
    """A message that is not an error, with this body (when given), from this JID (when given)."""
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") != "error"
                and (body is None or e.findtext(q(CLIENT_NS, "body")) == body)
                and (sender is None or e.get("from") == sender))
    return match


def is_error(kind: str, body: str | None = None):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, kind) and e.get("type") == "error"
                and (body is None or e.findtext(q(CLIENT_NS, "body")) == body))
    return match


def error_condition(st_or_element) -> str | None:
    e = getattr(st_or_element, "xml", st_or_element)
    error = e.find(q(CLIENT_NS, "error"))
    if error is None:
        return None
    for child in error:
        if child.tag.startswith("{%s}" % STANZAS_ERR_NS) and child.tag != q(STANZAS_ERR_NS, "text"):
            return child.tag.split("}", 1)[1]
    return None


def is_carbon(direction: str):
    def match(st) -> bool:
        return st.xml.tag == q(CLIENT_NS, "message") and st.xml.find(q(CARBONS_NS, direction)) is not None
    return match


def roster_items(iq_result) -> dict[str, ET.Element]:
    query = iq_result.xml.find(q(ROSTER_NS, "query"))
    assert query is not None, str(iq_result)
    return {item.get("jid"): item for item in query.findall(q(ROSTER_NS, "item"))}


async def get_roster(client, ver: str | None = None):
    ver_attr = "" if ver is None else f" ver='{ver}'"
    result = await client.iq("get", f"<query xmlns='{ROSTER_NS}'{ver_attr}/>")
    assert result["type"] == "result", str(result)
    return result


async def subscribe(subscriber, contact) -> None:
    """subscriber asks for contact's presence; contact (online, roster fetched) approves; subscriber then gets the
    contact's presence (RFC 6121 §3.1.5)."""
    s_bare, c_bare = subscriber.xmpp.boundjid.bare, contact.xmpp.boundjid.bare
    subscriber.xmpp.send_presence(pto=c_bare, ptype="subscribe")
    await contact.expect_stanza(is_presence(s_bare, "subscribe"), f"subscription request from {s_bare}")
    contact.xmpp.send_presence(pto=s_bare, ptype="subscribed")
    await subscriber.expect_stanza(is_presence(c_bare, "subscribed"), f"subscription approval from {c_bare}")
    await subscriber.expect_stanza(is_presence(contact.jid), f"{contact.jid}'s presence after the approval")


async def befriend(a, b) -> None:
    """Mutual subscription (both online, both fetched their roster)."""
    await subscribe(a, b)
    await subscribe(b, a)
    await settle(a, b)


# ---------------------------------------------------------------------------------------------------------------
# 1. subscriptions both ways, presence broadcast, probes
# ---------------------------------------------------------------------------------------------------------------

def test_mutual_subscription_and_presence(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/phone")
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(alice, port)
        await login(bob, port)

        # alice -> bob: subscribe. Her roster gets bob with ask='subscribe'; bob gets the request from her bare JID.
        alice.xmpp.send_presence(pto="bob@localhost", ptype="subscribe")
        push = push_item(await alice.expect_stanza(is_roster_push("bob@localhost", "none"), "push: bob, none"))
        assert push.get("ask") == "subscribe", ET.tostring(push)
        await bob.expect_stanza(is_presence("alice@localhost", "subscribe"), "alice's subscription request")

        # bob approves: his roster gets alice 'from'; alice gets 'subscribed', 'to' in her roster, and his presence.
        bob.xmpp.send_presence(pto="alice@localhost", ptype="subscribed")
        push = push_item(await bob.expect_stanza(is_roster_push("alice@localhost", "from"), "push: alice, from"))
        assert push.get("ask") is None, ET.tostring(push)
        await alice.expect_stanza(is_presence("bob@localhost", "subscribed"), "bob's approval")
        push = push_item(await alice.expect_stanza(is_roster_push("bob@localhost", "to"), "push: bob, to"))
        assert push.get("ask") is None, ET.tostring(push)
        await alice.expect_stanza(is_presence(bob.jid), "bob's available presence")

        # And the other way round.
        bob.xmpp.send_presence(pto="alice@localhost", ptype="subscribe")
        push = push_item(await bob.expect_stanza(
            lambda st: is_roster_push("alice@localhost", "from")(st) and push_item(st).get("ask") == "subscribe",
            "push: alice, from, ask=subscribe"))
        await alice.expect_stanza(is_presence("bob@localhost", "subscribe"), "bob's subscription request")
        alice.xmpp.send_presence(pto="bob@localhost", ptype="subscribed")
        push = push_item(await alice.expect_stanza(is_roster_push("bob@localhost", "both"), "push: bob, both"))
        assert push.get("ask") is None, ET.tostring(push)
        await bob.expect_stanza(is_presence("alice@localhost", "subscribed"), "alice's approval")
        push = push_item(await bob.expect_stanza(is_roster_push("alice@localhost", "both"), "push: alice, both"))
        assert push.get("ask") is None, ET.tostring(push)
        await bob.expect_stanza(is_presence(alice.jid), "alice's available presence")

        # Both rosters, fetched anew, say 'both'.
        for client, contact in ((alice, "bob@localhost"), (bob, "alice@localhost")):
            items = roster_items(await get_roster(client))
            assert set(items) == {contact}, items
            assert items[contact].get("subscription") == "both", ET.tostring(items[contact])
            assert items[contact].get("ask") is None, ET.tostring(items[contact])

        # Presence changes reach the other side, stamped with the sender's full JID.
        alice.xmpp.send_presence(pshow="dnd", pstatus="in a meeting")
        await bob.expect_stanza(is_presence(alice.jid, status="in a meeting"), "alice's new status")
        bob.xmpp.send_presence(pshow="away", pstatus="lunch")
        await alice.expect_stanza(is_presence(bob.jid, status="lunch"), "bob's new status")

        # bob goes away without a word: alice sees him unavailable.
        await bob.disconnect()
        await alice.expect_stanza(is_presence("bob@localhost/laptop", "unavailable"), "bob's unavailable presence")

        # bob comes back on another resource: his initial presence reaches alice, and the server's probe brings
        # him alice's current presence.
        bob2 = im_client(xmpp, "bob@localhost/desk")
        await login(bob2, port, status="back")
        await alice.expect_stanza(is_presence("bob@localhost/desk", status="back"), "bob's initial presence")
        await bob2.expect_stanza(is_presence(alice.jid, status="in a meeting"), "alice's presence (probe answer)")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 2. roster pushes to other resources, roster versioning
# ---------------------------------------------------------------------------------------------------------------

def test_roster_push_and_versioning(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice")
    port = server.port("c2s")

    async def scenario():
        one = im_client(xmpp, "alice@localhost/one")
        two = im_client(xmpp, "alice@localhost/two")
        silent = im_client(xmpp, "alice@localhost/silent")  # never asks for the roster: no pushes (§2.1.6)
        await login(one, port)
        await login(two, port)
        await login(silent, port, roster=False)

        result = await one.iq("set", f"<query xmlns='{ROSTER_NS}'><item jid='carol@localhost' name='Carol'>"
                                     "<group>Friends</group></item></query>")
        assert result["type"] == "result", str(result)
        push = await two.expect_stanza(is_roster_push("carol@localhost"), "roster push for carol on 'two'")
        item = push_item(push)
        assert item.get("name") == "Carol" and item.get("subscription") == "none", ET.tostring(item)
        assert [g.text for g in item.findall(q(ROSTER_NS, "group"))] == ["Friends"], ET.tostring(item)
        assert push_ver(push), "roster push without 'ver' although the server offers roster versioning"
        await one.expect_stanza(is_roster_push("carol@localhost"), "roster push for carol on 'one' (the setter)")
        await settle(silent)
        assert not silent.received_matching(is_roster_push()), "roster push to a resource that never asked"

        for contact in ("erin@localhost", "frank@localhost"):
            result = await one.iq("set", f"<query xmlns='{ROSTER_NS}'><item jid='{contact}'/></query>")
            assert result["type"] == "result", str(result)
            await two.expect_stanza(is_roster_push(contact), f"roster push for {contact}")

        full = await get_roster(two)
        version = full.xml.find(q(ROSTER_NS, "query")).get("ver")
        assert version, f"no 'ver' in the roster result: {full}"
        assert set(roster_items(full)) == {"carol@localhost", "erin@localhost", "frank@localhost"}

        # The current version: an empty result (§2.6.3), and no pushes after it.
        two.inbox.clear()
        unchanged = await get_roster(two, ver=version)
        query = unchanged.xml.find(q(ROSTER_NS, "query"))
        assert query is None or len(query) == 0, f"items sent although the version is current: {unchanged}"
        await settle(two)
        assert not two.received_matching(is_roster_push()), "roster pushes after a get with the current version"

        # Changes after that version: carol renamed, dave added, erin removed; frank untouched.
        for payload in ("<item jid='carol@localhost' name='Caroline'><group>Friends</group></item>",
                        "<item jid='dave@localhost' name='Dave'/>",
                        "<item jid='erin@localhost' subscription='remove'/>"):
            result = await one.iq("set", f"<query xmlns='{ROSTER_NS}'>{payload}</query>")
            assert result["type"] == "result", str(result)

        # A new resource that cached the old version gets an empty result, then only the changes as pushes.
        late = im_client(xmpp, "alice@localhost/late")
        await login(late, port, roster=False)
        delta = await get_roster(late, ver=version)
        query = delta.xml.find(q(ROSTER_NS, "query"))
        assert query is None or len(query) == 0, f"the full roster instead of the changes: {delta}"
        pushes = {}
        for contact in ("carol@localhost", "dave@localhost", "erin@localhost"):
            pushes[contact] = await late.expect_stanza(is_roster_push(contact), f"delta push for {contact}")
        assert push_item(pushes["carol@localhost"]).get("name") == "Caroline"
        assert push_item(pushes["dave@localhost"]).get("name") == "Dave"
        assert push_item(pushes["erin@localhost"]).get("subscription") == "remove"
        await settle(late)
        assert not late.received_matching(is_roster_push("frank@localhost")), "unchanged item pushed in a delta"

        # 'ver' is opaque: the current one is that of one of the pushes, and it is what the next get sends.
        current = (await get_roster(late)).xml.find(q(ROSTER_NS, "query")).get("ver")
        assert current in {push_ver(p) for p in pushes.values()}, (current, [push_ver(p) for p in pushes.values()])
        late.inbox.clear()
        again = await get_roster(late, ver=current)
        query = again.xml.find(q(ROSTER_NS, "query"))
        assert query is None or len(query) == 0, str(again)
        await settle(late)
        assert not late.received_matching(is_roster_push())

    xmpp.run(scenario())


def test_roster_remove_cancels_subscriptions(hush, xmpp):
    """RFC 6121 §2.5.2: removing an item cancels both subscriptions (unsubscribe and unsubscribed to the contact);
    the contact stops seeing the user's presence and its roster item drops to 'none'."""
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)

        result = await alice.iq("set", f"<query xmlns='{ROSTER_NS}'><item jid='bob@localhost' "
                                       "subscription='remove'/></query>")
        assert result["type"] == "result", str(result)
        await alice.expect_stanza(is_roster_push("bob@localhost", "remove"), "push: bob removed")
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribe"), "alice's unsubscribe")
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribed"), "alice's unsubscribed")
        await bob.expect_stanza(is_roster_push("alice@localhost", "none"), "push: alice, none")
        assert roster_items(await get_roster(alice)) == {}
        items = roster_items(await get_roster(bob))
        assert items["alice@localhost"].get("subscription") == "none", ET.tostring(items["alice@localhost"])

        # Neither sees the other's presence any more.
        bob.inbox.clear()
        alice.inbox.clear()
        alice.xmpp.send_presence(pstatus="alice after the removal")
        bob.xmpp.send_presence(pstatus="bob after the removal")
        await settle(alice, bob, alice)
        assert not bob.received_matching(is_presence(alice.jid, status="alice after the removal"))
        assert not alice.received_matching(is_presence(bob.jid, status="bob after the removal"))

    xmpp.run(scenario())


def test_roster_remove_sends_unavailable_to_contact(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        result = await alice.iq("set", f"<query xmlns='{ROSTER_NS}'><item jid='bob@localhost' "
                                       "subscription='remove'/></query>")
        assert result["type"] == "result", str(result)
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribed"), "alice's unsubscribed")
        await settle(alice, bob)
        assert bob.received_matching(is_presence(alice.jid, "unavailable")), \
            "bob no longer subscribed to alice, but never told she is unavailable"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 3. offline messages (XEP-0160) with delay stamps (XEP-0203), across a restart, with a quota
# ---------------------------------------------------------------------------------------------------------------

def parse_stamp(stamp: str) -> datetime.datetime:
    """XEP-0082 DateTime, UTC 'Z' or an offset, optional fractions of a second."""
    value = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert value.tzinfo is not None, f"delay stamp without a time zone: {stamp!r}"
    return value


def delay_of(st) -> ET.Element:
    delay = st.xml.find(q(DELAY_NS, "delay"))
    assert delay is not None, f"offline message without <delay xmlns='{DELAY_NS}'/>: {st}"
    return delay


def test_offline_messages_with_delay_restart_and_quota(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, limits={"max_offline_messages": 2})
    add_users(server, "alice", "bob")

    async def check_delivered(bob, alice_jid: str, bodies: list[str], sent_after: float) -> None:
        for body in bodies:
            msg = await bob.expect_stanza(is_message(body), f"offline message {body!r}")
            assert msg.xml.get("from") == alice_jid, str(msg)
            stamp = parse_stamp(delay_of(msg).get("stamp"))
            # The server stamps whole seconds: allow for the truncation.
            assert sent_after - 1 <= stamp.timestamp() <= time.time() + 1, (stamp, sent_after)
        await settle(bob)
        assert [m.xml.findtext(q(CLIENT_NS, "body")) for m in bob.received_matching(is_message())] == [], \
            "more messages than were stored"

    async def phase1():
        alice = im_client(xmpp, "alice@localhost/a")
        await login(alice, server.port("c2s"))
        sent_after = time.time()
        alice.send_message("bob@localhost", "while you were out")
        await settle(alice)
        assert not alice.received_matching(is_error("message")), "storing for an offline account failed"
        bob = im_client(xmpp, "bob@localhost/b")
        await login(bob, server.port("c2s"))
        await check_delivered(bob, alice.jid, ["while you were out"], sent_after)
        # Delivered once: the next login finds nothing.
        await bob.disconnect()
        bob_again = im_client(xmpp, "bob@localhost/b")
        await login(bob_again, server.port("c2s"))
        assert not bob_again.received_matching(is_message()), "offline message delivered twice"
        await bob_again.disconnect()

        # Up to the quota (2) they are stored; chat states alone are not worth storing and use no slot; the one
        # beyond the quota is refused with <resource-constraint/>.
        sent_after = time.time()
        alice.send_message("bob@localhost", "first of two")
        alice.xmpp.send_raw("<message to='bob@localhost' type='chat'>"
                            "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
        alice.send_message("bob@localhost/b", "second of two, to a resource that is gone")
        await settle(alice)
        assert not alice.received_matching(is_error("message")), "a message within the quota was refused"
        alice.send_message("bob@localhost", "one too many")
        error = await alice.expect_stanza(is_error("message", "one too many"), "the over-quota error")
        assert error_condition(error) == "resource-constraint", str(error)
        await alice.disconnect()
        return alice.jid, sent_after

    alice_jid, sent_after = xmpp.run(phase1())

    # Stored means stored: a new hushd on the same data directory / database still has them.
    server.restart()

    async def phase2():
        bob = im_client(xmpp, "bob@localhost/b")
        await login(bob, server.port("c2s"))
        await check_delivered(bob, alice_jid, ["first of two", "second of two, to a resource that is gone"],
                              sent_after)

    xmpp.run(phase2())


# ---------------------------------------------------------------------------------------------------------------
# 4. a subscription request to an offline account
# ---------------------------------------------------------------------------------------------------------------

def test_subscription_request_while_offline(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        await login(alice, port)
        alice.xmpp.send_presence(pto="bob@localhost", ptype="subscribe")
        push = push_item(await alice.expect_stanza(is_roster_push("bob@localhost"), "roster push for bob"))
        assert push.get("ask") == "subscribe", ET.tostring(push)
        await settle(alice)

        # bob logs in later: roster first, then initial presence; the request is waiting for him.
        bob = im_client(xmpp, "bob@localhost/b")
        await bob.connect(port, presence=False)
        await get_roster(bob)
        bob.xmpp.send_presence()
        await bob.expect_stanza(is_presence("alice@localhost", "subscribe"), "the stored subscription request")

        bob.xmpp.send_presence(pto="alice@localhost", ptype="subscribed")
        await alice.expect_stanza(is_presence("bob@localhost", "subscribed"), "bob's approval")
        push = push_item(await alice.expect_stanza(is_roster_push("bob@localhost", "to"), "push: bob, to"))
        assert push.get("ask") is None, ET.tostring(push)
        await alice.expect_stanza(is_presence(bob.jid), "bob's presence after his approval")
        items = roster_items(await get_roster(bob))
        assert items["alice@localhost"].get("subscription") == "from", ET.tostring(items["alice@localhost"])

        # Answered requests are not redelivered.
        await bob.disconnect()
        bob2 = im_client(xmpp, "bob@localhost/b2")
        await login(bob2, port)
        assert not bob2.received_matching(is_presence("alice@localhost", "subscribe")), "answered request again"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 5. XEP-0191 blocking
# ---------------------------------------------------------------------------------------------------------------

async def blocklist(client) -> set[str]:
    result = await client.xmpp["xep_0191"].get_blocked(timeout=TIMEOUT)
    element = result.xml.find(q(BLOCKING_NS, "blocklist"))
    assert element is not None, str(result)
    return {item.get("jid") for item in element.findall(q(BLOCKING_NS, "item"))}


def test_blocking_command(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a", "xep_0191")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)
        assert await blocklist(bob) == set()

        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        push = await bob.expect_stanza(lambda st: st.xml.find(q(BLOCKING_NS, "block")) is not None, "block push")
        assert [i.get("jid") for i in push.xml.find(q(BLOCKING_NS, "block"))] == ["alice@localhost"], str(push)
        # §3.3: alice (subscribed to bob) now sees bob go offline.
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")
        assert await blocklist(bob) == {"alice@localhost"}

        # alice's message: an error for her (service-unavailable, as if bob were offline), nothing for bob.
        bob.inbox.clear()
        alice.send_message(bob.jid, "can you hear me?")
        error = await alice.expect_stanza(is_error("message", "can you hear me?"), "an error for the blocked sender")
        assert error_condition(error) == "service-unavailable", str(error)
        # An iq to one of bob's resources: an error too (bob's slixmpp would answer a ping otherwise).
        ping = await alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=bob.jid)
        assert ping["type"] == "error" and error_condition(ping) == "service-unavailable", str(ping)
        # alice's presence changes do not reach bob (bob's not reaching alice: test_blocked_contact_sees_no_presence).
        alice.xmpp.send_presence(pstatus="still here")
        await settle(alice, bob)
        assert not bob.received_matching(is_message()), "bob received a message from the JID he blocked"
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), "bob sees alice's presence"

        # bob writing to alice: <not-acceptable/> with <blocked/> (§3.5), and nothing reaches alice.
        alice.inbox.clear()
        bob.send_message("alice@localhost", "talking to someone I blocked")
        error = await bob.expect_stanza(is_error("message"), "an error for writing to a blocked JID")
        assert error_condition(error) == "not-acceptable", str(error)
        assert error.xml.find(f"{q(CLIENT_NS, 'error')}/{q(BLOCKING_ERRORS_NS, 'blocked')}") is not None, str(error)
        await settle(alice)
        assert not alice.received_matching(is_message()), "a message to a blocked JID was delivered"

        # Others are not affected.
        carol.send_message(bob.jid, "hi bob, carol here")
        await bob.expect_stanza(is_message("hi bob, carol here", carol.jid), "carol's message")

        # Unblocking restores delivery both ways.
        await bob.xmpp["xep_0191"].unblock("alice@localhost", timeout=TIMEOUT)
        await bob.expect_stanza(lambda st: st.xml.find(q(BLOCKING_NS, "unblock")) is not None, "unblock push")
        assert await blocklist(bob) == set()
        alice.send_message(bob.jid, "and now?")
        await bob.expect_stanza(is_message("and now?", alice.jid), "alice's message after the unblock")
        bob.send_message(alice.jid, "loud and clear")
        await alice.expect_stanza(is_message("loud and clear", bob.jid), "bob's message after the unblock")

    xmpp.run(scenario())


def test_unblock_sends_current_presence(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        await login(alice, port)
        await login(bob, port, status="here")
        await befriend(alice, bob)
        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")
        await bob.xmpp["xep_0191"].unblock("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, status="here"), "bob's presence after the unblock", timeout=5)

    xmpp.run(scenario())


def test_blocked_contact_sees_no_presence(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")

        # A presence change of bob's, and a new resource of his coming online: alice must see neither.
        bob.xmpp.send_presence(pstatus="not for alice")
        bob2 = im_client(xmpp, "bob@localhost/b2")
        await login(bob2, port, status="nor this")
        await settle(bob, alice)
        leaked = alice.received_matching(is_any_presence_from("bob@localhost"))
        assert not leaked, "alice, blocked by bob, still receives his presence: " + " | ".join(map(str, leaked))

    xmpp.run(scenario())


def test_blocking_a_stranger_sends_no_presence(hush, xmpp):
    server = hush()
    add_users(server, "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/secret-resource", "xep_0191")
        carol = im_client(xmpp, "carol@localhost/c")
        await login(bob, port)
        await login(carol, port)
        await bob.xmpp["xep_0191"].block("carol@localhost", timeout=TIMEOUT)
        await settle(carol)
        leaked = carol.received_matching(is_any_presence_from("bob@localhost"))
        assert not leaked, "carol, never subscribed to bob, got: " + " | ".join(map(str, leaked))

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 6. XEP-0016 privacy lists
# ---------------------------------------------------------------------------------------------------------------

def test_privacy_list_default_denies_jid(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")
    deny_alice = (f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'>"
                  "<item type='jid' value='alice@localhost' action='deny' order='1'><message/></item>"
                  "<item action='allow' order='2'/></list></query>")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)

        async def delivered(body: str) -> None:
            alice.send_message(bob.jid, body)
            await bob.expect_stanza(is_message(body, alice.jid), f"alice's {body!r}")

        async def refused(body: str) -> None:
            bob.inbox.clear()
            alice.send_message(bob.jid, body)
            error = await alice.expect_stanza(is_error("message", body), f"an error for {body!r}")
            assert error_condition(error) == "service-unavailable", str(error)
            await settle(bob)
            assert not bob.received_matching(is_message()), f"{body!r} reached bob despite his default list"
            carol.send_message(bob.jid, "carol is not on the list")
            await bob.expect_stanza(is_message("carol is not on the list", carol.jid), "carol's message")

        async def privacy(itype: str, payload: str):
            result = await bob.iq(itype, payload)
            assert result["type"] == "result", str(result)
            return result

        await privacy("set", deny_alice)
        await delivered("a list that is neither default nor active changes nothing")
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default name='no-alice'/></query>")
        await refused("denied by the default list")

        names = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'/>")).xml.find(q(PRIVACY_NS, "query"))
        assert names.find(q(PRIVACY_NS, "default")).get("name") == "no-alice", ET.tostring(names)
        assert [l.get("name") for l in names.findall(q(PRIVACY_NS, "list"))] == ["no-alice"], ET.tostring(names)
        stored = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'/></query>")).xml
        items = stored.findall(f"{q(PRIVACY_NS, 'query')}/{q(PRIVACY_NS, 'list')}/{q(PRIVACY_NS, 'item')}")
        assert [(i.get("type"), i.get("value"), i.get("action")) for i in items] == \
            [("jid", "alice@localhost", "deny"), (None, None, "allow")], ET.tostring(stored)

        # Declining the default (an empty <default/>) restores delivery.
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default/></query>")
        await delivered("no default list any more")
        # So does deleting the list that is the default.
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default name='no-alice'/></query>")
        await refused("denied again")
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'/></query>")
        await delivered("the list is gone")
        names = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'/>")).xml.find(q(PRIVACY_NS, "query"))
        assert len(names) == 0, ET.tostring(names)

    xmpp.run(scenario())


def test_privacy_list_presence_out(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        for payload in ("<list name='invisible-to-alice'><item type='jid' value='alice@localhost' action='deny' "
                        "order='1'><presence-out/></item><item action='allow' order='2'/></list>",
                        "<default name='invisible-to-alice'/>"):
            result = await bob.iq("set", f"<query xmlns='{PRIVACY_NS}'>{payload}</query>")
            assert result["type"] == "result", str(result)
        alice.inbox.clear()
        bob.xmpp.send_presence(pstatus="hidden from alice")
        await settle(bob, alice)
        assert not alice.received_matching(is_presence(bob.jid, status="hidden from alice")), \
            "presence-out denied, but alice got bob's presence"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 7. XEP-0280 carbons
# ---------------------------------------------------------------------------------------------------------------

def forwarded_message(carbon, direction: str) -> ET.Element:
    inner = carbon.xml.find(f"{q(CARBONS_NS, direction)}/{q(FORWARD_NS, 'forwarded')}/{q(CLIENT_NS, 'message')}")
    assert inner is not None, f"no forwarded jabber:client message in the carbon: {carbon}"
    return inner


def test_carbons(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob_a = im_client(xmpp, "bob@localhost/A", "xep_0280")
        bob_b = im_client(xmpp, "bob@localhost/B", "xep_0280")
        bob_c = im_client(xmpp, "bob@localhost/C")  # carbons not enabled
        for client in (alice, bob_a, bob_b, bob_c):
            await login(client, port)
        for client in (bob_a, bob_b):
            await client.xmpp["xep_0280"].enable(timeout=TIMEOUT)

        # Received: alice -> bob/A; bob/B gets a copy wrapped in <received/>, from bob's bare JID.
        alice.send_message(bob_a.jid, "to A")
        await bob_a.expect_stanza(is_message("to A", alice.jid), "the message on A")
        carbon = await bob_b.expect_stanza(is_carbon("received"), "the received carbon on B")
        assert carbon.xml.get("from") == "bob@localhost", f"carbon not from the account's bare JID: {carbon}"
        inner = forwarded_message(carbon, "received")
        assert (inner.get("from"), inner.get("to"), inner.findtext(q(CLIENT_NS, "body"))) == \
            (alice.jid, bob_a.jid, "to A"), ET.tostring(inner)
        assert not bob_a.received_matching(is_carbon("received")), "the recipient got a carbon of its own message"

        # Sent: bob/A -> alice; bob/B gets a copy wrapped in <sent/>.
        bob_a.send_message("alice@localhost", "from A")
        await alice.expect_stanza(is_message("from A", bob_a.jid), "bob's message")
        carbon = await bob_b.expect_stanza(is_carbon("sent"), "the sent carbon on B")
        assert carbon.xml.get("from") == "bob@localhost", str(carbon)
        inner = forwarded_message(carbon, "sent")
        assert (inner.get("from"), inner.get("to"), inner.findtext(q(CLIENT_NS, "body"))) == \
            (bob_a.jid, "alice@localhost", "from A"), ET.tostring(inner)
        assert not bob_a.received_matching(is_carbon("sent")), "the sender got a carbon of its own message"

        # To the bare JID: every resource of the same (highest) priority gets it directly, so no carbons (§4).
        alice.send_message("bob@localhost", "to everyone")
        for client in (bob_a, bob_b, bob_c):
            await client.expect_stanza(is_message("to everyone", alice.jid), "the message to the bare JID")

        # A message marked <private/> is not copied (§6).
        alice.xmpp.send_raw(f"<message to='{bob_a.jid}' type='chat'><body>private</body>"
                            f"<private xmlns='{CARBONS_NS}'/><no-copy xmlns='urn:xmpp:hints'/></message>")
        await bob_a.expect_stanza(is_message("private", alice.jid), "the private message on A")

        # After B disables carbons, it gets no more copies.
        await bob_b.xmpp["xep_0280"].disable(timeout=TIMEOUT)
        alice.send_message(bob_a.jid, "after B disabled carbons")
        await bob_a.expect_stanza(is_message("after B disabled carbons"), "the message on A")

        await settle(bob_b, bob_c)
        assert not bob_b.received_matching(is_carbon("received")), \
            "carbon of a message to the bare JID, of a <private/> message, or after disabling carbons"
        assert not bob_c.received_matching(lambda st: is_carbon("received")(st) or is_carbon("sent")(st)), \
            "carbons to a resource that did not enable them"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 8. XEP-0352 client state indication
# ---------------------------------------------------------------------------------------------------------------

def test_csi_holds_presence_until_active(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)
        await befriend(carol, bob)

        bob.xmpp.send_raw(f"<inactive xmlns='{CSI_NS}'/>")
        await settle(bob)
        bob.inbox.clear()
        for status in ("first", "second", "third"):
            alice.xmpp.send_presence(pstatus=status)
        carol.xmpp.send_presence(pshow="away", pstatus="carol's only update")
        await settle(alice, carol)
        # Messages are not held: one from alice arrives, after the presence she sent before it would have.
        alice.send_message(bob.jid, "messages still flow")
        await bob.expect_stanza(is_message("messages still flow", alice.jid), "a message while inactive")
        await settle(bob)
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), "presence while inactive"
        assert not bob.received_matching(is_any_presence_from("carol@localhost")), "presence while inactive"

        # Active again: the latest presence of each contact, once.
        bob.xmpp.send_raw(f"<active xmlns='{CSI_NS}'/>")
        await bob.expect_stanza(is_presence(alice.jid, status="third"), "alice's latest presence")
        await bob.expect_stanza(is_presence(carol.jid, status="carol's only update"), "carol's latest presence")
        await settle(bob)
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), \
            "superseded presence delivered after <active/>"
        assert not bob.received_matching(is_any_presence_from("carol@localhost"))

        # And presence flows directly again.
        alice.xmpp.send_presence(pstatus="live")
        await bob.expect_stanza(is_presence(alice.jid, status="live"), "alice's presence once active")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 9. disco#info, stream features, XEP-0115 caps
# ---------------------------------------------------------------------------------------------------------------

def caps_hash(query: ET.Element) -> str:
    """XEP-0115 §5.1 verification string of a disco#info <query/>, SHA-1, base64."""
    identities = sorted((i.get("category", ""), i.get("type", ""), i.get(XML_LANG, ""), i.get("name", ""))
                        for i in query.findall(q(DISCO_INFO_NS, "identity")))
    text = "".join(f"{c}/{t}/{lang}/{name}<" for c, t, lang, name in identities)
    text += "".join(f + "<" for f in sorted(f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))))
    forms = []
    for form in query.findall(q(DATA_FORMS_NS, "x")):
        fields = {f.get("var"): sorted(v.text or "" for v in f.findall(q(DATA_FORMS_NS, "value")))
                  for f in form.findall(q(DATA_FORMS_NS, "field"))}
        form_type = fields.pop("FORM_TYPE", [""])[0]
        forms.append((form_type, "".join(var + "<" + "".join(v + "<" for v in values)
                                         for var, values in sorted(fields.items()))))
    text += "".join(form_type + "<" + rest for form_type, rest in sorted(forms))
    return base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode()


def test_caps_hash_sanity():
    """The XEP-0115 §5.2 worked example, so a caps mismatch below means the server, not this function."""
    example = ET.fromstring(
        f"<query xmlns='{DISCO_INFO_NS}'><identity category='client' name='Exodus 0.9.1' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/><feature var='http://jabber.org/protocol/muc'/>"
        "</query>")
    assert caps_hash(example) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_stream_features_and_caps_match_disco(hush):
    server = hush()
    add_users(server, "alice")
    s, features = raw_login_features(server, "alice")
    with s:
        assert features.find(q(BIND_NS, "bind")) is not None, s.received_text()
        assert features.find(q("urn:xmpp:features:rosterver", "ver")) is not None, s.received_text()
        assert features.find(q(CSI_NS, "csi")) is not None, s.received_text()
        caps = features.find(q(CAPS_NS, "c"))
        assert caps is not None, s.received_text()
        assert caps.get("hash") == "sha-1" and caps.get("node") and caps.get("ver"), ET.tostring(caps)
        assert s.bind("raw") == "alice@localhost/raw"

        s.send(f"<iq type='get' id='info1' to='localhost'><query xmlns='{DISCO_INFO_NS}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info1" and reply.get("type") == "result", s.received_text()
        query = reply.find(q(DISCO_INFO_NS, "query"))
        features_advertised = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
        # What docs/features.md lists.
        expected = {DISCO_INFO_NS, "http://jabber.org/protocol/disco#items", "urn:xmpp:ping", BLOCKING_NS,
                    CARBONS_NS, PRIVACY_NS, "msgoffline", DELAY_NS, "jabber:iq:version", LAST_NS, PRIVATE_NS,
                    VCARD_NS, REGISTER_NS}
        assert expected <= features_advertised, expected - features_advertised
        identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
        assert ("server", "im") in identities, identities
        assert caps.get("ver") == caps_hash(query), \
            f"stream feature caps ver {caps.get('ver')!r} does not hash this disco#info: {ET.tostring(query)!r}"

        s.send(f"<iq type='get' id='info3' to='alice@localhost'><query xmlns='{DISCO_INFO_NS}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info3" and reply.get("type") == "result", s.received_text()
        query = reply.find(q(DISCO_INFO_NS, "query"))
        account_features = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
        assert {DISCO_INFO_NS, LAST_NS, VCARD_NS} <= account_features, account_features
        identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
        assert ("account", "registered") in identities, identities


def raw_login_features(server, username: str) -> tuple[RawStream, ET.Element]:
    """A raw stream through STARTTLS and PLAIN; returns it (not yet bound) with the post-SASL stream features."""
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    s.open_stream("localhost")
    s.features()
    s.starttls()
    s.open_stream("localhost")
    s.features()
    assert s.auth_plain(username, PASSWORDS[username]).tag == q(SASL_NS, "success"), s.received_text()
    s.open_stream("localhost")
    return s, s.features()


def test_caps_node_answers_disco_info(hush):
    server = hush()
    add_users(server, "alice")
    s, features = raw_login_features(server, "alice")
    with s:
        caps = features.find(q(CAPS_NS, "c"))
        assert caps is not None, s.received_text()
        s.bind("raw")
        node = f"{caps.get('node')}#{caps.get('ver')}"
        s.send(f"<iq type='get' id='info2' to='localhost'><query xmlns='{DISCO_INFO_NS}' node='{node}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info2" and reply.get("type") == "result", s.received_text()
        assert caps_hash(reply.find(q(DISCO_INFO_NS, "query"))) == caps.get("ver"), s.received_text()


# ---------------------------------------------------------------------------------------------------------------
# 10. per-account services: vcard-temp, private XML storage, last activity; XEP-0077 in-band registration
# ---------------------------------------------------------------------------------------------------------------

def test_vcard_temp(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        for client in (alice, bob):
            await login(client, port)
        card = (f"<vCard xmlns='{VCARD_NS}'><FN>Alice Example</FN><NICKNAME>ali</NICKNAME>"
                "<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL></vCard>")
        result = await alice.iq("set", card)
        assert result["type"] == "result", str(result)

        for reader in (alice, bob):
            result = await reader.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="alice@localhost")
            assert result["type"] == "result", str(result)
            vcard = result.xml.find(q(VCARD_NS, "vCard"))
            assert vcard is not None, str(result)
            assert vcard.findtext(q(VCARD_NS, "FN")) == "Alice Example", str(result)
            assert vcard.findtext(f"{q(VCARD_NS, 'EMAIL')}/{q(VCARD_NS, 'USERID')}") == "alice@example.org"

        # Nobody else may set it.
        result = await bob.iq("set", f"<vCard xmlns='{VCARD_NS}'><FN>Not Alice</FN></vCard>", to="alice@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)
        result = await bob.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="alice@localhost")
        assert result.xml.find(q(VCARD_NS, "vCard")).findtext(q(VCARD_NS, "FN")) == "Alice Example"

        # An account without one: an empty vCard.
        result = await bob.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="carol@localhost")
        assert result["type"] == "result", str(result)
        vcard = result.xml.find(q(VCARD_NS, "vCard"))
        assert vcard is not None and len(vcard) == 0, str(result)

    xmpp.run(scenario())


def test_private_xml_storage(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        for client in (alice, bob):
            await login(client, port)
        stored = ("<storage xmlns='storage:bookmarks'>"
                  "<conference jid='room@conference.localhost' autojoin='true' name='The Room'/></storage>")
        result = await alice.iq("set", f"<query xmlns='{PRIVATE_NS}'>{stored}</query>")
        assert result["type"] == "result", str(result)

        result = await alice.iq("get", f"<query xmlns='{PRIVATE_NS}'><storage xmlns='storage:bookmarks'/></query>")
        assert result["type"] == "result", str(result)
        conference = result.xml.find(f"{q(PRIVATE_NS, 'query')}/{q('storage:bookmarks', 'storage')}"
                                     f"/{q('storage:bookmarks', 'conference')}")
        assert conference is not None and conference.get("name") == "The Room", str(result)

        # Another namespace is another slot: nothing stored there yet, the empty element comes back.
        result = await alice.iq("get", f"<query xmlns='{PRIVATE_NS}'><prefs xmlns='urn:example:prefs'/></query>")
        assert result["type"] == "result", str(result)
        prefs = result.xml.find(f"{q(PRIVATE_NS, 'query')}/{q('urn:example:prefs', 'prefs')}")
        assert prefs is not None and len(prefs) == 0, str(result)

        # Only the owner, and not in reserved namespaces.
        result = await bob.iq("get", f"<query xmlns='{PRIVATE_NS}'><storage xmlns='storage:bookmarks'/></query>",
                              to="alice@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)
        result = await alice.iq("set", f"<query xmlns='{PRIVATE_NS}'><x xmlns='jabber:client'/></query>")
        assert result["type"] == "error" and error_condition(result) == "not-acceptable", str(result)

    xmpp.run(scenario())


def test_last_activity(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def last(client, to: str):
        return await client.iq("get", f"<query xmlns='{LAST_NS}'/>", to=to)

    def seconds(result) -> int:
        assert result["type"] == "result", str(result)
        return int(result.xml.find(q(LAST_NS, "query")).get("seconds"))

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)

        assert seconds(await last(alice, "localhost")) >= 0  # the server's uptime
        assert seconds(await last(alice, "bob@localhost")) == 0  # online
        await bob.disconnect()
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence")
        assert 0 <= seconds(await last(alice, "bob@localhost")) < 60  # since he logged out

        # XEP-0012 §3: only those allowed to see bob's presence may ask.
        result = await last(carol, "bob@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)

    xmpp.run(scenario())


def raw_register(s: RawStream, username: str, password: str, iq_id: str = "reg2") -> ET.Element:
    s.send(f"<iq type='set' id='{iq_id}'><query xmlns='{REGISTER_NS}'><username>{username}</username>"
           f"<password>{password}</password></query></iq>")
    return s.read_until(q(CLIENT_NS, "iq"))


def test_in_band_registration_enabled(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, registration={"enabled": True})
    add_users(server, "alice")

    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("localhost")
        s.features()
        s.starttls()
        s.open_stream("localhost")
        features = s.features()
        assert features.find(q(REGISTER_FEATURE_NS, "register")) is not None, s.received_text()
        s.send(f"<iq type='get' id='reg1'><query xmlns='{REGISTER_NS}'/></iq>")
        form = s.read_until(q(CLIENT_NS, "iq"))
        assert form.get("type") == "result", s.received_text()
        query = form.find(q(REGISTER_NS, "query"))
        assert query.find(q(REGISTER_NS, "username")) is not None, s.received_text()
        assert query.find(q(REGISTER_NS, "password")) is not None, s.received_text()

        answer = raw_register(s, "newbie", "newbie-password-1")
        assert answer.get("type") == "result", s.received_text()
        taken = raw_register(s, "alice", "another-password-2", "reg3")
        assert taken.get("type") == "error" and error_condition(taken) == "conflict", s.received_text()

    assert "newbie@localhost" in server.hushctl("users").stdout.split()

    async def scenario():
        newbie = xmpp.client("newbie@localhost/x", "newbie-password-1")
        assert await newbie.connect(server.port("c2s")) == "newbie@localhost/x"

    xmpp.run(scenario())


def test_in_band_registration_disabled(hush):
    server = hush(registration={"enabled": False})
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("localhost")
        s.features()
        s.starttls()
        s.open_stream("localhost")
        features = s.features()
        assert features.find(q(REGISTER_FEATURE_NS, "register")) is None, s.received_text()
        s.send(f"<iq type='get' id='reg1'><query xmlns='{REGISTER_NS}'/></iq>")
        answer = s.read_until(q(CLIENT_NS, "iq"))
        assert answer.get("type") == "error" and error_condition(answer) == "service-unavailable", \
            s.received_text()
        answer = raw_register(s, "sneaky", "sneaky-password-1")
        assert answer.get("type") == "error", s.received_text()
    assert "sneaky@localhost" not in server.hushctl("users").stdout.split()


def test_in_band_password_change_and_removal(hush, xmpp):
    """XEP-0077 after login (whatever [registration] enabled says): change one's password, then remove the account;
    removal closes every session of the account with <not-authorized/>."""
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        other = im_client(xmpp, "alice@localhost/other")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        result = await alice.iq("set", f"<query xmlns='{REGISTER_NS}'><username>alice</username>"
                                       "<password>a-new-password-7</password></query>")
        assert result["type"] == "result", str(result)
        old = xmpp.client("alice@localhost/old", PASSWORDS["alice"])
        old.xmpp.connect(address=("127.0.0.1", port))
        await old.wait_auth_failure()
        other.xmpp.password = "a-new-password-7"
        await login(other, port)

        result = await alice.iq("set", f"<query xmlns='{REGISTER_NS}'><remove/></query>")
        assert result["type"] == "result", str(result)
        for client in (alice, other):
            error = await client.next_stream_error()
            assert error["condition"] == "not-authorized", str(error)
            await client.wait_closed()
        # XEP-0077 §3.3: the removed account's contacts see both subscriptions cancelled.
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribe"), "alice's unsubscribe")
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribed"), "alice's unsubscribed")
        items = roster_items(await get_roster(bob))
        assert items["alice@localhost"].get("subscription") == "none", str(items)

    xmpp.run(scenario())
    assert "alice@localhost" not in server.hushctl("users").stdout.split()
