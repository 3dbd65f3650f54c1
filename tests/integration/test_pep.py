"""XEP-0163 Personal Eventing Protocol end to end, written to the XEPs: auto-create on publish, notifications to the
account's contacts and own resources filtered by their XEP-0115 '+notify' caps, presence access by default and the
other access models as publish-options (XEP-0060 §7.1.5, XEP-0223) ask, the last published item to a newly
available resource, discovery; and the profiles clients rely on: the OMEMO device list
(eu.siacs.conversations.axolotl.devicelist, open to anyone as Conversations asks), XEP-0402 bookmarks (private to
the account), XEP-0084 avatars, XEP-0172 nicknames.

Negative checks ("bob got no notification") wait for a later marker on the same path rather than sleeping: the
server delivers stanzas to a session in the order it queued them (pubsub_helpers.assert_none_before).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from pubsub_helpers import (HOST, NODE_CONFIG, PUBSUB_NS, assert_error, assert_none_before, chat_marker, data_form,
                            disco_info, disco_items, error_signature, event_items, get_items, ids_of, is_event,
                            items_of, make_contacts, online, owner_iq, publish, pubsub_iq, start)
from xmpp_raw import q

TUNE = "http://jabber.org/protocol/tune"
DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"
AXOLOTL = "eu.siacs.conversations.axolotl"
AVATAR_DATA = "urn:xmpp:avatar:data"
AVATAR_META = "urn:xmpp:avatar:metadata"
BOOKMARKS = "urn:xmpp:bookmarks:1"
NICK = "http://jabber.org/protocol/nick"

ALICE = f"alice@{HOST}"
ROOM = "theplay@conference.shakespeare.lit"
# XEP-0402 §3 (and XEP-0223 §3): the publish-options a bookmarks client sends.
BOOKMARK_OPTIONS = {"pubsub#persist_items": True, "pubsub#max_items": "max",
                    "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"}


def tune(title: str) -> str:
    return (f"<tune xmlns='{TUNE}'><artist>Gerald Finzi</artist><length>255</length>"
            f"<title>{title}</title><track>1</track></tune>")


def tune_title(item) -> str | None:
    return item.findtext(f"{q(TUNE, 'tune')}/{q(TUNE, 'title')}")


def device_ids(item) -> set[str]:
    return {d.get("id") for d in item.findall(f"{q(AXOLOTL, 'list')}/{q(AXOLOTL, 'device')}")}


def conference(name: str, nick: str) -> str:
    return (f"<conference xmlns='{BOOKMARKS}' name='{name}' autojoin='true'><nick>{nick}</nick></conference>")


def echoed(answer) -> list[str]:
    """The tags of an error answer's children besides <error/> (RFC 6120 §8.3.1 lets it echo the request)."""
    return [child.tag for child in answer.xml if child.tag != q("jabber:client", "error")]


def leaks(answer, ns: str, name: str) -> bool:
    """Whether an answer carries a payload element of the node (an error may echo the request, never items)."""
    return answer.xml.find(f".//{q(ns, name)}") is not None


# ---------------------------------------------------------------------------------------------------------------
# 1. publish auto-creates; notifications only to resources with +notify (XEP-0163 §3, §4, XEP-0115)
# ---------------------------------------------------------------------------------------------------------------

