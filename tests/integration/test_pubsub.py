"""The XEP-0060 pubsub service (pubsub.a.test) end to end, written to the XEP: node creation (with and without a
configuration form, instant nodes), configuration, publishing with and without item ids, retrieval (all, newest N,
by id), subscriptions with notifications and the last item on subscribe, retraction with notify, the owner's
management of subscriptions and affiliations, purge and delete with their notifications, max_items, publish and
access models, the payload limit, discovery; items, nodes and configuration survive a restart on both backends.

Negative checks wait for a marker on the same path (a later notification from the same service, or a chat message)
instead of sleeping (pubsub_helpers.assert_none_before).
"""

from __future__ import annotations

import asyncio

from pubsub_helpers import (HOST, NODE_CONFIG, OWNER_NS, PUBSUB_NS, SERVICE, assert_error,
                            assert_none_before, config_fields, data_form, disco_info, disco_items, event_items,
                            get_items, ids_of, is_event, items_of, online, owner_iq, publish, published_id,
                            pubsub_iq, start)
from xmpp_raw import q

ATOM = "http://www.w3.org/2005/Atom"
ALICE, BOB, CAROL, DAVE = (f"{n}@{HOST}" for n in ("alice", "bob", "carol", "dave"))


def entry(title: str) -> str:
    return f"<entry xmlns='{ATOM}'><title>{title}</title><id>tag:{HOST},2026:{title}</id></entry>"


def entry_title(item) -> str | None:
    return item.findtext(f"{q(ATOM, 'entry')}/{q(ATOM, 'title')}")


async def create(c, node: str, config: dict | None = None):
    """XEP-0060 §8.1.1 (config None) or §8.1.3 (create and configure); asserts success."""
    configure = f"<configure>{data_form(NODE_CONFIG, config)}</configure>" if config is not None else ""
    answer = await pubsub_iq(c, "set", f"<create node='{node}'/>{configure}", to=SERVICE)
    assert answer["type"] == "result", f"creating {node!r} refused: {answer}"
    return answer


async def subscribe(c, node: str, jid: str | None = None):
    """XEP-0060 §6.1; asserts the subscription is 'subscribed' (when the result tells, §6.1.2)."""
    jid = jid or c.xmpp.boundjid.bare
    answer = await pubsub_iq(c, "set", f"<subscribe node='{node}' jid='{jid}'/>", to=SERVICE)
    assert answer["type"] == "result", f"subscribing {jid} to {node!r} refused: {answer}"
    sub = answer.xml.find(f"{q(PUBSUB_NS, 'pubsub')}/{q(PUBSUB_NS, 'subscription')}")
    assert sub is None or sub.get("subscription") == "subscribed", str(answer)
    return answer


async def ok(answer_coro, what: str):
    answer = await answer_coro
    assert answer["type"] == "result", f"{what} refused: {answer}"
    return answer


def owner_list(answer, kind: str) -> dict[str, str]:
    """jid -> state of an owner <subscriptions/> (§8.8.1) or <affiliations/> (§8.9.1) result."""
    assert answer["type"] == "result", f"owner {kind} request refused: {answer}"
    parent = answer.xml.find(f"{q(OWNER_NS, 'pubsub')}/{q(OWNER_NS, kind)}")
    assert parent is not None, str(answer)
    attr = kind[:-1]  # subscription / affiliation
    return {e.get("jid"): e.get(attr) for e in parent.findall(q(OWNER_NS, attr))}


# ---------------------------------------------------------------------------------------------------------------
# 1. create, configure (§8.1, §8.2)
# ---------------------------------------------------------------------------------------------------------------

