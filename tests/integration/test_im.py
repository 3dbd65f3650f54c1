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

import datetime
import time
import xml.etree.ElementTree as ET

from xmpp_raw import CLIENT_NS, STANZAS_ERR_NS, q

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


def test_a_session_replaced_by_a_new_bind_of_its_resource_tells_nobody_the_resource_left(hush, xmpp):
    """The old connection of a resource bound again (<conflict/>) ends, but the resource lives on: contacts must not
    get an unavailable for it, which could arrive after the new session's available presence."""
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/desk")
        bob = im_client(xmpp, "bob@localhost/laptop")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)  # each has the other's available presence by now

        again = im_client(xmpp, "alice@localhost/desk")
        await login(again, port, status="back at my desk")
        error = await alice.next_stream_error()
        assert error["condition"] == "conflict", str(error)
        await bob.expect_stanza(is_presence("alice@localhost/desk", status="back at my desk"), "the new presence")
        await server.wait_log("stays online in its new session")
        await settle(bob)  # whatever the old session's end sent bob has arrived by now
        assert not [st for st in bob.inbox
                    if st.xml.tag == q(CLIENT_NS, "presence") and st.xml.get("type") == "unavailable"], bob.inbox

    xmpp.run(scenario())