def test_publish_auto_creates_and_notifies_only_interested_resources(hush, xmpp, storage_backend):
    """alice publishes her tune to a node that does not exist: it is created (auto-create, XEP-0163 §3). bob (a
    contact announcing tune+notify) and alice's tablet (tune+notify) get the headline event from her bare JID with
    the payload (§4.3.1); carol (a contact whose caps lack tune+notify) and alice's phone (likewise) get nothing."""
    server = start(hush, storage_backend)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob", "carol")
        phone = await online(xmpp, server, "alice", "phone", notify=())
        tablet = await online(xmpp, server, "alice", "tablet", notify=[TUNE])
        bob = await online(xmpp, server, "bob", "desk", notify=[TUNE, NICK])
        carol = await online(xmpp, server, "carol", "laptop", notify=[NICK])

        assert_error(await get_items(phone, TUNE), "item-not-found", what="items of a node never published to")
        await publish(phone, TUNE, tune("Introduction (Allegro vigoroso)"))

        events = []
        for c in (bob, tablet):
            st = await c.expect_stanza(is_event(TUNE, sender=ALICE), f"alice's tune event at {c.jid}")
            assert st.xml.get("type") == "headline", f"notification type (XEP-0163 §4.3.4 example): {st}"
            items = event_items(st)
            assert len(items) == 1 and tune_title(items[0]) == "Introduction (Allegro vigoroso)", str(st)
            events.append(st)

        stored = items_of(await get_items(phone, TUNE))
        assert [tune_title(i) for i in stored] == ["Introduction (Allegro vigoroso)"], stored
        assert stored[0].get("id"), "the service must give the item an id when the publisher gave none"

        await assert_none_before(carol, is_event(TUNE), chat_marker(bob, carol, "after the tune"),
                                 "a tune event without tune+notify")
        await assert_none_before(phone, is_event(TUNE), chat_marker(bob, phone, "after the tune"),
                                 "a tune event on alice's own resource without tune+notify")
        # XEP-0060 §7.1.2: each notification SHOULD have an id, unique, to track errors it bounces with.
        ids = [st.xml.get("id") for st in events]
        assert all(ids) and len(set(ids)) == len(ids), f"notification ids: {ids}"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 2. OMEMO device list open to anyone; presence-access nodes closed to strangers, without telling who exists
# ---------------------------------------------------------------------------------------------------------------

def test_omemo_device_list_is_open_but_presence_nodes_are_not(hush, xmpp, storage_backend):
    """alice's client publishes her OMEMO device list as Conversations does (item 'current', publish-options
    access_model=open). bob (a contact with devicelist+notify) gets it; carol, a stranger, can fetch it (what an
    OMEMO chat with a non-contact needs). Her avatar metadata, published without options, has the default presence
    access model (XEP-0163 §5): carol gets an error and no items — the very error she gets for the same node of an
    account that does not exist, so the answer does not tell her whether alice exists — while bob can read it."""
    server = start(hush, storage_backend)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[DEVICELIST])
        carol = await online(xmpp, server, "carol", "laptop")

        devices = f"<list xmlns='{AXOLOTL}'><device id='1297348'/><device id='774'/></list>"
        await publish(alice, DEVICELIST, devices, "current", options={"pubsub#access_model": "open"})
        st = await bob.expect_stanza(is_event(DEVICELIST, sender=ALICE, item_id="current"), "the device list event")
        assert device_ids(event_items(st)[0]) == {"1297348", "774"}, str(st)

        fetched = items_of(await get_items(carol, DEVICELIST, to=ALICE))
        assert ids_of(fetched) == ["current"] and device_ids(fetched[0]) == {"1297348", "774"}, fetched

        metadata = (f"<metadata xmlns='{AVATAR_META}'><info bytes='2048' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'"
                    " height='64' width='64' type='image/png'/></metadata>")
        await publish(alice, AVATAR_META, metadata, "111f4b3c50d7b0df729d299bc6f8e9ef9066971f")
        refused = await get_items(carol, AVATAR_META, to=ALICE)
        assert refused["type"] == "error", f"a stranger read a presence-access node: {refused}"
        assert not leaks(refused, AVATAR_META, "metadata"), f"the error carries the payload: {refused}"
        missing = await get_items(carol, AVATAR_META, to=f"nobody@{HOST}")
        assert error_signature(refused) == error_signature(missing), \
            f"an existing account's closed node answers otherwise than a missing account's:\n{refused}\n{missing}"
        assert echoed(refused) == echoed(missing), \
            f"one error echoes the request, the other does not:\n{refused}\n{missing}"

        readable = items_of(await get_items(bob, AVATAR_META, to=ALICE))
        assert ids_of(readable) == ["111f4b3c50d7b0df729d299bc6f8e9ef9066971f"], readable

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 3. XEP-0402 bookmarks: the account's resources see them, nobody else does
# ---------------------------------------------------------------------------------------------------------------