def test_create_and_configure_nodes(hush, xmpp, storage_backend):
    """alice creates a node with the default configuration (a second create is a <conflict/>), one with a
    configuration form, and an instant node if the service has them. She reads the form (FORM_TYPE node_config,
    her values), changes the title (only that field changes), and the configuration survives a restart. bob, no
    owner, is <forbidden/> to read or change it; an unknown node is <item-not-found/>."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        bob = await online(xmpp, server, "bob", "desk")
        await create(alice, "princely_musings")
        assert_error(await pubsub_iq(alice, "set", "<create node='princely_musings'/>", to=SERVICE), "conflict",
                     what="creating an existing node (§8.1.1)")

        await create(alice, "blog", {"pubsub#title": "Soliloquies", "pubsub#max_items": 10,
                                     "pubsub#access_model": "open"})
        fields = config_fields(await owner_iq(alice, "get", "<configure node='blog'/>", to=SERVICE))
        assert fields.get("FORM_TYPE") == [NODE_CONFIG], fields
        assert (fields.get("pubsub#title"), fields.get("pubsub#max_items"), fields.get("pubsub#access_model")) \
            == (["Soliloquies"], ["10"], ["open"]), fields

        form = data_form(NODE_CONFIG, {"pubsub#title": "Musings"})
        await ok(owner_iq(alice, "set", f"<configure node='blog'>{form}</configure>", to=SERVICE), "configure")
        fields = config_fields(await owner_iq(alice, "get", "<configure node='blog'/>", to=SERVICE))
        assert (fields.get("pubsub#title"), fields.get("pubsub#max_items")) == (["Musings"], ["10"]), fields

        assert_error(await owner_iq(bob, "get", "<configure node='blog'/>", to=SERVICE), "forbidden",
                     what="a non-owner reading the configuration (§8.2)")
        assert_error(await owner_iq(bob, "set", f"<configure node='blog'>{form}</configure>", to=SERVICE),
                     "forbidden", what="a non-owner configuring (§8.2)")
        assert_error(await owner_iq(alice, "get", "<configure node='nowhere'/>", to=SERVICE), "item-not-found",
                     what="configuring an unknown node (§8.2)")

        instant = await pubsub_iq(alice, "set", "<create/>", to=SERVICE)
        if instant["type"] == "result":  # §8.1.2: the service must say which NodeID it made
            made = instant.xml.find(f"{q(PUBSUB_NS, 'pubsub')}/{q(PUBSUB_NS, 'create')}")
            assert made is not None and made.get("node"), f"instant node without its NodeID: {instant}"
            config_fields(await owner_iq(alice, "get", f"<configure node='{made.get('node')}'/>", to=SERVICE))
        else:
            assert_error(instant, "not-acceptable", "nodeid-required", "an instant node refused (§8.1.2)")

        await asyncio.to_thread(server.restart)  # the clients see their streams close meanwhile
        alice = await online(xmpp, server, "alice", "again")
        fields = config_fields(await owner_iq(alice, "get", "<configure node='blog'/>", to=SERVICE))
        assert (fields.get("pubsub#title"), fields.get("pubsub#max_items")) == (["Musings"], ["10"]), fields
        config_fields(await owner_iq(alice, "get", "<configure node='princely_musings'/>", to=SERVICE))

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 2. publish and retrieve (§7.1, §6.5)
# ---------------------------------------------------------------------------------------------------------------

def test_publish_and_retrieve_items(hush, xmpp, storage_backend):
    """Publish with an item id and without one (the service makes one and says which, §7.1.2); retrieve all items,
    the newest one (max_items, §6.5.7), one by id (§6.5.8); re-publishing an id overwrites that item (§7.1.3 note);
    all of it survives a restart."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        node = "princely_musings"
        await create(alice, node, {"pubsub#max_items": 10, "pubsub#persist_items": True})
        await publish(alice, node, entry("Soliloquy"), "ae890ac52d0df67ed7cfdf51b644e901", to=SERVICE)
        generated = published_id(await publish(alice, node, entry("Second"), to=SERVICE))
        assert generated, "no ItemID in the result of a publish without one (§7.1.2)"
        await publish(alice, node, entry("Third"), "third", to=SERVICE)

        everything = items_of(await get_items(alice, node, to=SERVICE))
        assert sorted(ids_of(everything)) == sorted(["ae890ac52d0df67ed7cfdf51b644e901", generated, "third"])
        newest = items_of(await get_items(alice, node, to=SERVICE, max_items=1))
        assert [entry_title(i) for i in newest] == ["Third"], newest
        by_id = items_of(await get_items(alice, node, to=SERVICE, ids=[generated]))
        assert [(i.get("id"), entry_title(i)) for i in by_id] == [(generated, "Second")], by_id

        await publish(alice, node, entry("Third, revised"), "third", to=SERVICE)
        everything = items_of(await get_items(alice, node, to=SERVICE))
        assert len(everything) == 3, everything
        assert {i.get("id"): entry_title(i) for i in everything}["third"] == "Third, revised"

        await asyncio.to_thread(server.restart)  # the clients see their streams close meanwhile
        alice = await online(xmpp, server, "alice", "again")
        after = items_of(await get_items(alice, node, to=SERVICE))
        assert {i.get("id"): entry_title(i) for i in after} == {i.get("id"): entry_title(i) for i in everything}
        assert_error(await get_items(alice, "nowhere", to=SERVICE), "item-not-found", what="items of no node")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 3. subscribe, notifications, retract, unsubscribe (§6.1, §6.2, §7.1.2.1, §7.2, §5.6)