def test_bookmarks_reach_the_accounts_resources_only(hush, xmpp, storage_backend):
    """alice's phone adds a bookmark with the XEP-0402 publish-options (whitelist, persistent, never send the last
    item). Her laptop (bookmarks+notify) gets the event; bob, a contact announcing bookmarks+notify too, neither gets
    it nor can fetch the node. After a restart the bookmark is still there (persist_items) and a newly available
    resource is not sent it (send_last_published_item=never); a retract with notify='true' reaches the laptop as
    <retract id=.../> and leaves the node empty."""
    server = start(hush, storage_backend)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        phone = await online(xmpp, server, "alice", "phone")
        laptop = await online(xmpp, server, "alice", "laptop", notify=[BOOKMARKS])
        bob = await online(xmpp, server, "bob", "desk", notify=[BOOKMARKS])

        await publish(phone, BOOKMARKS, conference("The Play&apos;s the Thing", "JC"), ROOM, options=BOOKMARK_OPTIONS)
        st = await laptop.expect_stanza(is_event(BOOKMARKS, sender=ALICE, item_id=ROOM), "the bookmark event")
        conf = event_items(st)[0].find(q(BOOKMARKS, "conference"))
        assert conf is not None and conf.get("name") == "The Play's the Thing", str(st)
        assert conf.findtext(q(BOOKMARKS, "nick")) == "JC", str(st)

        refused = await get_items(bob, BOOKMARKS, to=ALICE)
        assert refused["type"] == "error", f"a contact read alice's whitelist bookmarks: {refused}"
        assert not leaks(refused, BOOKMARKS, "conference"), f"the error carries the payload: {refused}"
        await assert_none_before(bob, is_event(BOOKMARKS), chat_marker(phone, bob, "after the bookmark"),
                                 "alice's bookmark event")

        await asyncio.to_thread(server.restart)  # the clients see their streams close meanwhile
        phone = await online(xmpp, server, "alice", "phone2")
        laptop = await online(xmpp, server, "alice", "laptop2", notify=[BOOKMARKS])
        stored = items_of(await get_items(phone, BOOKMARKS))
        assert ids_of(stored) == [ROOM], f"bookmark lost over a restart: {stored}"
        await assert_none_before(laptop, is_event(BOOKMARKS), chat_marker(phone, laptop, "after coming online"),
                                 "the last bookmark although send_last_published_item=never")

        answer = await pubsub_iq(phone, "set", f"<retract node='{BOOKMARKS}' notify='true'><item id='{ROOM}'/>"
                                               "</retract>")
        assert answer["type"] == "result", str(answer)
        await laptop.expect_stanza(is_event(BOOKMARKS, sender=ALICE, retract=ROOM), "the bookmark's retraction")
        assert items_of(await get_items(phone, BOOKMARKS)) == []

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 4. XEP-0084 avatar: data, then metadata; a contact follows the metadata and fetches the data by id
# ---------------------------------------------------------------------------------------------------------------

def test_avatar_metadata_event_then_data_by_id(hush, xmpp):
    """XEP-0084 §4: alice publishes the image to urn:xmpp:avatar:data (item id = SHA-1 of the bytes), then its
    metadata. bob, interested in metadata only, gets the metadata event (not the data one) and fetches the data
    item by that id; the bytes are hers."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[AVATAR_META])

        image = bytes(range(256)) * 8
        sha = hashlib.sha1(image).hexdigest()
        await publish(alice, AVATAR_DATA, f"<data xmlns='{AVATAR_DATA}'>{base64.b64encode(image).decode()}</data>",
                      sha)
        await publish(alice, AVATAR_META, f"<metadata xmlns='{AVATAR_META}'><info bytes='{len(image)}' id='{sha}' "
                                          "height='64' width='64' type='image/png'/></metadata>", sha)

        st = await bob.expect_stanza(is_event(AVATAR_META, sender=ALICE, item_id=sha), "the avatar metadata event")
        info = event_items(st)[0].find(f"{q(AVATAR_META, 'metadata')}/{q(AVATAR_META, 'info')}")
        assert info is not None and info.get("id") == sha and info.get("bytes") == str(len(image)), str(st)

        data = items_of(await get_items(bob, AVATAR_DATA, to=ALICE, ids=[sha]))
        assert ids_of(data) == [sha], data
        assert base64.b64decode(data[0].findtext(q(AVATAR_DATA, "data"))) == image

        await assert_none_before(bob, is_event(AVATAR_DATA), chat_marker(alice, bob, "after the avatar"),
                                 "an avatar data event without data+notify")

        # XEP-0398: a contacts-only avatar (the PEP default, presence access) stays out of the vCard, which anyone
        # may read; made public (access_model=open, as clients offer), it is her vCard's photo too, for clients
        # that read only vCards; switched off (empty metadata), the photo goes.
        card = await bob.iq("get", "<vCard xmlns='vcard-temp'/>", to=ALICE)
        assert card.xml.find(f"{q('vcard-temp', 'vCard')}/{q('vcard-temp', 'PHOTO')}") is None, str(card)
        public = {"pubsub#access_model": "open"}
        for node in (AVATAR_DATA, AVATAR_META):
            configured = await owner_iq(alice, "set", f"<configure node='{node}'>"
                                                      f"{data_form(NODE_CONFIG, public)}</configure>")
            assert configured["type"] == "result", str(configured)
        await publish(alice, AVATAR_META, f"<metadata xmlns='{AVATAR_META}'><info bytes='{len(image)}' id='{sha}' "
                                          "height='64' width='64' type='image/png'/></metadata>", sha)
        card = await bob.iq("get", "<vCard xmlns='vcard-temp'/>", to=ALICE)
        photo = card.xml.find(f"{q('vcard-temp', 'vCard')}/{q('vcard-temp', 'PHOTO')}")
        assert photo is not None, str(card)
        assert photo.findtext(q("vcard-temp", "TYPE")) == "image/png"
        assert base64.b64decode(photo.findtext(q("vcard-temp", "BINVAL"))) == image
        await publish(alice, AVATAR_META, f"<metadata xmlns='{AVATAR_META}'/>", "off")
        card = await bob.iq("get", "<vCard xmlns='vcard-temp'/>", to=ALICE)
        assert card.xml.find(f"{q('vcard-temp', 'vCard')}/{q('vcard-temp', 'PHOTO')}") is None, str(card)

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 5. XEP-0172 nickname
# ---------------------------------------------------------------------------------------------------------------

def test_nickname_events_and_latest_item(hush, xmpp):
    """XEP-0172 §4.5: alice publishes her nickname, then changes it; bob (nick+notify) gets both events in order,
    and the most recent item (max_items=1, XEP-0060 §6.5.7) is the new nickname."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[NICK])

        for nick in ("Ali", "Alice"):
            await publish(alice, NICK, f"<nick xmlns='{NICK}'>{nick}</nick>")
            st = await bob.expect_stanza(is_event(NICK, sender=ALICE), f"the nick event for {nick!r}")
            assert event_items(st)[0].findtext(q(NICK, "nick")) == nick, str(st)

        latest = items_of(await get_items(bob, NICK, to=ALICE, max_items=1))
        assert [i.findtext(q(NICK, "nick")) for i in latest] == ["Alice"], latest

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 6. publish-options as preconditions (XEP-0060 §7.1.5, XEP-0223 §3)
# ---------------------------------------------------------------------------------------------------------------