# ---------------------------------------------------------------------------------------------------------------

def test_subscribe_notify_retract_unsubscribe(hush, xmpp, storage_backend):
    """bob subscribes and is sent the last published item (§6.1.7: the node is configured with
    send_last_published_item=on_sub_and_presence; XEP-0060 leaves the default to the service). alice's next item
    reaches him with its payload; his subscriptions list it (§5.6); a retract with notify reaches him as
    <retract/>. After he unsubscribes, nothing more comes. Subscribing someone else's JID is
    <bad-request/><invalid-jid/> (§6.1.3.1)."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        bob = await online(xmpp, server, "bob", "desk")
        await create(alice, "news", {"pubsub#max_items": 10, "pubsub#send_last_published_item": "on_sub_and_presence"})
        await create(alice, "marker")
        await publish(alice, "news", entry("First"), "first", to=SERVICE)
        await subscribe(bob, "marker")

        fields = config_fields(await owner_iq(alice, "get", "<configure node='news'/>", to=SERVICE))
        assert fields.get("pubsub#send_last_published_item") == ["on_sub_and_presence"], fields
        await subscribe(bob, "news")
        st = await bob.expect_stanza(is_event("news", sender=SERVICE, item_id="first"), "the last item on subscribe")
        assert [entry_title(i) for i in event_items(st)] == ["First"], str(st)

        await publish(alice, "news", entry("Second"), "second", to=SERVICE)
        st = await bob.expect_stanza(is_event("news", sender=SERVICE, item_id="second"), "the 'second' event")
        assert [entry_title(i) for i in event_items(st)] == ["Second"], str(st)
        second_event = st

        mine = await ok(pubsub_iq(bob, "get", "<subscriptions/>", to=SERVICE), "bob's subscriptions")
        subs = mine.xml.findall(f"{q(PUBSUB_NS, 'pubsub')}/{q(PUBSUB_NS, 'subscriptions')}/"
                                f"{q(PUBSUB_NS, 'subscription')}")
        assert ("news", "subscribed") in {(s.get("node"), s.get("subscription")) for s in subs}, str(mine)

        await ok(pubsub_iq(alice, "set", "<retract node='news' notify='true'><item id='second'/></retract>",
                           to=SERVICE), "retract")
        await bob.expect_stanza(is_event("news", sender=SERVICE, retract="second"), "the retraction of 'second'")
        assert ids_of(items_of(await get_items(bob, "news", to=SERVICE))) == ["first"]

        await ok(pubsub_iq(bob, "set", f"<unsubscribe node='news' jid='{BOB}'/>", to=SERVICE), "unsubscribe")
        await publish(alice, "news", entry("Third"), "third", to=SERVICE)
        await publish(alice, "marker", entry("Marker"), "m1", to=SERVICE)
        await assert_none_before(bob, is_event("news", item_id="third"), is_event("marker", item_id="m1"),
                                 "an event after unsubscribing")

        assert_error(await pubsub_iq(bob, "set", f"<subscribe node='news' jid='{CAROL}'/>", to=SERVICE),
                     "bad-request", "invalid-jid", "subscribing another JID")
        assert second_event.xml.get("id"), f"a notification without an id (§7.1.2 SHOULD): {second_event}"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 4. the owner manages subscriptions and affiliations (§8.8, §8.9); publish model; outcasts
# ---------------------------------------------------------------------------------------------------------------

def test_owner_manages_subscriptions_and_affiliations(hush, xmpp, storage_backend):
    """On a node where only publishers publish, carol is <forbidden/> (§7.1.3.1) until alice makes her a
    publisher (§8.9.2); the affiliations list shows it (only the owner may read it). alice lists bob's
    subscription (§8.8.1) and removes it (§8.8.2, §8.8.3): he gets no more events. dave, made an outcast, is
    <forbidden/> to subscribe (§6.1.3.8)."""
    server = start(hush, storage_backend, users=("alice", "bob", "carol", "dave"))

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        bob = await online(xmpp, server, "bob", "desk")
        carol = await online(xmpp, server, "carol", "desk")
        dave = await online(xmpp, server, "dave", "desk")
        await create(alice, "team", {"pubsub#publish_model": "publishers", "pubsub#access_model": "open",
                                     "pubsub#max_items": 10})
        await create(alice, "marker")

        assert_error(await publish(carol, "team", entry("Uninvited"), "u", to=SERVICE, ok=False), "forbidden",
                     what="an outsider publishing on publish_model=publishers")
        assert owner_list(await owner_iq(alice, "get", "<affiliations node='team'/>", to=SERVICE),
                          "affiliations") == {ALICE: "owner"}
        assert_error(await owner_iq(bob, "get", "<affiliations node='team'/>", to=SERVICE), "forbidden",
                     what="a non-owner reading affiliations")
        await ok(owner_iq(alice, "set", f"<affiliations node='team'><affiliation jid='{CAROL}' "
                                        "affiliation='publisher'/></affiliations>", to=SERVICE), "set publisher")
        assert owner_list(await owner_iq(alice, "get", "<affiliations node='team'/>", to=SERVICE),
                          "affiliations") == {ALICE: "owner", CAROL: "publisher"}
        await publish(carol, "team", entry("Invited"), "i", to=SERVICE)

        await subscribe(bob, "team")
        await subscribe(bob, "marker")
        assert owner_list(await owner_iq(alice, "get", "<subscriptions node='team'/>", to=SERVICE),
                          "subscriptions") == {BOB: "subscribed"}
        assert_error(await owner_iq(bob, "get", "<subscriptions node='team'/>", to=SERVICE), "forbidden",
                     what="a non-owner reading subscriptions")
        await ok(owner_iq(alice, "set", f"<subscriptions node='team'><subscription jid='{BOB}' subscription='none'/>"
                                        "</subscriptions>", to=SERVICE), "remove bob's subscription")
        assert owner_list(await owner_iq(alice, "get", "<subscriptions node='team'/>", to=SERVICE),
                          "subscriptions") == {}
        await publish(alice, "team", entry("After"), "after", to=SERVICE)
        await publish(alice, "marker", entry("Marker"), "m1", to=SERVICE)
        await assert_none_before(bob, is_event("team", item_id="after"), is_event("marker", item_id="m1"),
                                 "an event after the owner removed the subscription")

        await ok(owner_iq(alice, "set", f"<affiliations node='team'><affiliation jid='{DAVE}' "
                                        "affiliation='outcast'/></affiliations>", to=SERVICE), "set outcast")
        assert_error(await pubsub_iq(dave, "set", f"<subscribe node='team' jid='{DAVE}'/>", to=SERVICE),
                     "forbidden", what="an outcast subscribing")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 5. purge and delete (§8.5, §8.4)
# ---------------------------------------------------------------------------------------------------------------

def test_purge_and_delete_notify_subscribers(hush, xmpp, storage_backend):
    """bob, subscribed with his full JID, may neither purge nor delete alice's node (<forbidden/>). alice purges
    it: bob's resource gets one <purge/> (the node notifies retractions) and it holds no items. She deletes it:
    bob gets <delete/>, and the node is gone (<item-not-found/> for items, configuration, a second delete)."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        bob = await online(xmpp, server, "bob", "desk")
        await create(alice, "doomed", {"pubsub#max_items": 10, "pubsub#notify_retract": True,
                                       "pubsub#notify_delete": True})
        for n in ("1", "2"):
            await publish(alice, "doomed", entry(n), n, to=SERVICE)
        await subscribe(bob, "doomed", jid=bob.jid)  # a full JID: notifications go to exactly that (§6.1.1)

        assert_error(await owner_iq(bob, "set", "<purge node='doomed'/>", to=SERVICE), "forbidden",
                     what="a non-owner purging")
        assert_error(await owner_iq(bob, "set", "<delete node='doomed'/>", to=SERVICE), "forbidden",
                     what="a non-owner deleting")

        await ok(owner_iq(alice, "set", "<purge node='doomed'/>", to=SERVICE), "purge")
        st = await bob.expect_stanza(is_event("doomed", sender=SERVICE, kind="purge"), "the purge notification")
        assert st.xml.get("to") == bob.jid, str(st)
        assert items_of(await get_items(alice, "doomed", to=SERVICE)) == []

        await ok(owner_iq(alice, "set", "<delete node='doomed'/>", to=SERVICE), "delete")
        st = await bob.expect_stanza(is_event("doomed", sender=SERVICE, kind="delete"), "the delete notification")
        assert st.xml.get("to") == bob.jid, str(st)
        assert_error(await get_items(alice, "doomed", to=SERVICE), "item-not-found", what="items of a deleted node")
        assert_error(await owner_iq(alice, "get", "<configure node='doomed'/>", to=SERVICE), "item-not-found",
                     what="configuration of a deleted node")
        assert_error(await owner_iq(alice, "set", "<delete node='doomed'/>", to=SERVICE), "item-not-found",
                     what="deleting a deleted node")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 6. max_items