def test_publish_options_precondition_not_met(hush, xmpp, storage_backend):
    """The device list node exists with the default access model (presence). A publish asking access_model=open
    fails with <conflict/> and <precondition-not-met/> and publishes nothing; one asking access_model=presence (met)
    succeeds."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "phone")
        await publish(alice, DEVICELIST, f"<list xmlns='{AXOLOTL}'><device id='1'/></list>", "current")

        answer = await publish(alice, DEVICELIST, f"<list xmlns='{AXOLOTL}'><device id='2'/></list>", "current",
                               options={"pubsub#access_model": "open"}, ok=False)
        assert_error(answer, "conflict", "precondition-not-met", "publish-options not matching the node")
        assert answer.xml.find(q("jabber:client", "error")).get("type") == "cancel", str(answer)
        stored = items_of(await get_items(alice, DEVICELIST))
        assert [device_ids(i) for i in stored] == [{"1"}], f"the refused item was published: {stored}"

        await publish(alice, DEVICELIST, f"<list xmlns='{AXOLOTL}'><device id='3'/></list>", "current",
                      options={"pubsub#access_model": "presence"})
        assert [device_ids(i) for i in items_of(await get_items(alice, DEVICELIST))] == [{"3"}]

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 7. the last published item to a newly available resource (XEP-0163 §4.3.3, §4.3.4)
# ---------------------------------------------------------------------------------------------------------------

def test_last_item_to_a_contact_coming_online(hush, xmpp, storage_backend):
    """alice published two tunes while bob was away. bob's client comes online announcing tune+notify: it gets one
    notification, holding the last published tune."""
    server = start(hush, storage_backend)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        await publish(alice, TUNE, tune("First"))
        await publish(alice, TUNE, tune("Second"))

        bob = await online(xmpp, server, "bob", "desk", notify=[TUNE])
        st = await bob.expect_stanza(is_event(TUNE, sender=ALICE), "the last published tune")
        assert [tune_title(i) for i in event_items(st)] == ["Second"], str(st)
        await assert_none_before(bob, is_event(TUNE), chat_marker(alice, bob, "after the last item"),
                                 "a second tune notification")

    xmpp.run(scenario())


def test_last_item_to_the_owners_new_resource(hush, xmpp):
    """XEP-0163 §4.3.4: the last item goes to newly available resources 'including the account owner itself'."""
    server = start(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice", "phone")
        await publish(alice, NICK, f"<nick xmlns='{NICK}'>Ali</nick>")
        tablet = await online(xmpp, server, "alice", "tablet", notify=[NICK])
        st = await tablet.expect_stanza(is_event(NICK, sender=ALICE), "alice's last nick on her new resource")
        assert event_items(st)[0].findtext(q(NICK, "nick")) == "Ali", str(st)

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 8. discovery (XEP-0163 §6, XEP-0030)
# ---------------------------------------------------------------------------------------------------------------

def test_pep_discovery(hush, xmpp):
    """The account's disco#info has the pubsub/pep identity and the XEP-0060 features PEP needs (§6.1). Its
    disco#items lists every node to the owner; to others only nodes they may access (§6.2): a contact sees no
    whitelist node, a stranger sees neither it nor presence-access ones. The server's disco#info lists pubsub
    features."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk")
        carol = await online(xmpp, server, "carol", "laptop")
        await publish(alice, TUNE, tune("Listed"))
        await publish(alice, DEVICELIST, f"<list xmlns='{AXOLOTL}'><device id='9'/></list>", "current",
                      options={"pubsub#access_model": "open"})
        await publish(alice, BOOKMARKS, conference("Secret", "A"), ROOM, options=BOOKMARK_OPTIONS)

        identities, features = await disco_info(alice, ALICE)
        assert ("pubsub", "pep") in identities, identities
        for feature in ("publish", "auto-create", "auto-subscribe", "filtered-notifications", "publish-options",
                        "retrieve-items", "access-presence", "access-open", "access-whitelist"):
            assert f"{PUBSUB_NS}#{feature}" in features, f"{feature} missing from {sorted(features)}"

        owner = await disco_items(alice, ALICE)
        assert {jid for jid, _ in owner} == {ALICE}, owner
        assert {TUNE, DEVICELIST, BOOKMARKS} <= {node for _, node in owner}, owner
        contact = {node for _, node in await disco_items(bob, ALICE)}
        assert BOOKMARKS not in contact, f"a contact is shown a whitelist node: {contact}"
        stranger = {node for _, node in await disco_items(carol, ALICE)}
        assert not {TUNE, BOOKMARKS} & stranger, f"a stranger is shown nodes closed to him: {stranger}"

        _, server_features = await disco_info(alice, HOST)
        assert any(f.startswith(f"{PUBSUB_NS}#") for f in server_features), sorted(server_features)

    xmpp.run(scenario())


def test_stranger_with_notify_interest_gets_no_events(hush, xmpp):
    """Notifications go only to entities sharing presence with the owner (XEP-0163 §4): a stranger announcing
    tune+notify gets nothing when alice publishes."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[TUNE])
        carol = await online(xmpp, server, "carol", "laptop", notify=[TUNE])
        await publish(alice, TUNE, tune("Private"))
        await bob.expect_stanza(is_event(TUNE, sender=ALICE), "the tune event at the contact")
        # carol is no contact of bob's either: the marker comes from alice, whose messages a stranger still gets.
        await assert_none_before(carol, is_event(TUNE), chat_marker(alice, carol, "after the tune"),
                                 "a tune event without a presence subscription")

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 9. who may write, and who stops receiving (XEP-0163 §2.2, §4.3.3, §7.1)
# ---------------------------------------------------------------------------------------------------------------

def test_only_the_owner_writes_to_a_pep_service(hush, xmpp, storage_backend):
    """One publisher per node (XEP-0163 §2.2): bob, a contact, may not publish to alice's node, retract her item,
    purge or delete her node (<forbidden/>, XEP-0060 §7.1.3.1, §7.2.3.1, §8.5, §8.4); her item is untouched."""
    server = start(hush, storage_backend)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk")
        await publish(alice, TUNE, tune("Hers"), "t1")

        assert_error(await publish(bob, TUNE, tune("His"), "t1", to=ALICE, ok=False), "forbidden",
                     what="a contact publishing to alice's node")
        assert_error(await pubsub_iq(bob, "set", f"<retract node='{TUNE}'><item id='t1'/></retract>", to=ALICE),
                     "forbidden", what="a contact retracting alice's item")
        for op in ("purge", "delete"):
            answer = await bob.iq("set", f"<pubsub xmlns='{PUBSUB_NS}#owner'><{op} node='{TUNE}'/></pubsub>", to=ALICE)
            assert_error(answer, "forbidden", what=f"a contact's {op} of alice's node")
        assert [tune_title(i) for i in items_of(await get_items(alice, TUNE))] == ["Hers"]

    xmpp.run(scenario())


def test_no_events_to_a_blocked_contact(hush, xmpp):
    """XEP-0163 §4.3.3: a PEP service MUST NOT send notifications to a subscriber the owner has blocked (XEP-0191):
    alice blocks bob, publishes; carol gets the event, bob does not."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob", "carol")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[TUNE])
        carol = await online(xmpp, server, "carol", "desk", notify=[TUNE])
        answer = await alice.iq("set", f"<block xmlns='urn:xmpp:blocking'><item jid='bob@{HOST}'/></block>")
        assert answer["type"] == "result", str(answer)

        await publish(alice, TUNE, tune("Not for bob"))
        await carol.expect_stanza(is_event(TUNE, sender=ALICE), "the tune event at carol")
        await assert_none_before(bob, is_event(TUNE), chat_marker(carol, bob, "after the tune"),
                                 "a tune event although alice blocked bob")

    xmpp.run(scenario())


def test_cancelled_presence_subscription_loses_access(hush, xmpp):
    """XEP-0163 §7.1: access to presence nodes is recalculated when a presence subscription changes. alice cancels
    carol's subscription (RFC 6121 §3.2): carol gets no more events and cannot read the node."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob", "carol")
        alice = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob", "desk", notify=[TUNE])
        carol = await online(xmpp, server, "carol", "desk", notify=[TUNE])
        alice.xmpp.send_presence(pto=f"carol@{HOST}", ptype="unsubscribed")
        await carol.expect_stanza(lambda st: st.xml.get("type") == "unsubscribed", "alice's cancellation")

        await publish(alice, TUNE, tune("Not for carol"))
        await bob.expect_stanza(is_event(TUNE, sender=ALICE), "the tune event at bob")
        await assert_none_before(carol, is_event(TUNE), chat_marker(bob, carol, "after the tune"),
                                 "a tune event after alice cancelled carol's presence subscription")
        refused = await get_items(carol, TUNE, to=ALICE)
        assert refused["type"] == "error" and not leaks(refused, TUNE, "tune"), str(refused)

    xmpp.run(scenario())


def test_deleted_account_takes_its_pep_nodes_along(hush, xmpp, storage_backend):
    """An account deleted (hushctl deluser) and made again under the same name starts with no PEP nodes: a
    stranger finds no device list of the old one's, the new owner no bookmarks."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice", "phone")
        await publish(alice, DEVICELIST, f"<list xmlns='{AXOLOTL}'><device id='42'/></list>", "current",
                      options={"pubsub#access_model": "open"})
        await publish(alice, BOOKMARKS, conference("Old", "A"), ROOM, options=BOOKMARK_OPTIONS)
        await alice.disconnect()
        await asyncio.to_thread(server.hushctl, "deluser", ALICE)
        await asyncio.to_thread(server.adduser, ALICE, "alice-secret-1")

        carol = await online(xmpp, server, "carol", "laptop")
        stale = await get_items(carol, DEVICELIST, to=ALICE)
        assert stale["type"] == "error" and not leaks(stale, AXOLOTL, "list"), f"the old device list: {stale}"
        alice = await online(xmpp, server, "alice", "new")
        stale = await get_items(alice, BOOKMARKS)
        assert not leaks(stale, BOOKMARKS, "conference"), f"the old account's bookmarks: {stale}"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# XEP-0402 §5.3: XEP-0048 bookmarks in XEP-0049 private XML are the urn:xmpp:bookmarks:1 node