# ---------------------------------------------------------------------------------------------------------------

def test_max_items_keeps_the_newest(hush, xmpp, storage_backend):
    """A node configured for two items keeps the two newest of three; lowered to one, it keeps the newest."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        await create(alice, "ring", {"pubsub#max_items": 2})
        for n in ("i1", "i2", "i3"):
            await publish(alice, "ring", entry(n), n, to=SERVICE)
        assert sorted(ids_of(items_of(await get_items(alice, "ring", to=SERVICE)))) == ["i2", "i3"]

        form = data_form(NODE_CONFIG, {"pubsub#max_items": 1})
        await ok(owner_iq(alice, "set", f"<configure node='ring'>{form}</configure>", to=SERVICE), "configure")
        await publish(alice, "ring", entry("i4"), "i4", to=SERVICE)
        assert ids_of(items_of(await get_items(alice, "ring", to=SERVICE))) == ["i4"]

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 7. whitelist access model (§4.5, §6.1.3.5, §6.5.9)
# ---------------------------------------------------------------------------------------------------------------

def test_whitelist_refuses_non_members(hush, xmpp):
    """On a whitelist node bob can neither subscribe nor read items (<not-allowed/><closed-node/>) until alice
    makes him a member (§8.9.2); then he subscribes and gets the last item."""
    server = start(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        bob = await online(xmpp, server, "bob", "desk")
        await create(alice, "club", {"pubsub#access_model": "whitelist", "pubsub#send_last_published_item": "on_sub"})
        await publish(alice, "club", entry("Members only"), "x", to=SERVICE)

        refused = await pubsub_iq(bob, "set", f"<subscribe node='club' jid='{BOB}'/>", to=SERVICE)
        assert_error(refused, "not-allowed", "closed-node", "a non-member subscribing to a whitelist node")
        refused = await get_items(bob, "club", to=SERVICE)
        assert_error(refused, "not-allowed", "closed-node", "a non-member reading a whitelist node")
        assert refused.xml.find(f".//{q('http://www.w3.org/2005/Atom', 'entry')}") is None, str(refused)

        await ok(owner_iq(alice, "set", f"<affiliations node='club'><affiliation jid='{BOB}' affiliation='member'/>"
                                        "</affiliations>", to=SERVICE), "set member")
        await subscribe(bob, "club")
        await bob.expect_stanza(is_event("club", sender=SERVICE, item_id="x"), "the last item for the new member")
        assert ids_of(items_of(await get_items(bob, "club", to=SERVICE))) == ["x"]

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 8. payload limit (§7.1.3.4)
# ---------------------------------------------------------------------------------------------------------------

def test_payload_too_big_is_refused(hush, xmpp):
    """A payload over the service's limit (here [pubsub] max_payload_bytes = 4096) is <not-acceptable/>
    <payload-too-big/> and not stored; one under it is accepted."""
    server = start(hush, pubsub={"max_payload_bytes": 4096})

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        await create(alice, "big")
        huge = f"<blob xmlns='urn:example:blob'>{'x' * 5000}</blob>"
        answer = await publish(alice, "big", huge, "huge", to=SERVICE, ok=False)
        assert_error(answer, "not-acceptable", "payload-too-big", "a payload over the limit")
        assert items_of(await get_items(alice, "big", to=SERVICE)) == []
        await publish(alice, "big", f"<blob xmlns='urn:example:blob'>{'x' * 3000}</blob>", "small", to=SERVICE)
        assert ids_of(items_of(await get_items(alice, "big", to=SERVICE))) == ["small"]

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 9. discovery (§5.1, §5.2, §5.3; XEP-0030)
# ---------------------------------------------------------------------------------------------------------------

def test_service_discovery(hush, xmpp):
    """The server lists pubsub.a.test among its items; the service is pubsub/service with the XEP-0060 features
    it implements; its items are its nodes; a node's disco#info says pubsub/leaf."""
    server = start(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice", "desk")
        await create(alice, "listed", {"pubsub#title": "Listed node"})

        assert SERVICE in {jid for jid, _ in await disco_items(alice, HOST)}
        identities, features = await disco_info(alice, SERVICE)
        assert ("pubsub", "service") in identities, identities
        for feature in ("create-nodes", "create-and-configure", "config-node", "publish", "publish-options",
                        "subscribe", "retrieve-items", "retrieve-subscriptions", "delete-nodes", "purge-nodes",
                        "manage-subscriptions", "modify-affiliations", "access-open", "access-whitelist",
                        "persistent-items"):
            assert f"{PUBSUB_NS}#{feature}" in features, f"{feature} missing from {sorted(features)}"

        assert (SERVICE, "listed") in await disco_items(alice, SERVICE)
        answer = await alice.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info' node='listed'/>",
                                to=SERVICE)
        assert answer["type"] == "result", str(answer)
        query = answer.xml.find(q("http://jabber.org/protocol/disco#info", "query"))
        node_identities = {(i.get("category"), i.get("type"))
                           for i in query.findall(q("http://jabber.org/protocol/disco#info", "identity"))}
        assert ("pubsub", "leaf") in node_identities, str(answer)

    xmpp.run(scenario())