# ---------------------------------------------------------------------------------------------------------------

def test_legacy_private_xml_bookmarks_are_the_bookmarks2_node(hush, xmpp, storage_backend):
    """An old client stores its bookmarks in private XML; a Bookmarks 2 client (bookmarks+notify) is told at once
    and reads them from the node; what the new client then publishes, the old one reads back; a room dropped from the
    old client's list is retracted. The account advertises urn:xmpp:bookmarks:1#compat."""
    server = start(hush, storage_backend)
    private = "jabber:iq:private"

    async def scenario():
        old = await online(xmpp, server, "alice", "old")
        new = await online(xmpp, server, "alice", "new", notify=[BOOKMARKS])
        _, features = await disco_info(old, ALICE)
        assert "urn:xmpp:bookmarks:1#compat" in features

        stored = await old.iq("set", f"<query xmlns='{private}'><storage xmlns='storage:bookmarks'>"
                                     "<conference jid='council@conference.underhill.org' name='Council of Oberon' "
                                     "autojoin='true'><nick>Puck</nick></conference></storage></query>")
        assert stored["type"] == "result", str(stored)
        st = await new.expect_stanza(is_event(BOOKMARKS, sender=ALICE, item_id="council@conference.underhill.org"),
                                     "the bookmark stored by the old client, as a Bookmarks 2 event")
        conf = event_items(st)[0].find(q(BOOKMARKS, "conference"))
        assert conf is not None and conf.get("autojoin") == "true" and conf.findtext(q(BOOKMARKS, "nick")) == "Puck"

        await publish(new, BOOKMARKS, conference("The Play&apos;s the Thing", "JC"), ROOM, options=BOOKMARK_OPTIONS)
        got = await old.iq("get", f"<query xmlns='{private}'><storage xmlns='storage:bookmarks'/></query>")
        rooms = {c.get("jid"): c for c in got.xml.iter(q("storage:bookmarks", "conference"))}
        assert set(rooms) == {"council@conference.underhill.org", ROOM}, str(got)
        assert rooms[ROOM].get("name") == "The Play's the Thing" and rooms[ROOM].findtext(
            q("storage:bookmarks", "nick")) == "JC", str(got)

        dropped = await old.iq("set", f"<query xmlns='{private}'><storage xmlns='storage:bookmarks'>"
                                      f"<conference jid='{ROOM}' name='The Play' autojoin='false'/></storage></query>")
        assert dropped["type"] == "result", str(dropped)
        await new.expect_stanza(is_event(BOOKMARKS, sender=ALICE, retract="council@conference.underhill.org"),
                                "the dropped room's retraction")
        assert ids_of(items_of(await get_items(new, BOOKMARKS))) == [ROOM]

    xmpp.run(scenario())


def test_a_vcard_photo_becomes_the_pep_avatar(hush, xmpp):
    """XEP-0398: an old client stores a vCard with a photo; the account's contacts that want avatar metadata get the
    XEP-0084 event, and the image is in the data node under its SHA-1 — readable by anyone, as the vCard was."""
    server = start(hush)

    async def scenario():
        await make_contacts(xmpp, server, "alice", "bob")
        old = await online(xmpp, server, "alice", "old")
        bob = await online(xmpp, server, "bob", "desk", notify=[AVATAR_META])
        carol = await online(xmpp, server, "carol", "laptop")
        image = bytes(range(200)) * 3
        sha = hashlib.sha1(image).hexdigest()
        encoded = base64.b64encode(image).decode()
        folded = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))  # as vCards fold BINVAL
        stored = await old.iq("set", "<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE>"
                                     f"<BINVAL>{folded}</BINVAL></PHOTO></vCard>")
        assert stored["type"] == "result", str(stored)
        st = await bob.expect_stanza(is_event(AVATAR_META, sender=ALICE, item_id=sha), "the avatar from the vCard")
        info = event_items(st)[0].find(f"{q(AVATAR_META, 'metadata')}/{q(AVATAR_META, 'info')}")
        assert info is not None and info.get("type") == "image/png" and info.get("bytes") == str(len(image)), str(st)
        data = items_of(await get_items(carol, AVATAR_DATA, to=ALICE, ids=[sha]))
        assert ids_of(data) == [sha], data
        assert base64.b64decode(data[0].findtext(q(AVATAR_DATA, "data"))) == image

    xmpp.run(scenario())
